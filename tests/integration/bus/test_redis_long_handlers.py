"""Redis Streams: an entry whose handler is still running is not an orphan.

Other processes take over entries that stayed unacknowledged past `claim_idle` (their
consumer died). A consumer that is alive but slow — a batch of replies to one Telegram
chat paced at one a second, a receiver that takes its time — must keep its entries, or
a second process runs the same handler at once: a reply sent twice to the customer.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from omnihub.hub.bus import Envelope

from .conftest import BusCluster, envelopes, eventually

pytestmark = pytest.mark.redis


async def test_a_slow_consumer_keeps_its_entries(redis_cluster: BusCluster) -> None:
    handled: Counter[str] = Counter()

    async def slow(envelope: Envelope) -> None:  # longer than claim_idle, every time
        handled[envelope.id] += 1
        await asyncio.sleep(0.5)

    first = redis_cluster.fresh(claim_idle=0.3, claim_interval=0.05)
    first.subscribe("event", "deliveries", slow)
    await first.start()
    batch = envelopes(4, keys=["one-chat"])
    await first.publish(batch)
    await eventually(lambda: handled[batch[0].id] == 1, message="the first process took them")
    # a second live process joins the group: it may take new work, not work in hand
    second = redis_cluster.fresh(claim_idle=0.3, claim_interval=0.05)
    second.subscribe("event", "deliveries", slow)
    await second.start()
    await eventually(lambda: len(handled) == len(batch), timeout=15, message="all handled")
    await asyncio.sleep(1.0)  # a late duplicate would show by now
    assert handled == {envelope.id: 1 for envelope in batch}
