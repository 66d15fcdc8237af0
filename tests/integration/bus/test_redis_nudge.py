"""Rows committed outside the leading process reach the bus at once, not at its next poll:
the committing process nudges the leader over Redis (Bus.nudge / on_nudge)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from omnihub.hub.bus import Bus, Envelope
from omnihub.hub.bus.redis_streams import RedisStreamsBus
from omnihub.hub.dispatcher import OutboxDispatcher
from omnihub.store.db import Database
from omnihub.store.migrate import upgrade

from .conftest import BusCluster, add_outbox_events, eventually

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

SLOW_POLL = 60.0  # far beyond the test's patience: only a nudge can wake the leader in time


@pytest.fixture
async def pg(make_store_url) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    database = Database(await make_store_url("postgresql"))
    await upgrade(database)
    yield database
    await database.dispose()


async def _subscribers(cluster: BusCluster, bus: Bus) -> bool:
    """True once some client listens on the bus's nudge channel."""
    assert isinstance(bus, RedisStreamsBus)
    client = redis.Redis.from_url(cluster.redis_url)
    try:
        counts = await client.pubsub_numsub(bus.nudge_channel)
    finally:
        await client.aclose()
    return bool(counts and counts[0][1] >= 1)


async def test_a_nudge_reaches_every_process(redis_cluster: BusCluster) -> None:
    heard: list[int] = []
    listener, sender = redis_cluster.fresh(), redis_cluster.fresh()
    listener.on_nudge(lambda: heard.append(1))
    await listener.start()
    await sender.start()
    await asyncio.sleep(0.3)  # the subscription is made in the background
    for _ in range(5):
        sender.nudge()
    await eventually(lambda: len(heard) >= 1, message="the listener heard the nudge")
    assert len(heard) <= 5  # coalesced, never multiplied


async def test_the_leader_sends_rows_a_follower_committed(pg: Database,
                                                          redis_cluster: BusCluster) -> None:
    got: list[str] = []

    async def handler(envelope: Envelope) -> None:
        got.append(envelope.id)

    leader_bus, follower_bus = redis_cluster.fresh(), redis_cluster.fresh()
    leader_bus.subscribe("event", "audit", handler)
    leader = OutboxDispatcher(pg, leader_bus, poll_interval=SLOW_POLL, rescan_interval=SLOW_POLL,
                              lease_ttl=SLOW_POLL, holder="leader")
    follower = OutboxDispatcher(pg, follower_bus, poll_interval=SLOW_POLL,
                                rescan_interval=SLOW_POLL, lease_ttl=SLOW_POLL, holder="follower")
    await leader_bus.start()
    await follower_bus.start()
    await leader.start()
    await asyncio.wait_for(leader.leading.wait(), 10)
    await follower.start()
    try:
        # The leader's subscription is made in the background: a nudge before it is lost
        # (and would be found only at the next poll, which here is beyond the test).
        await eventually(lambda: _subscribers(redis_cluster, leader_bus),
                         message="the leader listens for nudges")
        await asyncio.sleep(0.5)  # the leader has scanned the empty outbox and sleeps
        ids = await add_outbox_events(pg, 5)
        follower.notify()  # what the follower's store does after its commit
        await eventually(lambda: set(got) >= set(ids), timeout=15,
                         message="the leader dispatched the follower's rows")
        assert not follower.leading.is_set()
    finally:
        await follower.stop()
        await leader.stop()
