"""Crash the hub's dispatch path at its worst moments; fresh processes lose nothing.

Each round runs a dispatcher and two durable consumers on one database (and one Redis
namespace), then cancels them abruptly: once after rows were published but before they
were marked dispatched, once with a consumer in the middle of its handler. A last round
of fresh instances must bring every event to every consumer; duplicates are allowed
(consumers dedupe by event id), losses are not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence

import sqlalchemy as sa

from omnihub.hub.bus import Bus, Envelope, Listener
from omnihub.hub.bus.base import Handler
from omnihub.hub.consumers import ConsumerRunner, RetryPolicy
from omnihub.hub.dispatcher import OutboxDispatcher
from omnihub.store.db import Database
from omnihub.store.outbox import outbox_depth
from omnihub.store.tables import jobs

from .conftest import BusCluster, add_outbox_events, eventually

POLICY = RetryPolicy(max_attempts=50, base_seconds=0.02, max_seconds=0.2)


class DiesAfterPublishing(Bus):
    """Passes batches to the real bus; from the Nth on, the process "dies" before marking."""

    def __init__(self, bus: Bus, *, dies_at_batch: int) -> None:
        self.bus = bus
        self.dies_at_batch = dies_at_batch
        self.batches = 0
        self.dead = asyncio.Event()

    async def submit(self, envelopes: Sequence[Envelope]) -> Awaitable[None]:
        settled = await self.bus.submit(envelopes)
        self.batches += 1
        if self.batches < self.dies_at_batch:
            return settled
        self.dead.set()
        return asyncio.get_running_loop().create_future()  # never settles: never marked

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        await self.bus.publish(envelopes)

    async def close(self) -> None:
        await self.bus.close()

    async def ping(self) -> None:
        await self.bus.ping()

    def subscribe(self, topic: str, group: str, handler: Handler, *, lanes: int = 1) -> None:
        self.bus.subscribe(topic, group, handler, lanes=lanes)

    def listen(self, topic: str) -> Listener:
        return self.bus.listen(topic)


class Process:
    """One hub process's dispatch path: bus, dispatcher and two durable consumers."""

    def __init__(self, db: Database, bus: Bus, seen: dict[str, list[str]],
                 *, dispatch_bus: Bus | None = None) -> None:
        self.bus = bus
        self.seen = seen
        self.runner = ConsumerRunner(db, bus, POLICY, retry_interval=0.05, lease_seconds=1)
        self.dispatcher = OutboxDispatcher(db, dispatch_bus or bus, batch=10,
                                           poll_interval=0.05, lease_ttl=2)
        self.hang_on: str | None = None  # an event id whose webhook handler never returns
        self.hanging = asyncio.Event()
        self.flaky_audit: set[str] = set()  # event ids whose audit fails once

    async def webhook(self, envelope: Envelope) -> None:
        if envelope.id == self.hang_on:
            self.hanging.set()
            await asyncio.Event().wait()
        self.seen["webhooks"].append(envelope.id)

    async def audit(self, envelope: Envelope) -> None:
        if envelope.id in self.flaky_audit:
            self.flaky_audit.discard(envelope.id)
            raise RuntimeError("audit store hiccup")
        self.seen["audit"].append(envelope.id)

    async def start(self) -> None:
        self.runner.register("webhooks", "event", self.webhook)
        self.runner.register("audit", "event", self.audit)
        await self.bus.start()
        await self.runner.start()
        await self.dispatcher.start()

    async def crash(self) -> None:
        """Cancel everything mid-flight: nothing is drained, acknowledged or marked."""
        await self.dispatcher.stop()
        await self.runner.stop()
        await self.bus.close()


async def test_restarts_mid_dispatch_lose_no_event(db: Database, cluster: BusCluster) -> None:
    ids = await add_outbox_events(db, 150, keys=["c1", "c2", "c3", "c4", None],
                                  per_transaction=10)
    seen: dict[str, list[str]] = {"webhooks": [], "audit": []}

    # Round 1: the third batch reaches the bus, then the process dies before marking it.
    bus = cluster.fresh()
    dying_bus = DiesAfterPublishing(bus, dies_at_batch=3)
    first = Process(db, bus, seen, dispatch_bus=dying_bus)
    first.flaky_audit = set(ids[5:15])
    await first.start()
    await asyncio.wait_for(dying_bus.dead.wait(), 10)
    await asyncio.sleep(0.1)
    await first.crash()
    assert (await outbox_depth(db)).count > 0, "the crash left rows undispatched"

    # Round 2: a webhook handler is mid-way through an event when the process dies.
    second = Process(db, cluster.fresh(), seen)
    second.hang_on = ids[60]
    handled_before = seen["webhooks"].count(ids[60])
    second.flaky_audit = set(ids[55:70])
    await second.start()
    await asyncio.wait_for(second.hanging.wait(), 15)
    await asyncio.sleep(0.1)
    await second.crash()
    assert seen["webhooks"].count(ids[60]) == handled_before  # died mid-handler

    # Round 3: fresh instances on the same database (and the same Redis streams).
    third = Process(db, cluster.fresh(), seen)
    await third.start()
    try:
        async def settled() -> bool:
            async with db.read() as conn:
                retrying = await conn.scalar(sa.select(sa.func.count()).select_from(jobs))
            return ((await outbox_depth(db)).count == 0 and retrying == 0
                    and all(set(got) >= set(ids) for got in seen.values()))

        await eventually(settled, timeout=30, message="every event reached every consumer")
    finally:
        await third.crash()

    for consumer, got in seen.items():
        assert set(got) == set(ids), f"{consumer} lost events"
        assert len(got) >= len(ids)
    assert set(seen["webhooks"]) | set(seen["audit"]) <= set(ids)  # duplicates only as ids
