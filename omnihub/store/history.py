"""Message listings, newest first: a customer's cross-channel history and a conversation's
thread. One indexed keyset query per page ((customer_id, id) or (conversation_id, id)),
never OFFSET, so page 2,000 costs what page 1 costs."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from omnihub.normalizer.schema import Message
from omnihub.store.db import Database
from omnihub.store.paging import Page, decode_cursor, encode_cursor
from omnihub.store.rows import MESSAGE_COLUMNS, message_from_row
from omnihub.store.tables import messages

__all__ = ["MAX_LIMIT", "check_limit", "conversation_messages", "customer_history"]

MAX_LIMIT = 500


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def _page_statement(column: sa.Column[Any], *, before: bool) -> sa.Select[Any]:
    statement = (
        sa.select(*MESSAGE_COLUMNS)
        .where(column == sa.bindparam("owner"))
        .order_by(messages.c.id.desc())
        .limit(sa.bindparam("limit"))
    )
    return statement.where(messages.c.id < sa.bindparam("before")) if before else statement


# Built once, so that SQLite runs them from plans compiled once (Database.fetch).
_PAGES = {
    (kind, before): _page_statement(column, before=before)
    for kind, column in (("history", messages.c.customer_id),
                         ("thread", messages.c.conversation_id))
    for before in (False, True)
}


async def _message_page(
    db: Database, kind: str, value: str, limit: int, cursor: str | None
) -> Page[Message]:
    check_limit(limit)
    parameters: dict[str, Any] = {"owner": value, "limit": limit + 1}
    if cursor:
        parameters["before"] = decode_cursor(kind, cursor, ("before",))["before"]
    rows = await db.fetch(_PAGES[kind, cursor is not None], parameters)
    items = [message_from_row(r) for r in rows[:limit]]
    more = len(rows) > limit
    return Page[Message](
        items=items, next_cursor=encode_cursor(kind, {"before": items[-1].id}) if more else None
    )


async def customer_history(
    db: Database, customer_id: str, *, limit: int = 50, cursor: str | None = None
) -> Page[Message]:
    """Every message of a customer on every channel, newest first."""
    return await _message_page(db, "history", customer_id, limit, cursor)


async def conversation_messages(
    db: Database, conversation_id: str, *, limit: int = 50, cursor: str | None = None
) -> Page[Message]:
    """The messages of one conversation, newest first."""
    return await _message_page(db, "thread", conversation_id, limit, cursor)
