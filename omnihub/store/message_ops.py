"""Agents editing and recalling their own messages, and agents' read markers.

An edit or recall is allowed within a window after the message was written and, for
edits, a number of times (both from config, like Rocket.Chat's BlockEditInMinutes). The
content before each change is kept in message_edits; the change, its `message.updated`
event and its audit entry are one transaction. A message recalled before it was
delivered is never sent: its status becomes failed, which the delivery skips.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, TypeAdapter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.connectors.base import OutboundMessage
from omnihub.normalizer.ids import new_id
from omnihub.normalizer.schema import Identity, Message, Part
from omnihub.store.audit import Actor, write_audit
from omnihub.store.conversation_ops import InvalidTransition
from omnihub.store.crypto import ADDRESS_PURPOSE, PiiCipher
from omnihub.store.db import Database
from omnihub.store.errors import NotFound
from omnihub.store.events import event_row, write_outbox
from omnihub.store.rows import MESSAGE_COLUMNS, message_from_row
from omnihub.store.tables import (
    conversations,
    identities,
    message_edits,
    messages,
    read_markers,
)

__all__ = ["EditLimits", "ReadMarker", "change_message", "get_message", "read_markers_of", "sent_target",
           "set_read_marker"]

_PARTS: TypeAdapter[list[Part]] = TypeAdapter(list[Part])
_m = messages.c
_r = read_markers.c
SENT = ("sent", "delivered", "read")


@dataclass(frozen=True, slots=True)
class EditLimits:
    window_seconds: float
    max_edits: int


class ReadMarker(BaseModel):
    agent: str
    conversation_id: str
    message_id: str
    updated_at: datetime


async def _message(conn: AsyncConnection, message_id: str, *, lock: bool) -> Message:
    stmt = sa.select(*MESSAGE_COLUMNS).where(_m.id == message_id)
    if lock and conn.dialect.name != "sqlite":
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).mappings().first()
    if row is None:
        raise NotFound(f"no message with id {message_id!r}")
    return message_from_row(row)


async def get_message(db: Database, message_id: str) -> Message | None:
    async with db.read() as conn:
        row = (await conn.execute(sa.select(*MESSAGE_COLUMNS).where(_m.id == message_id))
               ).mappings().first()
    return None if row is None else message_from_row(row)


async def change_message(
    db: Database, message_id: str, *, parts: Sequence[Part] | None, actor: Actor,
    limits: EditLimits, check: Callable[[Message], None] | None = None,
    on_commit: Callable[[], object] | None = None,
) -> tuple[Message, str]:
    """Edit (`parts` given) or recall (`parts` None) an agent's message.

    Returns the message as now stored and its status before the change (a connector
    only needs telling when it was already sent).
    """
    kind = "recall" if parts is None else "edit"
    now = datetime.now(UTC)
    async with db.write() as conn:
        before = await _message(conn, message_id, lock=True)
        if check is not None:
            check(before)
        if before.direction != "out" or not before.author.startswith("agent:"):
            raise InvalidTransition("only agents' messages can be edited or recalled")
        if before.recalled_at is not None:
            raise InvalidTransition("the message was recalled")
        if now - before.created_at > timedelta(seconds=limits.window_seconds):
            raise InvalidTransition(f"the edit window of {limits.window_seconds:g}s has passed")
        values: dict[str, Any]
        if parts is None:
            values = {"recalled_at": now}
            if before.status == "queued":
                values["status"] = "failed"  # never delivered; the delivery skips it
        else:
            edits = await conn.scalar(sa.select(sa.func.count()).select_from(message_edits)
                                      .where(message_edits.c.message_id == message_id,
                                             message_edits.c.kind == "edit"))
            if int(edits or 0) >= limits.max_edits:
                raise InvalidTransition(f"the message was already edited {limits.max_edits} "
                                        "times, the most allowed")
            values = {"parts": _PARTS.dump_python(list(parts), mode="json"), "edited_at": now}
        before_parts = _PARTS.dump_python(before.parts, mode="json")
        await conn.execute(sa.update(messages).where(_m.id == message_id).values(**values))
        await conn.execute(sa.insert(message_edits).values(
            id=new_id(), message_id=message_id, kind=kind, editor=actor.author,
            before_parts=before_parts, created_at=now))
        after = await _message(conn, message_id, lock=False)
        after_json = after.model_dump(mode="json")
        data = {**after_json, "update": kind, "actor": actor.author}
        await write_outbox(conn, [event_row("message.updated", data, key=after.conversation_id,
                                            now=now)])
        await write_audit(conn, actor, f"message.{kind}", "message", message_id,
                          before=before.model_dump(mode="json"), after=after_json, now=now)
    if on_commit is not None:
        on_commit()
    return after, before.status


async def sent_target(db: Database, cipher: PiiCipher, message: Message,
                      pick: Callable[[list[Identity]], Identity | None]) -> OutboundMessage | None:
    """What a connector needs to edit or recall a message it already sent; None if it can't."""
    if message.private or message.status not in SENT or message.external_id is None:
        return None
    async with db.read() as conn:
        thread_key = (await conn.execute(sa.select(conversations.c.thread_key).where(
            conversations.c.id == message.conversation_id))).scalar()
        rows = await conn.execute(
            sa.select(identities.c.kind, identities.c.address_enc, identities.c.verified)
            .where(identities.c.customer_id == message.customer_id)
            .order_by(identities.c.created_at, identities.c.id))
        found = [Identity(kind=r.kind, address=cipher.decrypt(r.address_enc, ADDRESS_PURPOSE),
                          verified=r.verified) for r in rows]
    recipient = pick(found)
    if recipient is None:
        return None
    return OutboundMessage(message_id=message.id, conversation_id=message.conversation_id,
                           channel_id=message.channel_id, recipient=recipient,
                           thread_key=thread_key, parts=list(message.parts),
                           author=message.author)


