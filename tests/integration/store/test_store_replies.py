"""Agent replies: queued with their delivery row, idempotent, status only moves forward."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from omnihub.normalizer.schema import Identity, TextPart
from omnihub.store import InvalidReply, NoRecipient, NotFound
from omnihub.store.tables import messages, outbox


async def deliveries(db):
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.type, outbox.c.payload)
            .where(outbox.c.topic == "delivery")
            .order_by(outbox.c.seq)
        )
        return [(r.type, r.payload) for r in rows]


@pytest.fixture
async def conversation(store, inbound):
    result = await store.ingest(
        inbound("m1", ("telegram", "42"), ("email", "ann@example.com", True))
    )
    return result.message.conversation_id


async def test_queue_reply_writes_message_delivery_and_event(store, db, conversation, events):
    message, created = await store.queue_reply(
        conversation, [TextPart(text="On its way!")], author="agent:eve"
    )

    assert created
    assert (message.direction, message.status, message.author) == ("out", "queued", "agent:eve")
    assert await deliveries(db) == [
        (
            "message.deliver",
            {"message_id": message.id, "conversation_id": conversation, "channel_id": "tg"},
        )
    ]
    assert [e["data"] for e in await events("message.sent")] == [message.model_dump(mode="json")]
    conv = await store.get_conversation(conversation)
    assert conv.waiting_since is None and conv.first_response_at == message.created_at
    page = await store.conversation_messages(conversation)
    assert [m.id for m in page.items][0] == message.id


async def test_same_idempotency_key_returns_the_first_message(store, db, conversation, events):
    first, created = await store.queue_reply(
        conversation, [{"kind": "text", "text": "hi"}], author="agent:eve", idempotency_key="k-1"
    )
    again, created_again = await store.queue_reply(
        conversation, [TextPart(text="hi (retry)")], author="agent:eve", idempotency_key="k-1"
    )
    racing = await asyncio.gather(
        *(
            store.queue_reply(
                conversation, [TextPart(text="x")], author="agent:eve", idempotency_key="k-2"
            )
            for _ in range(5)
        )
    )

    assert created and not created_again and again == first
    assert sum(created for _, created in racing) == 1
    assert len({m.id for m, _ in racing}) == 1
    assert len(await deliveries(db)) == 2
    assert len(await events("message.sent")) == 2


async def test_a_private_note_is_not_delivered_and_is_no_answer(store, db, conversation):
    note, _ = await store.queue_reply(
        conversation, [TextPart(text="VIP, be nice")], author="agent:eve", private=True
    )
    assert note.private and note.status == "sent"
    assert await deliveries(db) == []
    conv = await store.get_conversation(conversation)
    assert conv.first_response_at is None and conv.waiting_since is not None
    with pytest.raises(InvalidReply):
        await store.delivery_target(note.id, identity_kind="telegram")


async def test_queue_reply_rejects_bad_input(store, conversation):
    with pytest.raises(NotFound):
        await store.queue_reply("01HZZZZZZZZZZZZZZZZZZZZZZZ", [TextPart(text="x")], author="a")
    with pytest.raises(InvalidReply, match="at least one part"):
        await store.queue_reply(conversation, [], author="agent:eve")
    with pytest.raises(InvalidReply, match="invalid parts"):
        await store.queue_reply(conversation, [{"kind": "sticker"}], author="agent:eve")


async def test_mark_delivery_only_moves_forward(store, conversation, events):
    message, _ = await store.queue_reply(conversation, [TextPart(text="hi")], author="agent:eve")

    steps = [
        ("sent", "sent"),
        ("read", "read"),
        ("delivered", "read"),
        ("sent", "read"),
        ("failed", "read"),
    ]
    for status, expected in steps:
        updated = await store.mark_delivery(message.id, status=status, external_id="tg-555")
        assert updated.status == expected
    assert updated.external_id == "tg-555"
    assert [e["data"]["status"] for e in await events("message.status")] == ["sent", "read"]


async def test_failed_only_before_delivery(store, conversation, events):
    a, _ = await store.queue_reply(conversation, [TextPart(text="a")], author="agent:eve")
    b, _ = await store.queue_reply(conversation, [TextPart(text="b")], author="agent:eve")
    await store.mark_delivery(a.id, status="delivered")
    assert (await store.mark_delivery(a.id, status="failed", error="x")).status == "delivered"
    failed = await store.mark_delivery(b.id, status="failed", error="chat not found")
    assert failed.status == "failed"
    data = (await events("message.status"))[-1]["data"]
    assert (data["message_id"], data["status"], data["error"]) == (b.id, "failed", "chat not found")
    with pytest.raises(NotFound):
        await store.mark_delivery("01HZZZZZZZZZZZZZZZZZZZZZZZ", status="sent")
    with pytest.raises(ValueError):
        await store.mark_delivery(b.id, status="queued")


async def test_a_provider_receipt_finds_the_message_by_the_providers_id(
        store, conversation, events):
    message, _ = await store.queue_reply(conversation, [TextPart(text="hi")], author="agent:eve")
    assert await store.mark_delivery_by_external_id("tg", "SM-1", status="delivered") is None

    await store.mark_delivery(message.id, status="sent", external_id="SM-1")
    delivered = await store.mark_delivery_by_external_id("tg", "SM-1", status="delivered")
    failed = await store.mark_delivery_by_external_id("tg", "SM-1", status="failed", error="30003")

    assert (delivered.id, delivered.status, failed.status) == (message.id, "delivered", "delivered")
    assert await store.mark_delivery_by_external_id("other", "SM-1", status="read") is None
    assert [e["data"]["status"] for e in await events("message.status")] == ["sent", "delivered"]


async def test_inbound_messages_have_no_delivery_status(store, db, conversation):
    async with db.read() as conn:
        inbound_id = (await conn.execute(sa.select(messages.c.id))).scalar_one()
    assert (await store.mark_delivery(inbound_id, status="read")).status == "received"


async def test_delivery_target_names_the_recipient_on_the_channel(store, conversation):
    message, _ = await store.queue_reply(conversation, [TextPart(text="hi")], author="agent:eve")

    target = await store.delivery_target(message.id, identity_kind="telegram")
    assert target.recipient == Identity(kind="telegram", address="42")
    assert (target.message_id, target.conversation_id, target.channel_id) == (
        message.id,
        conversation,
        "tg",
    )
    assert target.parts == message.parts and target.author == "agent:eve"
    assert target.reply_to_external_id == "m1"
    by_pick = await store.delivery_target(
        message.id, pick=lambda idents: next(i for i in idents if i.kind == "email")
    )
    assert by_pick.recipient.address == "ann@example.com"
    with pytest.raises(NoRecipient):
        await store.delivery_target(message.id, identity_kind="phone")

    await store.mark_delivery(message.id, status="sent")
    assert await store.delivery_target(message.id, identity_kind="telegram") is None
