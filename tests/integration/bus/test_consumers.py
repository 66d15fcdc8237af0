"""Durable consumers on every backend: backoff, dead letters, replay, per-key order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from omnihub.connectors.errors import PermanentSendError, TemporarySendError
from omnihub.hub.bus import Envelope, MemoryBus
from omnihub.hub.consumers import ConsumerRunner, RetryPolicy
from omnihub.store import outbox as ob
from omnihub.store.db import Database
from omnihub.store.tables import jobs

from .conftest import eventually

T0 = datetime(2025, 6, 1, 9, 0, 0, tzinfo=UTC)


class Clock:
    """Test time: moves only when told to."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def envelope(seq: int, key: str | None = "conv-a") -> Envelope:
    return Envelope(seq=seq, id=f"EV{seq:024d}", topic="delivery", type="message.deliver",
                    key=key, payload={"message_id": f"m{seq}"}, created_at=T0)


class Sender:
    """A handler that fails while told to, and records what it delivered."""

    def __init__(self) -> None:
        self.failing: dict[str, Exception] = {}  # event id -> what to raise
        self.fail_times: dict[str, int] = {}
        self.calls: list[str] = []
        self.delivered: list[str] = []

    async def __call__(self, env: Envelope) -> None:
        self.calls.append(env.id)
        if env.id in self.failing and self.fail_times.get(env.id, 1) > 0:
            self.fail_times[env.id] = self.fail_times.get(env.id, 1) - 1
            raise self.failing[env.id]
        self.delivered.append(env.id)

    def fail(self, env: Envelope, exc: Exception | None = None, *, times: int = 10**6) -> None:
        self.failing[env.id] = exc or TemporarySendError("provider timed out")
        self.fail_times[env.id] = times


async def all_jobs(db: Database) -> list[ob.Job]:
    async with db.read() as conn:
        ids = (await conn.execute(sa.select(jobs.c.id).order_by(jobs.c.id))).scalars().all()
    return [job for job_id in ids if (job := await ob.get_job(db, job_id)) is not None]


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    memory = MemoryBus()
    await memory.start()
    yield memory
    await memory.close()


def runner_for(db: Database, bus: MemoryBus, sender: Sender, clock: Clock,
               policy: RetryPolicy | None = None, *, ordered: bool = True) -> ConsumerRunner:
    runner = ConsumerRunner(db, bus, policy or RetryPolicy(max_attempts=5, base_seconds=10),
                            clock=clock, retry_interval=None, rng=lambda: 1.0)
    runner.register("sender", "delivery", sender, ordered=ordered)
    return runner


async def test_a_failing_handler_is_retried_with_backoff_until_it_succeeds(
        db: Database, bus: MemoryBus) -> None:
    clock, sender = Clock(), Sender()
    runner = runner_for(db, bus, sender, clock)
    first = envelope(1)
    sender.fail(first, times=2)
    await bus.publish([first])  # returns once the failure is durably recorded
    [job] = await all_jobs(db)
    assert (job.attempts, job.status) == (1, "retry")
    assert job.next_attempt_at == T0 + timedelta(seconds=10)

    clock.advance(9)
    assert await runner.run_due_jobs() == 0  # not due yet
    clock.advance(1)
    assert await runner.run_due_jobs() == 1  # second failure: backoff doubles
    [job] = await all_jobs(db)
    assert (job.attempts, job.next_attempt_at) == (2, clock.now + timedelta(seconds=20))

    clock.advance(20)
    assert await runner.run_due_jobs() == 1
    assert sender.delivered == [first.id]
    assert sender.calls == [first.id] * 3
    assert await ob.get_job(db, job.id) is None


async def test_exhausted_jobs_go_dead_and_replay_revives_them(db: Database,
                                                              bus: MemoryBus) -> None:
    clock, sender = Clock(), Sender()
    runner = runner_for(db, bus, sender, clock, RetryPolicy(max_attempts=3, base_seconds=1))
    doomed = envelope(1)
    sender.fail(doomed)
    await bus.publish([doomed])
    for _ in range(2):
        clock.advance(3600)
        assert await runner.run_due_jobs() == 1
    clock.advance(3600)
    assert await runner.run_due_jobs() == 0  # dead: nothing more to run
    [dead] = await ob.list_dead(db)
    assert (dead.event_id, dead.attempts, dead.consumer) == (doomed.id, 3, "sender")
    assert dead.last_error == "TemporarySendError: provider timed out"
    assert await ob.dead_count(db) == 1

    sender.failing.clear()  # the operator fixed the cause
    await ob.replay_dead(db, dead.id, now=clock.now)
    assert await runner.run_due_jobs() == 1
    assert sender.delivered == [doomed.id]
    assert await ob.dead_count(db) == 0 and await ob.get_job(db, dead.id) is None


