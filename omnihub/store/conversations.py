"""Conversation reads: one by id, and the inbox listing ordered by latest activity."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from omnihub.normalizer.schema import Conversation
from omnihub.store.db import Database
from omnihub.store.errors import InvalidCursor
from omnihub.store.history import check_limit
from omnihub.store.paging import Page, decode_cursor, encode_cursor
from omnihub.store.rows import CONVERSATION_COLUMNS, conversation_from_row
from omnihub.store.tables import conversations

__all__ = ["get_conversation", "list_conversations"]

_c = conversations.c


async def get_conversation(db: Database, conversation_id: str) -> Conversation | None:
    async with db.read() as conn:
        row = (
            (await conn.execute(sa.select(*CONVERSATION_COLUMNS).where(_c.id == conversation_id)))
            .mappings()
            .first()
        )
    return None if row is None else conversation_from_row(row)


def _after(cursor: str) -> sa.ColumnElement[bool]:
    """Rows strictly after the cursor in (last_message_at DESC, id DESC) order."""
    position = decode_cursor("conversations", cursor, ("at", "id"))
    try:
        at = datetime.fromisoformat(position["at"])
    except ValueError:
        raise InvalidCursor("cursor is incomplete") from None
    if at.tzinfo is None:
        raise InvalidCursor("cursor is incomplete")
    return sa.or_(
        _c.last_message_at < at, sa.and_(_c.last_message_at == at, _c.id < position["id"])
    )


async def list_conversations(
    db: Database,
    *,
    status: str | None = None,
    channel_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Conversation]:
    """Conversations with the latest activity first; filter by status and channel."""
    check_limit(limit)
    stmt = (
        sa.select(*CONVERSATION_COLUMNS)
        .order_by(_c.last_message_at.desc(), _c.id.desc())
        .limit(limit + 1)
    )
    if status is not None:
        stmt = stmt.where(_c.status == status)
    if channel_id is not None:
        stmt = stmt.where(_c.channel_id == channel_id)
    if cursor:
        stmt = stmt.where(_after(cursor))
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    items = [conversation_from_row(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        assert last.last_message_at is not None  # NOT NULL column
        next_cursor = encode_cursor(
            "conversations", {"at": last.last_message_at.isoformat(), "id": last.id}
        )
    return Page[Conversation](items=items, next_cursor=next_cursor)
