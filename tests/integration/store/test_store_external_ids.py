"""Inbound and outbound ids live in separate spaces: a provider's id for our reply may equal
a customer message's id without either being taken for the other."""

from __future__ import annotations

from collections.abc import Callable

from omnihub.normalizer.schema import InboundMessage, TextPart
from omnihub.store import Store


async def test_reply_may_carry_an_inbound_messages_external_id(
        store: Store, inbound: Callable[..., InboundMessage]) -> None:
    first = await store.ingest(inbound("42"))
    reply, _ = await store.queue_reply(first.message.conversation_id, [TextPart(text="hi")],
                                       author="agent:ann")
    sent = await store.mark_delivery(reply.id, status="sent", external_id="42")
    assert sent.external_id == "42" and sent.status == "sent"
    again = await store.ingest(inbound("42"))
    assert again.duplicate and again.message.id == first.message.id


async def test_inbound_id_equal_to_a_sent_reply_is_a_new_message(
        store: Store, inbound: Callable[..., InboundMessage]) -> None:
    first = await store.ingest(inbound("1"))
    reply, _ = await store.queue_reply(first.message.conversation_id, [TextPart(text="hi")],
                                       author="agent:ann")
    await store.mark_delivery(reply.id, status="sent", external_id="2")
    second = await store.ingest(inbound("2"))
    assert not second.duplicate and second.message.direction == "in"