async def set_read_marker(db: Database, agent: str, conversation_id: str,
                          message_id: str) -> ReadMarker:
    """Move an agent's marker forward to `message_id` (never back); return the marker.

    A marker that moves emits `conversation.read` in the same transaction: channels that
    show read receipts (the web chat) tell the customer at once.
    """
    now = datetime.now(UTC)
    async with db.write() as conn:
        owner = (await conn.execute(sa.select(_m.conversation_id, _m.customer_id, _m.channel_id)
                                    .where(_m.id == message_id))).first()
        if owner is None or owner.conversation_id != conversation_id:
            raise NotFound(f"no message {message_id!r} in conversation {conversation_id!r}")
        where = (_r.agent == agent, _r.conversation_id == conversation_id)
        before = (await conn.execute(sa.select(_r.message_id).where(*where))).scalar()
        await conn.execute(sa.update(read_markers).where(*where, _r.message_id < message_id)
                           .values(message_id=message_id, updated_at=now))
        try:
            async with conn.begin_nested():
                await conn.execute(sa.insert(read_markers).values(
                    agent=agent, conversation_id=conversation_id, message_id=message_id,
                    updated_at=now))
        except IntegrityError:
            pass  # the agent already had a marker here: moved forward above, if it was behind
        row = (await conn.execute(sa.select(read_markers).where(*where))).mappings().one()
        if row["message_id"] != before:
            await write_outbox(conn, [event_row("conversation.read", {
                "conversation_id": conversation_id, "customer_id": owner.customer_id,
                "channel_id": owner.channel_id, "agent": agent,
                "message_id": row["message_id"]}, key=conversation_id, now=now)])
    return ReadMarker.model_validate(dict(row))


async def read_markers_of(db: Database, conversation_id: str) -> list[ReadMarker]:
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(read_markers).where(
            _r.conversation_id == conversation_id).order_by(_r.agent))).mappings().all()
    return [ReadMarker.model_validate(dict(r)) for r in rows]
