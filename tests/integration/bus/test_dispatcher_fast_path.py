"""The dispatcher's fast path: committed rows handed over in memory, marks in ingest commits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from omnihub.hub import dispatcher as dispatcher_module
from omnihub.hub.bus import Envelope, MemoryBus
from omnihub.hub.dispatcher import OutboxDispatcher
from omnihub.normalizer.schema import Identity, InboundMessage, Sender, TextPart
from omnihub.store import Store
from omnihub.store.crypto import PiiCipher, derive_index_key
from omnihub.store.db import Database
from omnihub.store.events import event_row, write_outbox
from omnihub.store.outbox import outbox_depth

from .conftest import add_outbox_events, eventually

KEY = bytes(range(32))


async def _commit_events(db: Database, count: int) -> list[Envelope]:
    rows = [event_row("message.received", {"n": n}, key="c1") for n in range(count)]
    async with db.write() as conn:
        return await write_outbox(conn, rows)


async def _recording_bus() -> tuple[MemoryBus, list[Envelope]]:
    bus = MemoryBus()
    seen: list[Envelope] = []

    async def record(envelope: Envelope) -> None:
        seen.append(envelope)

    bus.subscribe("event", "audit", record)
    await bus.start()
    return bus, seen


async def test_offered_rows_go_out_without_a_read_and_never_overtake_unseen_rows(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    fetch = dispatcher_module.fetch_undispatched

    async def counting_fetch(*args: Any, **kwargs: Any) -> list[Envelope]:
        rows = await fetch(*args, **kwargs)
        reads.append(len(rows))
        return rows

    monkeypatch.setattr(dispatcher_module, "fetch_undispatched", counting_fetch)
    bus, seen = await _recording_bus()
    dispatcher = OutboxDispatcher(db, bus, poll_interval=120)  # only offers and gaps drive it
    await dispatcher.start()
    try:
        await asyncio.wait_for(dispatcher.leading.wait(), 5)
        first = await _commit_events(db, 10)
        dispatcher.offer(first)  # the cursor is 0, so this one is read once from the table
        await eventually(lambda: len(seen) == 10, message="first rows dispatched")
        reads_before = len(reads)
        second = await _commit_events(db, 10)
        dispatcher.offer(second)
        await eventually(lambda: len(seen) == 20, message="contiguous rows dispatched")
        assert len(reads) == reads_before, "contiguous offered rows were read back"

        unseen = await add_outbox_events(db, 5)  # another writer: committed, never offered
        third = await _commit_events(db, 10)
        dispatcher.offer(third)  # the gap before these makes the dispatcher read the table
        await eventually(lambda: len(seen) == 35, message="rows behind the gap dispatched")
    finally:
        await dispatcher.stop()
        await bus.close()
    expected = [e.id for e in first + second] + unseen + [e.id for e in third]
    assert [envelope.id for envelope in seen] == expected
    assert [envelope.seq for envelope in seen] == sorted(envelope.seq for envelope in seen)


def _inbound(n: int) -> InboundMessage:
    return InboundMessage(
        channel_id="api", channel_type="api", external_id=f"m{n}",
        sender=Sender(identities=[Identity(kind="api", address=f"api:c{n % 3}", verified=True)]),
        parts=[TextPart(text=f"hello {n}")])


async def test_ingested_events_reach_the_bus_and_their_marks_clear_in_ingest_commits(
        db: Database) -> None:
    bus, seen = await _recording_bus()
    dispatcher = OutboxDispatcher(db, bus, poll_interval=120)
    store = Store(db, PiiCipher([KEY], derive_index_key(KEY)), on_commit=dispatcher.notify,
                  on_events=dispatcher.offer)
    dispatcher.marker = store.mark_dispatched
    await store.start()
    await dispatcher.start()
    try:
        await asyncio.wait_for(dispatcher.leading.wait(), 5)
        results = await asyncio.gather(*(store.ingest(_inbound(n)) for n in range(30)))
        # 30 message.received events and 3 conversation.created ones (3 customers)
        await eventually(lambda: dispatcher.dispatched == 33, message="every event marked")

        async def drained() -> bool:
            return (await outbox_depth(db)).count == 0

        await eventually(drained, message="no pending marks left")
    finally:
        await dispatcher.stop()
        await store.close()
        await bus.close()
    received = [e.payload["data"]["id"] for e in seen if e.type == "message.received"]
    assert received == [result.message.id for result in results]
    assert [e.seq for e in seen] == sorted(e.seq for e in seen)
