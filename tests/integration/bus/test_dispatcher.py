"""The outbox dispatcher on every backend and both buses: order, wake-up, settle, lease."""

from __future__ import annotations

import asyncio

import pytest

from omnihub.hub.bus import Envelope, MemoryBus
from omnihub.hub.dispatcher import OutboxDispatcher
from omnihub.store import leases
from omnihub.store.db import Database
from omnihub.store.outbox import fetch_undispatched, outbox_depth

from .conftest import BusCluster, add_outbox_events, eventually


async def test_dispatcher_moves_committed_rows_in_seq_order(db: Database,
                                                            cluster: BusCluster) -> None:
    bus = cluster.node()
    seen: list[Envelope] = []

    async def record(envelope: Envelope) -> None:
        seen.append(envelope)

    bus.subscribe("event", "audit", record)
    await bus.start()
    ids = await add_outbox_events(db, 600, keys=["c1", "c2", "c3", None])
    dispatcher = OutboxDispatcher(db, bus, batch=100, poll_interval=0.05)
    await dispatcher.start()
    try:
        await eventually(lambda: len(seen) >= 600, timeout=30, message="600 rows dispatched")
        more = await add_outbox_events(db, 40)
        dispatcher.notify()
        await eventually(lambda: len(seen) >= 640, message="rows added later dispatched")

        async def all_marked() -> bool:
            return (await outbox_depth(db)).count == 0

        await eventually(all_marked, message="every row marked dispatched")
    finally:
        await dispatcher.stop()
    assert [env.id for env in seen] == ids + more
    assert [env.seq for env in seen] == sorted(env.seq for env in seen)
    assert seen[0].payload["id"] == ids[0] and seen[0].key == "c1"


async def test_notify_wakes_the_dispatcher_before_the_poll_interval(db: Database) -> None:
    bus = MemoryBus()
    seen: list[str] = []

    async def record(envelope: Envelope) -> None:
        seen.append(envelope.id)

    bus.subscribe("event", "audit", record)
    await bus.start()
    dispatcher = OutboxDispatcher(db, bus, poll_interval=120)
    await dispatcher.start()
    await asyncio.sleep(0.2)  # first pass done; now sleeping for two minutes
    ids = await add_outbox_events(db, 3)
    dispatcher.notify()
    await eventually(lambda: seen == ids, timeout=5, message="woken by notify")
    await dispatcher.stop()
    await bus.close()


async def test_in_process_rows_stay_undispatched_until_consumers_finish(db: Database) -> None:
    bus = MemoryBus()
    gate = asyncio.Event()
    handled: list[str] = []

    async def slow(envelope: Envelope) -> None:
        await gate.wait()
        handled.append(envelope.id)

    bus.subscribe("event", "slow", slow)
    await bus.start()
    ids = await add_outbox_events(db, 30)
    dispatcher = OutboxDispatcher(db, bus, batch=10, poll_interval=0.05)
    await dispatcher.start()
    await asyncio.sleep(0.3)
    assert (await outbox_depth(db)).count == 30  # submitted, but nobody has handled them
    gate.set()

    async def drained() -> bool:
        return not await fetch_undispatched(db, 10)

    await eventually(drained, message="rows marked once handled")
    assert handled == ids
    assert dispatcher.dispatched == 30
    await dispatcher.stop()
    await bus.close()


async def _lead_and_follow(db: Database, bus: MemoryBus, *, lease_ttl: float
                           ) -> tuple[OutboxDispatcher, OutboxDispatcher]:
    """Two dispatchers on one lease: "first" leads, "second" started after it."""
    first = OutboxDispatcher(db, bus, poll_interval=0.05, lease_ttl=lease_ttl, holder="first")
    second = OutboxDispatcher(db, bus, poll_interval=0.05, lease_ttl=lease_ttl,
                              holder="second")
    await first.start()
    await asyncio.wait_for(first.leading.wait(), 5)
    await second.start()
    return first, second


