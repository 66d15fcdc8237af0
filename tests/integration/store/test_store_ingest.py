"""Ingest: customers, conversations, messages and events; idempotency; group commit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from omnihub.normalizer.schema import InboundMessage
from omnihub.store import IngestFailed, Store, StoreBusy
from omnihub.store.crypto import RAW_PAYLOAD_PURPOSE
from omnihub.store.tables import conversations, customers, identities, messages, raw_payloads


async def test_first_message_creates_customer_conversation_message_and_events(
    store, inbound, events, count_rows
):
    result = await store.ingest(inbound("m1", ("telegram", "42"), name="Ann"))

    assert (result.duplicate, result.customer_created, result.conversation_created) == (
        False,
        True,
        True,
    )
    message = result.message
    assert (message.direction, message.author, message.status) == ("in", "customer", "received")
    assert message.parts[0].text == "hello"
    customer = await store.get_customer(message.customer_id)
    assert customer is not None and customer.display_name == "Ann"
    assert [(i.kind, i.address) for i in customer.identities] == [("telegram", "42")]
    conversation = await store.get_conversation(message.conversation_id)
    assert conversation is not None
    assert (conversation.status, conversation.priority, conversation.tags) == ("open", 0, [])
    assert conversation.customer_id == customer.id and conversation.waiting_since is not None

    emitted = await events()
    assert [e["type"] for e in emitted] == ["conversation.created", "message.received"]
    assert emitted[0]["data"]["id"] == conversation.id
    assert emitted[1]["data"] == message.model_dump(mode="json")
    assert set(emitted[1]) == {"id", "type", "created_at", "data"}
    for table, expected in ((customers, 1), (identities, 1), (conversations, 1), (messages, 1)):
        assert await count_rows(table) == expected


async def test_next_message_joins_the_open_conversation(store, inbound, events):
    first = await store.ingest(inbound("m1", ("telegram", "42")))
    second = await store.ingest(inbound("m2", ("telegram", "42")))

    assert (second.customer_created, second.conversation_created) == (False, False)
    assert second.message.conversation_id == first.message.conversation_id
    assert [e["type"] for e in await events()] == [
        "conversation.created",
        "message.received",
        "message.received",
    ]
    conversation = await store.get_conversation(first.message.conversation_id)
    assert conversation.last_message_at >= second.message.received_at


async def test_thread_key_and_channel_separate_conversations(store, inbound):
    a = await store.ingest(inbound("m1", ("telegram", "42")))
    b = await store.ingest(inbound("m2", ("telegram", "42"), thread_key="t-9"))
    c = await store.ingest(inbound("m3", ("telegram", "42"), channel_id="tg2"))
    assert (
        len({a.message.conversation_id, b.message.conversation_id, c.message.conversation_id}) == 3
    )
    assert len({a.message.customer_id, b.message.customer_id, c.message.customer_id}) == 1


async def test_a_resolved_conversation_is_not_reused(store, db, inbound):
    first = await store.ingest(inbound("m1", ("telegram", "42")))
    async with db.write() as conn:
        await conn.execute(sa.update(conversations).values(status="resolved", open_key=None))
    second = await store.ingest(inbound("m2", ("telegram", "42")))
    assert second.conversation_created
    assert second.message.conversation_id != first.message.conversation_id


async def test_duplicate_delivery_is_stored_once_without_a_second_event(
    store, inbound, events, count_rows
):
    first = await store.ingest(inbound("m1", ("telegram", "42"), text="first"))
    again = await store.ingest(inbound("m1", ("telegram", "42"), text="retried"))

    assert again.duplicate and not again.conversation_created and not again.customer_created
    assert again.message == first.message
    assert await count_rows(messages) == 1
    assert len(await events("message.received")) == 1


async def test_duplicates_within_one_batch_and_across_batches(store, inbound, events, count_rows):
    copies = [inbound(f"m{i % 5}", ("telegram", "42")) for i in range(40)]
    results = await asyncio.gather(*(store.ingest(m) for m in copies))
    more = await asyncio.gather(*(store.ingest(m) for m in copies))

    assert await count_rows(messages) == 5
    assert sum(not r.duplicate for r in results) == 5
    assert all(r.duplicate for r in more)
    by_external = {r.message.external_id: r.message for r in results if not r.duplicate}
    assert all(r.message == by_external[r.message.external_id] for r in [*results, *more])
    assert len(await events("message.received")) == 5
    assert len(await events("conversation.created")) == 1


async def test_two_writers_racing_on_the_same_messages_store_each_once(
    db, cipher, inbound, count_rows, events
):
    """Two processes' writers (PostgreSQL/MySQL race on the unique keys and re-run)."""
    a, b = Store(db, cipher, max_batch=8), Store(db, cipher, max_batch=8)
    await a.start()
    await b.start()
    try:
        batch = [inbound(f"m{i}", ("telegram", f"user-{i % 7}")) for i in range(60)]
        results = await asyncio.gather(*(s.ingest(m) for m in batch for s in (a, b)))
    finally:
        await a.close()
        await b.close()

    assert await count_rows(messages) == 60
    assert await count_rows(customers) == 7
    assert await count_rows(conversations) == 7
    assert sum(not r.duplicate for r in results) == 60
    assert len(await events("message.received")) == 60


