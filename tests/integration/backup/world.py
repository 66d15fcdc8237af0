"""Conversations of any status and age, written straight into the tables (fast, exact)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from omnihub.normalizer.ids import new_id
from omnihub.store.db import Database
from omnihub.store.tables import (
    conversation_watchers,
    conversations,
    customers,
    jobs,
    message_edits,
    messages,
    metadata,
    outbox,
    outbox_pending,
    raw_payloads,
    read_markers,
)

OPEN_STATUSES = ("open", "pending", "snoozed")


def media_part(sha256: str) -> dict[str, Any]:
    return {"kind": "image", "media": {"sha256": sha256, "mime": "image/png", "size": 3}}


async def clear(db: Database) -> None:
    async with db.write() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(table.delete())


async def add_conversation(db: Database, *, status: str, age: timedelta, now: datetime,
                           channel: tuple[str, str] = ("tg", "telegram"),
                           media: tuple[str, ...] = (), n_messages: int = 2) -> str:
    """A conversation whose last activity was `age` before `now`, with messages, an edit,
    raw payloads, a read marker, a watcher, and outbox rows (delivered, pending, retrying)."""
    at = now - age
    customer_id, conversation_id = new_id(), new_id()
    channel_id, channel_type = channel
    message_ids = [new_id() for _ in range(n_messages)]
    parts = [{"kind": "text", "text": "hello"}, *(media_part(sha) for sha in media)]
    async with db.write() as conn:
        await conn.execute(customers.insert().values(
            id=customer_id, tags=[], attributes={}, created_at=at, updated_at=at))
        await conn.execute(conversations.insert().values(
            id=conversation_id, customer_id=customer_id, channel_id=channel_id,
            channel_type=channel_type, status=status, priority=0, tags=[],
            open_key=f"{customer_id}|{channel_id}|" if status in OPEN_STATUSES else None,
            last_message_at=at, created_at=at - timedelta(hours=1), updated_at=at))
        await conn.execute(raw_payloads.insert(), [
            {"id": mid, "channel_id": channel_id, "body_enc": "sealed", "truncated": False,
             "received_at": at} for mid in message_ids])
        await conn.execute(messages.insert(), [
            {"id": mid, "conversation_id": conversation_id, "customer_id": customer_id,
             "channel_id": channel_id, "channel_type": channel_type, "direction": "in",
             "author": "customer", "external_id": mid, "parts": parts, "created_at": at,
             "received_at": at, "status": "received", "private": False, "raw_ref": mid}
            for mid in message_ids])
        await conn.execute(message_edits.insert().values(
            id=new_id(), message_id=message_ids[0], kind="edit", editor="ann",
            before_parts=parts, created_at=at))
        await conn.execute(read_markers.insert().values(
            agent="ann", conversation_id=conversation_id, message_id=message_ids[-1],
            updated_at=at))
        await conn.execute(conversation_watchers.insert().values(
            conversation_id=conversation_id, agent="bob", created_at=at))
        events = [new_id() for _ in range(3)]
        result = await conn.execute(outbox.insert().returning(outbox.c.seq), [
            {"id": event_id, "topic": "event", "type": "message.received",
             "key": conversation_id, "payload": {"parts": parts}, "created_at": at}
            for event_id in events]) if conn.dialect.name != "mysql" else None
        if result is None:  # MariaDB: one by one, for the generated keys
            seqs = []
            for event_id in events:
                inserted = await conn.execute(outbox.insert().values(
                    id=event_id, topic="event", type="message.received", key=conversation_id,
                    payload={"parts": parts}, created_at=at))
                seqs.append(inserted.inserted_primary_key[0])
        else:
            seqs = list(result.scalars())
        await conn.execute(outbox_pending.insert().values(seq=seqs[1]))  # not yet on the bus
        await conn.execute(jobs.insert().values(  # a consumer still retrying it
            consumer="webhook", event_id=events[2], key=conversation_id, topic="event",
            payload={}, status="retry", attempts=1, next_attempt_at=at, created_at=at,
            updated_at=at))
    return conversation_id


async def count_where(db: Database, table: sa.Table, where: Any = None) -> int:
    stmt = sa.select(sa.func.count()).select_from(table)
    if where is not None:
        stmt = stmt.where(where)
    async with db.read() as conn:
        return await conn.scalar(stmt)


async def conversation_ids(db: Database) -> set[str]:
    async with db.read() as conn:
        return set((await conn.execute(sa.select(conversations.c.id))).scalars())