async def test_permanent_errors_die_at_once_and_retry_after_sets_the_delay(
        db: Database, bus: MemoryBus) -> None:
    clock, sender = Clock(), Sender()
    runner_for(db, bus, sender, clock)
    gone, throttled = envelope(1, key=None), envelope(2, key=None)
    sender.fail(gone, PermanentSendError("recipient blocked the bot"))
    sender.fail(throttled, TemporarySendError("429", retry_after=42))
    await bus.publish([gone, throttled])
    [dead] = await ob.list_dead(db)
    assert (dead.event_id, dead.attempts) == (gone.id, 1)
    assert [job.next_attempt_at for job in await all_jobs(db) if job.status == "retry"] == [
        T0 + timedelta(seconds=42)]


async def test_a_key_in_retry_holds_back_its_later_events_while_other_keys_flow(
        db: Database, bus: MemoryBus) -> None:
    clock, sender = Clock(), Sender()
    runner = runner_for(db, bus, sender, clock)
    a1, b1, a2, b2, a3 = (envelope(1, "a"), envelope(2, "b"), envelope(3, "a"),
                          envelope(4, "b"), envelope(5, "a"))
    sender.fail(a1, times=1)
    sender.fail(a2, times=1)  # fails once more when its turn comes in the retry loop
    await bus.publish([a1, b1, a2, b2, a3])
    assert sender.delivered == [b1.id, b2.id]  # a2 and a3 were parked behind a1
    assert sender.calls == [a1.id, b1.id, b2.id]

    clock.advance(10)
    assert await runner.run_due_jobs() == 2  # a1 succeeds, a2 fails: a3 must wait
    assert sender.delivered == [b1.id, b2.id, a1.id]
    a4 = envelope(6, "a")
    await bus.publish([a4])  # still behind a2
    assert a4.id not in sender.calls

    clock.advance(20)
    assert await runner.run_due_jobs() == 3
    assert sender.delivered == [b1.id, b2.id, a1.id, a2.id, a3.id, a4.id]
    assert not await ob.has_pending_for_key(db, "sender", "a")


async def test_unordered_consumers_do_not_park_later_events(db: Database,
                                                            bus: MemoryBus) -> None:
    clock, sender = Clock(), Sender()
    runner_for(db, bus, sender, clock, ordered=False)
    a1, a2 = envelope(1, "a"), envelope(2, "a")
    sender.fail(a1)
    await bus.publish([a1, a2])
    assert sender.delivered == [a2.id]


async def test_a_restarted_process_takes_over_the_retries_its_predecessor_claimed(
        db: Database, bus: MemoryBus) -> None:
    """Killed mid-retry: on an in-process bus nobody else can hold the claim, so the next
    process runs the job at once rather than after the claim's lease (60 s)."""
    clock, sender = Clock(), Sender()
    runner_for(db, bus, sender, clock)
    first = envelope(1)
    sender.fail(first, times=1)
    await bus.publish([first])
    clock.advance(10)
    assert len(await ob.claim_due_jobs(db, now=clock.now, lease_seconds=60)) == 1  # then dies
    fresh = MemoryBus()
    await fresh.start()
    try:
        restarted = runner_for(db, fresh, sender, clock)
        assert await restarted.run_due_jobs() == 0  # still claimed
        await restarted.start()
        assert await restarted.run_due_jobs() == 1
        assert sender.delivered == [first.id]
    finally:
        await fresh.close()


async def test_the_retry_loop_runs_on_its_own(db: Database, bus: MemoryBus) -> None:
    sender = Sender()
    runner = ConsumerRunner(db, bus, RetryPolicy(base_seconds=0.05), retry_interval=0.05)
    runner.register("sender", "delivery", sender)
    await runner.start()
    try:
        flaky = envelope(1)
        sender.fail(flaky, times=2)
        await bus.publish([flaky])

        await eventually(lambda: sender.delivered == [flaky.id], message="retried to success")
    finally:
        await runner.stop()


def test_consumer_names_are_checked(tmp_path: object) -> None:
    runner = ConsumerRunner(None, MemoryBus())  # type: ignore[arg-type]
    runner.register("webhooks", "event", Sender())
    with pytest.raises(ValueError, match="already registered"):
        runner.register("webhooks", "event", Sender())
    with pytest.raises(ValueError, match="1 to 64"):
        runner.register("x" * 65, "event", Sender())