async def test_later_messages_in_a_batch_see_what_earlier_ones_created(store, inbound, count_rows):
    batch = [inbound(f"m{i}", ("telegram", "new-user"), name="Bo") for i in range(10)]
    results = await asyncio.gather(*(store.ingest(m) for m in batch))

    assert store.writer.batches == 1
    assert [r.customer_created for r in results] == [True] + [False] * 9
    assert [r.conversation_created for r in results] == [True] + [False] * 9
    assert len({r.message.conversation_id for r in results}) == 1
    assert await count_rows(customers) == 1 and await count_rows(identities) == 1


async def test_reply_to_resolves_within_the_batch_and_from_the_store(store, inbound):
    stored = await store.ingest(inbound("m1", ("telegram", "42")))
    a, b = await asyncio.gather(
        store.ingest(inbound("m2", ("telegram", "42"), reply_to_external_id="m1")),
        store.ingest(inbound("m3", ("telegram", "42"), reply_to_external_id="m2")),
    )
    assert a.message.reply_to == stored.message.id
    assert b.message.reply_to == a.message.id


async def test_created_at_trusts_sent_at_unless_it_is_in_the_future(store, inbound):
    past = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    old = await store.ingest(inbound("m1", sent_at=past))
    future = await store.ingest(inbound("m2", sent_at=datetime.now(UTC) + timedelta(hours=1)))

    assert old.message.created_at == past
    assert future.message.created_at == future.message.received_at
    history = await store.customer_history(old.message.customer_id)
    assert {m.id: m.created_at for m in history.items}[old.message.id] == past


async def test_raw_payload_is_kept_encrypted_and_bounded(store, db, cipher, inbound):
    small = await store.ingest(
        inbound("m1", raw=b'{"update_id": 1}', raw_content_type="application/json")
    )
    big = await store.ingest(inbound("m2", raw=b"x" * 70_000))

    async with db.read() as conn:
        rows = {r.id: r for r in await conn.execute(sa.select(raw_payloads))}
    first = rows[small.message.raw_ref]
    assert cipher.decrypt_bytes(first.body_enc, RAW_PAYLOAD_PURPOSE) == b'{"update_id": 1}'
    assert (first.truncated, first.content_type) == (False, "application/json")
    second = rows[big.message.raw_ref]
    assert (
        second.truncated
        and len(cipher.decrypt_bytes(second.body_enc, RAW_PAYLOAD_PURPOSE)) == 65536
    )


async def test_500_concurrent_ingests_commit_in_a_few_transactions(store, inbound, count_rows):
    batch = [inbound(f"m{i}", ("telegram", f"u{i % 50}")) for i in range(500)]
    results = await asyncio.gather(*(store.ingest(m) for m in batch))

    assert not any(r.duplicate for r in results)
    assert await count_rows(messages) == 500
    assert store.writer.batches <= 4  # 256 per batch: two, with room for scheduling


async def test_a_poison_message_fails_alone(store, inbound, count_rows):
    good = [inbound(f"m{i}", ("telegram", "42")) for i in range(5)]
    # model_construct skips validation: a message no connector could produce (no channel)
    poison = InboundMessage.model_construct(
        **{**good[0].__dict__, "channel_id": None, "external_id": "bad"}
    )
    results = await asyncio.gather(
        *(store.ingest(m) for m in [*good[:3], poison, *good[3:]]), return_exceptions=True
    )

    assert isinstance(results[3], IngestFailed)
    assert "bad" in str(results[3]) and "hello" not in str(results[3])  # no content leaks
    assert all(
        not isinstance(r, BaseException) and not r.duplicate
        for i, r in enumerate(results)
        if i != 3
    )
    assert await count_rows(messages) == 5


async def test_a_full_queue_answers_store_busy(db, cipher, inbound, count_rows):
    store = Store(db, cipher, max_pending=3)  # not started: nothing drains the queue yet
    waiting = [asyncio.create_task(store.ingest(inbound(f"m{i}"))) for i in range(3)]
    await asyncio.sleep(0)
    with pytest.raises(StoreBusy) as busy:
        await store.ingest(inbound("m3"))
    assert busy.value.retry_after > 0

    await store.start()
    await asyncio.gather(*waiting)
    await store.close()
    assert await count_rows(messages) == 3


async def test_close_stores_what_is_queued_then_refuses(db, cipher, inbound, count_rows):
    store = Store(db, cipher)
    await store.start()
    waiting = [asyncio.create_task(store.ingest(inbound(f"m{i}"))) for i in range(20)]
    await asyncio.sleep(0)
    await store.close()

    assert all(not t.result().duplicate for t in waiting)
    assert await count_rows(messages) == 20
    with pytest.raises(StoreBusy):
        await store.ingest(inbound("late"))


async def test_an_unreachable_database_fails_the_whole_batch_at_once(tmp_path, cipher, inbound):
    from omnihub.store.db import Database

    db = Database(f"sqlite:///{tmp_path / 'missing-dir' / 'store.db'}")
    store = Store(db, cipher)
    await store.start()
    try:
        results = await asyncio.gather(
            *(store.ingest(inbound(f"m{i}", text="secret words")) for i in range(5)),
            return_exceptions=True,
        )
    finally:
        await store.close()
        await db.dispose()
    assert all(isinstance(r, IngestFailed) for r in results)
    assert all("secret words" not in str(r) for r in results)  # no message content in errors
    assert store.writer.batches == 0
