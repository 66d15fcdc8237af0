"""The agent side of a conversation: queue a reply, track its delivery, and tell the
connector where to send it.

A reply, its `delivery` outbox row and its `message.sent` event are one transaction, so
a reply is never lost nor sent without its record. Delivery status only moves forward
(queued < sent < delivered < read; failed only before delivery): receipts arrive out of
order, and a late "sent" must not undo "read".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.connectors.base import OutboundMessage
from omnihub.normalizer.ids import new_id
from omnihub.normalizer.schema import Identity, Message, Part
from omnihub.store.audit import Actor, write_audit
from omnihub.store.crypto import ADDRESS_PURPOSE, PiiCipher
from omnihub.store.csat import SURVEY_BUTTONS, SURVEY_KEY
from omnihub.store.db import Database
from omnihub.store.errors import InvalidReply, NoRecipient, NotFound, lost_a_race
from omnihub.store.events import delivery_row, event_row, write_outbox
from omnihub.store.rows import MESSAGE_COLUMNS, message_from_row, message_row
from omnihub.store.tables import bot_buttons as bot_buttons_table
from omnihub.store.tables import conversations, identities, messages

__all__ = [
    "BOT_AUTHOR",
    "SYSTEM_AUTHOR",
    "DeliveryStatus",
    "delivery_target",
    "inbound_by_external_id",
    "mark_delivery",
    "mark_delivery_by_external_id",
    "queue_reply",
]

DeliveryStatus = Literal["sent", "delivered", "read", "failed"]
SYSTEM_AUTHOR = "system"  # automatic messages (auto-replies): not an agent's answer
BOT_AUTHOR = "bot"  # the FAQ bot (omnihub/bot): not a person's answer either
# The statuses each new status may replace: never backwards, "failed" only before delivery.
_FORWARD_FROM: dict[str, tuple[str, ...]] = {
    "sent": ("queued",),
    "delivered": ("queued", "sent"),
    "read": ("queued", "sent", "delivered"),
    "failed": ("queued", "sent"),
}
_PARTS: TypeAdapter[list[Part]] = TypeAdapter(list[Part])
_m = messages.c


async def _message(conn: AsyncConnection, *where: sa.ColumnElement[bool]) -> Message | None:
    row = (await conn.execute(sa.select(*MESSAGE_COLUMNS).where(*where))).mappings().first()
    return None if row is None else message_from_row(row)


async def queue_reply(
    db: Database,
    conversation_id: str,
    parts: Sequence[Part | dict[str, Any]],
    *,
    author: str,
    idempotency_key: str | None = None,
    private: bool = False,
    on_commit: Callable[[], object] | None = None,
    actor: Actor | None = None,
) -> tuple[Message, bool]:
    """Queue an agent message (or a private note); return it and whether it is new.

    The same idempotency key on the same conversation returns the first message and
    writes nothing: a retried POST never sends twice (Chatwoot #9314).
    """
    try:
        checked = _PARTS.validate_python(list(parts))
    except ValidationError as exc:
        raise InvalidReply(f"invalid parts: {exc}") from None
    if not checked:
        raise InvalidReply("a reply needs at least one part")
    if not 1 <= len(author) <= 80:
        raise InvalidReply("author must be 1 to 80 characters")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 128:
        raise InvalidReply("idempotency key must be 1 to 128 characters")
    attempt = 0
    while True:
        attempt += 1
        try:
            return await _write_reply(db, conversation_id, checked, author=author,
                                      idempotency_key=idempotency_key, private=private,
                                      on_commit=on_commit, actor=actor)
        except DBAPIError as exc:
            # Concurrent sends with one key: the loser meets the unique key — or, on
            # MariaDB, a deadlock between the two inserts — and returns the winner's message.
            if idempotency_key is None or not lost_a_race(exc):
                raise
            async with db.read() as conn:
                first = await _message(conn, _m.conversation_id == conversation_id,
                                       _m.idempotency_key == idempotency_key)
            if first is not None:
                return first, False
            if attempt == _RACE_RETRIES:
                raise


_RACE_RETRIES = 3


async def _write_reply(
    db: Database,
    conversation_id: str,
    checked: list[Part],
    *,
    author: str,
    idempotency_key: str | None,
    private: bool,
    on_commit: Callable[[], object] | None,
    actor: Actor | None,
) -> tuple[Message, bool]:
    """One attempt at queue_reply's transaction."""
    now = datetime.now(UTC)
    async with db.write() as conn:
        conv = (
            await conn.execute(
                sa.select(conversations).where(conversations.c.id == conversation_id)
            )
        ).first()
        if conv is None:
            raise NotFound(f"no conversation with id {conversation_id!r}")
        if idempotency_key is not None:
            first = await _message(
                conn,
                _m.conversation_id == conversation_id,
                _m.idempotency_key == idempotency_key,
            )
            if first is not None:
                return first, False
        message = Message(
            id=new_id(),
            conversation_id=conversation_id,
            customer_id=conv.customer_id,
            channel_id=conv.channel_id,
            channel_type=conv.channel_type,
            direction="out",
            author=author,
            parts=checked,
            created_at=now,
            received_at=now,
            # a note is never delivered: it is done as soon as it is written
            status="sent" if private else "queued",
            private=private,
        )
        data = message.model_dump(mode="json")
        await conn.execute(
            sa.insert(messages), [message_row(message, data, idempotency_key=idempotency_key)]
        )
        rows = [event_row("message.sent", data, key=conversation_id, now=now)]
        if not private:
            rows.append(delivery_row(message.id, conversation_id, conv.channel_id, now=now))
        await write_outbox(conn, rows)
        changes: dict[str, Any] = {"updated_at": now}
        if not private:
            changes["last_message_at"] = now
        # A note is not an answer, nor is an automatic one (author "system": the
        # router's auto-reply): the customer is still waiting and the clocks run on.
        if not private and author not in (SYSTEM_AUTHOR, BOT_AUTHOR):
            changes.update(
                first_response_at=sa.func.coalesce(conversations.c.first_response_at, now),
                waiting_since=None,
                next_response_due=None,
            )
        await conn.execute(
            sa.update(conversations)
            .where(conversations.c.id == conversation_id)
            .values(**changes)
        )
        if actor is not None:  # the agent API's audit log (store/audit.py)
            await write_audit(conn, actor, "message.note" if private else "message.send",
                              "message", message.id, before=None, after=data, now=now)
    if on_commit is not None:
        on_commit()
    return message, True


async def mark_delivery(
    db: Database,
    message_id: str,
    *,
    status: DeliveryStatus,
    external_id: str | None = None,
    error: str | None = None,
    on_commit: Callable[[], object] | None = None,
) -> Message:
    """Record a delivery receipt; a receipt that would move the status back is ignored."""
    if status not in _FORWARD_FROM:
        raise ValueError(f"unknown delivery status {status!r}; use one of {sorted(_FORWARD_FROM)}")
    async with db.write() as conn:
        values: dict[str, Any] = {"status": status}
        if external_id is not None:
            values["external_id"] = sa.func.coalesce(_m.external_id, external_id)
        changed = (
            await conn.execute(
                sa.update(messages)
                .where(
                    _m.id == message_id, _m.direction == "out", _m.status.in_(_FORWARD_FROM[status])
                )
                .values(**values)
            )
        ).rowcount
        message = await _message(conn, _m.id == message_id)
        if message is None:
            raise NotFound(f"no message with id {message_id!r}")
        if changed:
            await write_outbox(
                conn,
                [
                    event_row(
                        "message.status",
                        {
                            "message_id": message.id,
                            "conversation_id": message.conversation_id,
                            "channel_id": message.channel_id,
                            "status": status,
                            "external_id": message.external_id,
                            "error": error,
                        },
                        key=message.conversation_id,
                    )
                ],
            )
    if changed and on_commit is not None:
        on_commit()
    return message


async def inbound_by_external_id(db: Database, channel_id: str,
                                 external_id: str) -> Message | None:
    """A customer's message, by the id its provider gave it."""
    async with db.read() as conn:
        return await _message(conn, _m.channel_id == channel_id, _m.external_id == external_id,
                              _m.direction == "in")


async def mark_delivery_by_external_id(
    db: Database,
    channel_id: str,
    external_id: str,
    *,
    status: DeliveryStatus,
    error: str | None = None,
    on_commit: Callable[[], object] | None = None,
) -> Message | None:
    """A provider's receipt for one of our messages, found by the id the provider gave it.

    None when no outbound message carries that id: a receipt can overtake the send's own
    response (the external id is recorded when the provider answers the send), and the
    provider's next receipt (delivered, read) then moves the status on.
    """
    async with db.read() as conn:
        message_id = (
            await conn.execute(
                sa.select(_m.id).where(
                    _m.channel_id == channel_id, _m.external_id == external_id,
                    _m.direction == "out")
            )
        ).scalar()
    if message_id is None:
        return None
    return await mark_delivery(db, message_id, status=status, error=error, on_commit=on_commit)


async def delivery_target(
    db: Database,
    cipher: PiiCipher,
    message_id: str,
    *,
    identity_kind: str | None = None,
    pick: Callable[[list[Identity]], Identity | None] | None = None,
) -> OutboundMessage | None:
    """What a connector needs to send a queued message; None once it is no longer queued.

    The recipient is chosen by `pick` (the connector's own rule) or else as the
    customer's first identity of `identity_kind`, the channel's address space.
    """
    if pick is None and identity_kind is None:
        raise TypeError("delivery_target needs identity_kind or pick")
    async with db.read() as conn:
        message = await _message(conn, _m.id == message_id)
        if message is None:
            raise NotFound(f"no message with id {message_id!r}")
        if message.direction != "out" or message.private:
            raise InvalidReply(f"message {message_id} is not an outbound message")
        if message.status != "queued":
            return None
        thread_key = (
            await conn.execute(
                sa.select(conversations.c.thread_key).where(
                    conversations.c.id == message.conversation_id
                )
            )
        ).scalar()
        key = None  # only system messages can be surveys: agents' replies skip the read
        if message.author in (SYSTEM_AUTHOR, BOT_AUTHOR):
            key = (await conn.execute(
                sa.select(_m.idempotency_key).where(_m.id == message_id))).scalar()
        bot_buttons = None
        if message.author == BOT_AUTHOR and key is not None:
            bot_buttons = (await conn.execute(sa.select(bot_buttons_table.c.buttons).where(
                bot_buttons_table.c.conversation_id == message.conversation_id,
                bot_buttons_table.c.idempotency_key == key))).scalar()
        found = await conn.execute(
            sa.select(identities.c.kind, identities.c.address_enc, identities.c.verified)
            .where(identities.c.customer_id == message.customer_id)
            .order_by(identities.c.created_at, identities.c.id)
        )
        idents = [
            Identity(
                kind=r.kind,
                address=cipher.decrypt(r.address_enc, ADDRESS_PURPOSE),
                verified=r.verified,
            )
            for r in found
        ]
        replied_to = (
            await conn.execute(
                sa.select(_m.external_id)
                .where(
                    _m.conversation_id == message.conversation_id,
                    _m.direction == "in",
                    _m.id < message.id,
                )
                .order_by(_m.id.desc())
                .limit(1)
            )
        ).scalar()
    recipient = (
        pick(idents)
        if pick is not None
        else next((i for i in idents if i.kind == identity_kind), None)
    )
    if recipient is None:
        raise NoRecipient(
            f"customer {message.customer_id} has no address for channel {message.channel_id}"
        )
    return OutboundMessage(
        message_id=message.id,
        conversation_id=message.conversation_id,
        channel_id=message.channel_id,
        recipient=recipient,
        thread_key=thread_key,
        parts=list(message.parts),
        author=message.author,
        reply_to_external_id=replied_to,
        buttons=list(SURVEY_BUTTONS) if key == SURVEY_KEY else bot_buttons,  # 1-5 / the bot's
    )
