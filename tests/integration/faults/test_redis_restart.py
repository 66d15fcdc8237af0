"""Redis restarted mid-load (no persistence: its streams and groups are gone).

The hub keeps taking messages in while Redis is down (the store is the truth), says so in
/readyz (200, `degraded`, the bus check down: the hub still acknowledges messages, so
it stays in rotation) and /metrics (`omnihub_bus_up 0`), and once
Redis is back every event of every acknowledged message reaches the agent system's
webhook: the outbox re-sends what Redis lost, including what it had accepted but no group
had handled yet.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import sqlalchemy as sa

from omnihub.store import tables

from .conftest import EventReceiver, HubClient, RedisServer, api_post, metric, until

MESSAGES = 240
SENDERS = 6


async def _posted_until_acked(hub: HubClient, i: int) -> None:
    """Post message `i` until the hub answers 2xx, as a provider retries."""
    while True:
        try:
            response = await hub.post_message(api_post(f"m-{i}", customer=f"c-{i % 30}",
                                                        text=f"message {i}"))
            if response.status == 200:
                return
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass
        await asyncio.sleep(0.05)


async def test_redis_restart_mid_load_loses_no_event(
        make_hub: Any, make_store_url: Any, redis_server: RedisServer,
        event_receiver: EventReceiver) -> None:
    hub: HubClient = await make_hub(await make_store_url("sqlite"), extra={
        "bus": {"url": redis_server.url},
        "inbox": {"webhooks": [{"url": event_receiver.url,
                                "secret": "receiver-secret-0123456789"}],
                  "webhook_retry": {"backoff_base_seconds": 0.2, "backoff_max_seconds": 1,
                                    "poll_seconds": 0.2}},
        "monitoring": {"collect_seconds": 0.2},
    })
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(MESSAGES):
        queue.put_nowait(i)
    acked: list[int] = []
    seen_down: dict[str, Any] = {}

    async def sender() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            await _posted_until_acked(hub, i)
            acked.append(i)
            await asyncio.sleep(0.01)

    async def down_and_back() -> None:
        await until(lambda: len(acked) >= MESSAGES // 4, what="a quarter of the load")
        # The agent system hangs, so Redis holds events that no group has handled yet
        # when it dies: those are the ones a restart without persistence loses.
        event_receiver.open.clear()
        held_from = hub.hub.dispatcher.dispatched
        await until(lambda: hub.hub.dispatcher.dispatched >= held_from + 20,
                    what="events accepted by Redis behind the hanging receiver")
        redis_server.kill()
        event_receiver.open.set()

        async def degraded() -> dict[str, Any] | None:
            response = await hub.http.get("/readyz")
            body = await response.json()
            return (body if response.status == 200 and body["status"] == "degraded"
                    and body["checks"]["bus"].startswith("down") else None)

        seen_down["readyz"] = await until(degraded, what="/readyz to report the bus down")

        async def bus_down_metric() -> bool:
            return metric(await (await hub.http.get("/metrics")).text(), "omnihub_bus_up") == 0

        await until(bus_down_metric, what="omnihub_bus_up 0")
        at_kill = len(acked)
        await until(lambda: len(acked) >= at_kill + MESSAGES // 5,
                    what="messages acknowledged while Redis is down")
        redis_server.start()

    await asyncio.gather(down_and_back(), *(sender() for _ in range(SENDERS)))

    assert seen_down["readyz"]["checks"]["store"] == "ok"
    assert seen_down["readyz"]["checks"]["bus"].startswith("down:")

    async def ready() -> bool:
        response = await hub.http.get("/readyz")
        return response.status == 200 and (await response.json())["status"] == "ready"

    await until(ready, what="/readyz to recover")

    async with hub.hub.db.read() as conn:
        stored = (await conn.execute(
            sa.select(tables.messages.c.external_id, sa.func.count())
            .where(tables.messages.c.direction == "in")
            .group_by(tables.messages.c.external_id))).all()
        events = set((await conn.execute(
            sa.select(tables.outbox.c.id).where(tables.outbox.c.type == "message.received")
        )).scalars())
    assert sorted(acked) == list(range(MESSAGES))
    assert {ext for ext, _n in stored} == {f"m-{i}" for i in range(MESSAGES)}
    assert all(n == 1 for _ext, n in stored), "a message was stored twice"
    assert len(events) == MESSAGES

    await until(lambda: events <= event_receiver.events.keys(), timeout=60,
                what="every message.received event at the receiver "
                     f"(missing {len(events - event_receiver.events.keys())})")
    text = await (await hub.http.get("/metrics")).text()
    assert metric(text, "omnihub_bus_up") == 1
    # the events Redis held for the hanging receiver were published again, not lost
    assert hub.hub.bus.resets >= 1


async def test_what_every_group_handled_is_not_kept(redis_server: RedisServer) -> None:
    """The envelopes kept for a Redis that loses its data are let go once every group has
    acknowledged them: the bus's memory follows the consumers' backlog, not the traffic."""
    from datetime import UTC, datetime

    from omnihub.hub.bus import Envelope
    from omnihub.hub.bus.redis_streams import RedisStreamsBus

    handled: list[str] = []
    slow_done = asyncio.Event()

    async def fast(envelope: Envelope) -> None:
        handled.append(envelope.id)

    async def slow(envelope: Envelope) -> None:
        await slow_done.wait()

    bus = RedisStreamsBus(redis_server.url, settle_interval=0.1)
    bus.subscribe("event", "fast", fast)
    bus.subscribe("event", "slow", slow)
    await bus.start()
    try:
        now = datetime.now(UTC)
        await bus.publish([Envelope(seq=n, id=f"e-{n}", topic="event", type="t", key=None,
                                    payload={}, created_at=now) for n in range(1, 51)])
        await until(lambda: len(handled) == 50, what="the fast group to handle all")
        await asyncio.sleep(0.5)  # several settle rounds: the slow group still owes them
        assert bus._unsettled.count == 50
        slow_done.set()
        await until(lambda: bus._unsettled.count == 0, what="the kept envelopes to be let go",
                    timeout=30)
    finally:
        slow_done.set()
        await bus.close()
