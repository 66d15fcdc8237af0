"""Bus fixtures: the same tests on the in-process bus and on Redis Streams (real server)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as redis

from omnihub.hub.bus import Bus, Envelope, MemoryBus
from omnihub.hub.bus.redis_streams import RedisStreamsBus
from omnihub.store.db import Database
from omnihub.store.events import event_row, write_outbox

BUS_KINDS = ("memory", "redis")

# Short timers so redelivery and shutdown happen within a test's patience.
REDIS_TEST_OPTIONS: dict[str, Any] = {"block_ms": 100, "claim_idle": 0.3, "retry_delay": 0.05,
                                      "read_count": 20}


class BusCluster:
    """Bus instances sharing one namespace, as separate processes would.

    `node()` is the bus another live process sees: on Redis a new client on the same
    streams; the in-process bus has no other processes, so it is the same instance.
    `fresh()` is the bus of a process restarted after a crash.
    """

    def __init__(self, kind: str, redis_url: str) -> None:
        self.kind = kind
        self.redis_url = redis_url
        self.prefix = f"omnihub-test-{uuid.uuid4().hex[:12]}"
        self.buses: list[Bus] = []
        self._shared: Bus | None = None

    def fresh(self, **options: Any) -> Bus:
        if self.kind == "memory":
            bus: Bus = MemoryBus(retry_delay=0.05, **options)
        else:
            bus = RedisStreamsBus(self.redis_url, prefix=self.prefix,
                                  **{**REDIS_TEST_OPTIONS, **options})
        self.buses.append(bus)
        return bus

    def node(self) -> Bus:
        if self.kind == "memory":
            if self._shared is None:
                self._shared = self.fresh()
            return self._shared
        return self.fresh()

    async def close(self) -> None:
        for bus in self.buses:
            await bus.close()
        if self.kind == "redis":
            client = redis.Redis.from_url(self.redis_url)
            keys = [key async for key in client.scan_iter(match=f"{self.prefix}:*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()


@pytest.fixture(params=BUS_KINDS)
async def cluster(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[BusCluster]:
    group = BusCluster(request.param, redis_url)
    yield group
    await group.close()


@pytest.fixture
async def redis_cluster(redis_url: str) -> AsyncIterator[BusCluster]:
    group = BusCluster("redis", redis_url)
    yield group
    await group.close()


def envelopes(count: int, *, topic: str = "event", start: int = 1,
              keys: Iterable[str | None] = (None,)) -> list[Envelope]:
    """`count` envelopes with consecutive seqs, keys taken round-robin from `keys`."""
    key_list = list(keys)
    now = datetime.now(UTC)
    return [Envelope(seq=seq, id=f"ev{seq:08d}", topic=topic, type="test.happened",
                     key=key_list[seq % len(key_list)], payload={"n": seq}, created_at=now)
            for seq in range(start, start + count)]


async def eventually(check: Callable[[], bool | Awaitable[bool]], *, timeout: float = 10.0,
                     message: str = "condition not reached") -> None:
    """Poll `check` until true; fail the test with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{message} within {timeout}s")
        await asyncio.sleep(0.02)


async def add_outbox_events(db: Database, count: int, *, keys: Iterable[str | None] = (None,),
                            per_transaction: int = 50) -> list[str]:
    """Commit `count` event rows the way the store does; return their ids in seq order."""
    key_list = list(keys)
    rows = [event_row("message.received", {"n": n}, key=key_list[n % len(key_list)])
            for n in range(count)]
    for start in range(0, count, per_transaction):
        async with db.write() as conn:
            await write_outbox(conn, rows[start:start + per_transaction])
    return [row["id"] for row in rows]
