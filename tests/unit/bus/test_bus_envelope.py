"""Envelopes on the wire, the retry policy's backoff, and live-listener back-pressure."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

import omnihub.hub.bus as bus_package
from omnihub.hub.bus import Envelope, ListenerLagged, MemoryBus, make_bus
from omnihub.hub.bus.fanout import Fanout
from omnihub.store.outbox import RetryPolicy


def sample(seq: int = 7) -> Envelope:
    return Envelope(seq=seq, id="01J0000000000000000000000A", topic="event",
                    type="message.received", key="conv-1",
                    payload={"id": "x", "data": {"text": "héllo", "n": [1, 2]}},
                    created_at=datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC))


def test_envelope_round_trips_through_bytes() -> None:
    envelope = sample()
    again = Envelope.from_bytes(envelope.to_bytes())
    assert again == envelope
    assert again.created_at.tzinfo is not None


@pytest.mark.parametrize("body", [b"", b"not json", b"{}", b'{"seq": "x"}', b"[1, 2]"])
def test_malformed_envelope_bytes_raise_value_error(body: bytes) -> None:
    with pytest.raises(ValueError, match="malformed bus envelope"):
        Envelope.from_bytes(body)


def test_envelope_is_immutable() -> None:
    with pytest.raises(AttributeError):
        sample().seq = 8  # type: ignore[misc]


def test_make_bus_picks_the_implementation_by_scheme() -> None:
    assert isinstance(make_bus("memory://", prefix="p"), MemoryBus)
    redis_bus = make_bus("redis://127.0.0.1:6379/0", prefix="p")
    assert type(redis_bus).__name__ == "RedisStreamsBus"
    assert redis_bus.stream("event") == "p:bus:event"  # type: ignore[attr-defined]


def test_package_exports_what_it_declares() -> None:
    assert sorted(bus_package.__all__) == sorted(
        name for name in bus_package.__all__ if hasattr(bus_package, name))
    assert {"Bus", "Envelope", "make_bus", "BusUnavailable"} <= set(bus_package.__all__)


@pytest.mark.parametrize("attempts, low, high", [(0, 0.5, 1.0), (1, 1.0, 2.0), (3, 4.0, 8.0),
                                                  (20, 1800.0, 3600.0)])
def test_backoff_doubles_with_jitter_and_is_capped(attempts: int, low: float, high: float) -> None:
    policy = RetryPolicy(base_seconds=1.0, max_seconds=3600.0)
    assert policy.backoff(attempts, rng=lambda: 0.0) == low
    assert policy.backoff(attempts, rng=lambda: 1.0) == high
    for _ in range(100):
        assert low <= policy.backoff(attempts) <= high


def test_backoff_survives_absurd_attempt_counts() -> None:
    assert RetryPolicy(max_seconds=60).backoff(10_000, rng=lambda: 1.0) == 60


async def test_a_listener_that_falls_behind_is_dropped_not_waited_for() -> None:
    fanout = Fanout(maxsize=3)
    slow = fanout.add("event")
    for seq in range(1, 6):
        fanout.feed(sample(seq))
    assert [(await anext(slow)).seq for _ in range(3)] == [1, 2, 3]
    with pytest.raises(ListenerLagged):
        await anext(slow)
    assert fanout.listeners == {}


async def test_closing_a_listener_ends_its_iteration_after_what_was_queued() -> None:
    bus = MemoryBus()
    await bus.start()
    listener = bus.listen("event")
    await bus.publish([sample(1)])
    await listener.aclose()
    await bus.publish([sample(2)])
    got = [env.seq async for env in listener]
    assert got == [1]
    await bus.close()


async def test_memory_publish_waits_until_every_group_handled_it() -> None:
    bus = MemoryBus()
    release = asyncio.Event()
    handled: list[int] = []

    async def slow(envelope: Envelope) -> None:
        await release.wait()
        handled.append(envelope.seq)

    async def fast(envelope: Envelope) -> None:
        handled.append(-envelope.seq)

    bus.subscribe("event", "slow", slow)
    bus.subscribe("event", "fast", fast)
    await bus.start()
    settled = await bus.submit([sample(1), sample(2)])
    await asyncio.sleep(0.05)
    assert not asyncio.ensure_future(settled).done()
    release.set()
    await asyncio.wait_for(settled, 2)
    assert sorted(handled) == [-2, -1, 1, 2]
    await bus.close()


async def test_memory_bus_fails_unsettled_work_when_closed() -> None:
    bus = MemoryBus()

    async def never(envelope: Envelope) -> None:
        await asyncio.Event().wait()

    bus.subscribe("event", "stuck", never)
    await bus.start()
    settled = await bus.submit([sample()])
    await bus.close()
    with pytest.raises(bus_package.BusClosed):
        await settled
