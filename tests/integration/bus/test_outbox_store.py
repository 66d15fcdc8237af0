"""The outbox and jobs tables on every backend: reading, marking, retries, dead letters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from omnihub.hub.bus import Envelope
from omnihub.store import outbox as ob
from omnihub.store.db import Database

from .conftest import add_outbox_events

T0 = datetime(2025, 6, 1, 9, 0, 0, tzinfo=UTC)
POLICY = ob.RetryPolicy(max_attempts=4, base_seconds=10.0, max_seconds=60.0,
                        dead_after_seconds=3600.0)


def env(seq: int, key: str | None = "conv-a") -> Envelope:
    return Envelope(seq=seq, id=f"EV{seq:024d}", topic="delivery", type="message.deliver",
                    key=key, payload={"message_id": f"m{seq}"}, created_at=T0)


async def test_undispatched_rows_come_in_seq_order_and_leave_once_marked(db: Database) -> None:
    ids = await add_outbox_events(db, 30, keys=["k1", "k2", None])
    rows = await ob.fetch_undispatched(db, 100)
    assert [row.id for row in rows] == ids
    assert [row.seq for row in rows] == sorted(row.seq for row in rows)
    assert rows[0].payload["id"] == ids[0] and rows[0].created_at.tzinfo is not None
    assert [row.id for row in await ob.fetch_undispatched(db, 5, after=rows[9].seq)] == ids[10:15]

    await ob.mark_dispatched(db, [row.seq for row in rows[:20]])
    assert [row.id for row in await ob.fetch_undispatched(db, 100)] == ids[20:]
    depth = await ob.outbox_depth(db)
    assert depth.count == 10 and depth.oldest_age_seconds is not None
    assert 0 <= depth.oldest_age_seconds < 60


async def test_empty_outbox_has_no_age(db: Database) -> None:
    assert await ob.outbox_depth(db) == ob.OutboxDepth(0, None)


async def test_event_log_replays_after_a_seq_whatever_was_dispatched(db: Database) -> None:
    ids = await add_outbox_events(db, 10)
    rows = await ob.fetch_undispatched(db, 100)
    await ob.mark_dispatched(db, [row.seq for row in rows[:5]])
    replay = await ob.events_after(db, rows[2].seq, limit=4)
    assert [row.id for row in replay] == ids[3:7]
    assert all(row.topic == "event" for row in replay)


async def test_first_failure_schedules_a_retry_with_backoff(db: Database) -> None:
    job = await ob.record_failure(db, consumer="c", envelope=env(1), error="boom",
                                  policy=POLICY, now=T0, rng=lambda: 0.0)
    assert (job.status, job.attempts, job.last_error) == ("retry", 1, "boom")
    assert (await ob.retrying_count(db), await ob.dead_count(db)) == (1, 0)
    assert job.next_attempt_at == T0 + timedelta(seconds=5)
    assert job.envelope == env(1)
    again = await ob.record_failure(db, consumer="c", envelope=env(1), error="boom 2",
                                    policy=POLICY, now=T0 + timedelta(seconds=5),
                                    rng=lambda: 1.0)
    assert (again.id, again.attempts, again.last_error) == (job.id, 2, "boom 2")
    assert again.next_attempt_at == T0 + timedelta(seconds=25)


async def test_jobs_die_after_max_attempts(db: Database) -> None:
    for attempt in range(1, 5):
        job = await ob.record_failure(db, consumer="c", envelope=env(1), error=f"#{attempt}",
                                      policy=POLICY, now=T0)
    assert (job.status, job.attempts) == ("dead", 4)
    assert await ob.dead_count(db) == 1
    assert await ob.retrying_count(db) == 0
    assert [dead.id for dead in await ob.list_dead(db)] == [job.id]


async def test_jobs_die_when_failing_for_longer_than_dead_after(db: Database) -> None:
    await ob.record_failure(db, consumer="c", envelope=env(1), error="x", policy=POLICY, now=T0)
    late = await ob.record_failure(db, consumer="c", envelope=env(1), error="x", policy=POLICY,
                                   now=T0 + timedelta(seconds=3600))
    assert (late.status, late.attempts) == ("dead", 2)


async def test_permanent_failures_die_at_once_and_retry_after_is_honoured(db: Database) -> None:
    dead = await ob.record_failure(db, consumer="c", envelope=env(1), error="410 gone",
                                   policy=POLICY, now=T0, permanent=True)
    assert (dead.status, dead.attempts) == ("dead", 1)
    later = await ob.record_failure(db, consumer="c", envelope=env(2), error="429",
                                    policy=POLICY, now=T0, retry_after=120)
    assert later.next_attempt_at == T0 + timedelta(seconds=120)


async def test_only_due_unlocked_jobs_are_claimed_and_only_once(db: Database) -> None:
    await ob.record_failure(db, consumer="c", envelope=env(1, key=None), error="x",
                            policy=POLICY, now=T0, rng=lambda: 0.0)
    assert await ob.claim_due_jobs(db, now=T0 + timedelta(seconds=4)) == []
    due = T0 + timedelta(seconds=5)
    claimed = await ob.claim_due_jobs(db, now=due, lease_seconds=30)
    assert [job.event_id for job in claimed] == [env(1).id]
    assert claimed[0].locked_until == due + timedelta(seconds=30)
    assert await ob.claim_due_jobs(db, now=due + timedelta(seconds=29)) == []
    reclaimed = await ob.claim_due_jobs(db, now=due + timedelta(seconds=31))
    assert [job.id for job in reclaimed] == [claimed[0].id]  # the lease ran out


async def test_concurrent_claimers_never_share_a_job(db: Database, store_url: str) -> None:
    for seq in range(1, 41):
        await ob.record_failure(db, consumer="c", envelope=env(seq, key=None), error="x",
                                policy=POLICY, now=T0, rng=lambda: 0.0)
    others = [Database(store_url) for _ in range(3)]  # three more "processes"
    try:
        batches = await asyncio.gather(*(
            ob.claim_due_jobs(each, now=T0 + timedelta(minutes=1), limit=15)
            for each in [db, *others]))
    finally:
        for each in others:
            await each.dispose()
    claimed = [job.id for batch in batches for job in batch]
    assert len(claimed) == len(set(claimed)) == 40


async def test_a_key_is_claimed_only_from_its_head(db: Database) -> None:
    head = await ob.record_failure(db, consumer="c", envelope=env(1), error="x", policy=POLICY,
                                   now=T0, rng=lambda: 0.0)  # due at T0+5s
    for seq in (2, 3):
        assert await ob.enqueue_behind(db, consumer="c", envelope=env(seq), now=T0)
    assert not await ob.enqueue_behind(db, consumer="c", envelope=env(3), now=T0)
    await ob.record_failure(db, consumer="c", envelope=env(9, key="conv-b"), error="x",
                            policy=POLICY, now=T0, rng=lambda: 0.0)
    await ob.record_failure(db, consumer="other", envelope=env(4), error="x",
                            policy=POLICY, now=T0, rng=lambda: 0.0)
    assert await ob.has_pending_for_key(db, "c", "conv-a")
    assert not await ob.has_pending_for_key(db, "c", "conv-z")

    # Before the head is due, its queued followers must wait too.
    assert await ob.claim_due_jobs(db, now=T0 + timedelta(seconds=1)) == []
    claimed = await ob.claim_due_jobs(db, now=T0 + timedelta(seconds=6), consumers=["c"])
    assert [job.envelope.seq for job in claimed] == [1, 2, 3, 9]
    assert claimed[0].id == head.id

    await ob.release_jobs(db, [job.id for job in claimed])
    await ob.complete_job(db, head.id)
    assert await ob.get_job(db, head.id) is None
    assert await ob.has_pending_for_key(db, "c", "conv-a")


async def test_a_due_head_is_claimed_however_many_jobs_wait_behind_it(db: Database) -> None:
    """Parked jobs are due at once, their head only after its backoff: with more of them
    than `limit`, the head must still be found (it was not: retries stopped for good)."""
    head = await ob.record_failure(db, consumer="c", envelope=env(1), error="x", policy=POLICY,
                                   now=T0, rng=lambda: 0.0)  # due at T0+5s
    for seq in range(2, 32):
        await ob.enqueue_behind(db, consumer="c", envelope=env(seq), now=T0 + timedelta(seconds=1))
    claimed = await ob.claim_due_jobs(db, now=T0 + timedelta(seconds=6), limit=10)
    assert [job.envelope.seq for job in claimed] == list(range(1, 11))
    assert claimed[0].id == head.id


async def test_a_key_in_backoff_does_not_hold_back_other_keys(db: Database) -> None:
    await ob.record_failure(db, consumer="c", envelope=env(1), error="x", policy=POLICY,
                            now=T0, rng=lambda: 1.0)  # due at T0+10s
    for seq in range(2, 32):
        await ob.enqueue_behind(db, consumer="c", envelope=env(seq), now=T0)
    other = await ob.record_failure(db, consumer="c", envelope=env(40, key="conv-b"),
                                    error="x", policy=POLICY, now=T0, rng=lambda: 0.0)
    claimed = await ob.claim_due_jobs(db, now=T0 + timedelta(seconds=6), limit=10)
    assert [job.id for job in claimed] == [other.id]


async def test_unordered_consumers_are_not_held_back_by_a_key(db: Database) -> None:
    await ob.record_failure(db, consumer="u", envelope=env(1), error="x", policy=POLICY,
                            now=T0, rng=lambda: 1.0)  # due at T0+10s
    await ob.enqueue_behind(db, consumer="u", envelope=env(2), now=T0)
    claimed = await ob.claim_due_jobs(db, now=T0 + timedelta(seconds=1), unordered=["u"])
    assert [job.envelope.seq for job in claimed] == [2]


async def test_replay_revives_only_dead_jobs(db: Database) -> None:
    job = await ob.record_failure(db, consumer="c", envelope=env(1), error="no", policy=POLICY,
                                  now=T0, permanent=True)
    revived = await ob.replay_dead(db, job.id, now=T0 + timedelta(hours=2))
    assert (revived.status, revived.attempts) == ("retry", 0)
    assert revived.next_attempt_at == T0 + timedelta(hours=2)
    assert await ob.dead_count(db) == 0
    with pytest.raises(ob.JobNotDead):
        await ob.replay_dead(db, job.id)
    with pytest.raises(ob.JobNotFound):
        await ob.replay_dead(db, job.id + 1000)
    # A replayed job gets a fresh dead_after window, not an instant death.
    again = await ob.record_failure(db, consumer="c", envelope=env(1), error="no",
                                    policy=POLICY, now=T0 + timedelta(hours=2, seconds=1))
    assert again.status == "retry"