async def test_only_one_dispatcher_leads_and_another_takes_over(db: Database) -> None:
    bus = MemoryBus()
    seen: list[str] = []

    async def record(envelope: Envelope) -> None:
        seen.append(envelope.id)

    bus.subscribe("event", "audit", record)
    await bus.start()
    first, second = await _lead_and_follow(db, bus, lease_ttl=3)
    try:
        ids = await add_outbox_events(db, 20)
        first.notify()
        await eventually(lambda: first.dispatched == 20, message="leader dispatched")
        assert not second.leading.is_set()
        assert second.dispatched == 0

        await first.stop()  # releases the lease
        await asyncio.wait_for(second.leading.wait(), 5)
        more = await add_outbox_events(db, 5)
        second.notify()
        await eventually(lambda: second.dispatched == 5, message="successor dispatched")
        assert seen == ids + more
    finally:
        await first.stop()
        await second.stop()
        await bus.close()


async def test_a_follower_notified_on_every_commit_does_not_hammer_the_lease(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """notify() on a process that does not lead nudges the leader; it must not make the
    follower try the lease again at once (it used to, and never stopped: a busy loop of
    lease writes until the next lease interval)."""
    tries: dict[str, int] = {}
    take = leases.acquire

    async def counted(database: Database, name: str, holder: str, ttl: float) -> int | None:
        tries[holder] = tries.get(holder, 0) + 1
        return await take(database, name, holder, ttl)

    monkeypatch.setattr(leases, "acquire", counted)
    bus = MemoryBus()
    await bus.start()
    leader, follower = await _lead_and_follow(db, bus, lease_ttl=30)
    try:
        await eventually(lambda: tries.get("second", 0) >= 1, message="the follower tried")
        for _ in range(20):
            follower.notify()
            await asyncio.sleep(0.02)
        assert tries["second"] == 1
        assert not follower.leading.is_set()
    finally:
        await follower.stop()
        await leader.stop()
        await bus.close()


async def test_a_slow_conversation_does_not_hold_back_the_others(db: Database) -> None:
    """One consumer stuck on one conversation (a reply paced at a chat's one message per
    second) must not stop the dispatcher from moving everybody else's rows: neither its
    rescans nor its in-flight window wait for that conversation to settle."""
    bus = MemoryBus()
    gate = asyncio.Event()
    fast: list[str] = []

    async def slow_on_hot(envelope: Envelope) -> None:
        if envelope.key == "hot":
            await gate.wait()

    async def record(envelope: Envelope) -> None:
        fast.append(envelope.id)

    bus.subscribe("event", "sender", slow_on_hot, lanes=4)
    bus.subscribe("event", "audit", record)
    await bus.start()
    dispatcher = OutboxDispatcher(db, bus, batch=5, poll_interval=0.02, rescan_interval=0.05)
    await dispatcher.start()
    try:
        first = await add_outbox_events(db, 3, keys=["hot"])
        dispatcher.notify()
        await eventually(lambda: len(fast) == 3, message="the hot rows submitted")
        later: list[str] = []
        for round_ in range(12):  # more batches than the old in-flight window, across rescans
            later += await add_outbox_events(db, 5, keys=[f"c{round_}"])
            dispatcher.notify()
            await asyncio.sleep(0.03)
        await eventually(lambda: len(fast) == 3 + len(later), timeout=10,
                         message="the other conversations' rows, while 'hot' is stuck")
        assert fast == first + later  # each once, in order
        assert (await outbox_depth(db)).count >= 3  # the hot rows are not marked yet
        gate.set()

        async def all_marked() -> bool:
            return (await outbox_depth(db)).count == 0

        await eventually(all_marked, message="every row marked once the hot ones settle")
        assert fast == first + later  # a rescan never re-sent what was in flight
    finally:
        gate.set()
        await dispatcher.stop()
        await bus.close()
