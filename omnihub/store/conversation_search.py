"""The inbox listing with filters: status, group, assignee, channel, category, priority,
overdue, unassigned, text in the messages, and the viewer's own visibility.

Same order and cursor as conversations.list_conversations (latest activity first,
keyset-paged), so a client can move between the two without its cursor breaking.
Text search is a LIKE over the stored parts, good enough until a real index is needed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from omnihub.normalizer.schema import OPEN_STATUSES, Conversation
from omnihub.store.db import Database
from omnihub.store.errors import InvalidCursor
from omnihub.store.history import check_limit
from omnihub.store.paging import Page, decode_cursor, encode_cursor
from omnihub.store.rows import CONVERSATION_COLUMNS, conversation_from_row
from omnihub.store.tables import conversation_watchers, conversations, messages

__all__ = ["ConversationFilter", "Visibility", "search_conversations"]

_c = conversations.c
_KIND = "conversations"


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    status: str | None = None
    group: str | None = None
    assignee: str | None = None
    channel_id: str | None = None
    category: str | None = None
    priority: int | None = None  # at least this priority
    overdue: bool | None = None
    unassigned: bool | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Visibility:
    """A viewer limited to some groups: also sees unrouted, assigned and watched ones."""

    agent: str
    groups: Collection[str]


def overdue_clause(now: datetime) -> sa.ColumnElement[bool]:
    """An open conversation with a response or resolution deadline already passed."""
    return sa.and_(_c.status.in_(OPEN_STATUSES), sa.or_(
        sa.and_(_c.first_response_at.is_(None), _c.first_response_due < now),
        sa.and_(_c.waiting_since.is_not(None), _c.next_response_due < now),
        _c.resolution_due < now,
    ))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(f: ConversationFilter, now: datetime) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = []
    for column, value in ((_c.status, f.status), (_c.skill_group, f.group),
                          (_c.assignee, f.assignee), (_c.channel_id, f.channel_id),
                          (_c.category, f.category)):
        if value is not None:
            clauses.append(column == value)
    if f.priority is not None:
        clauses.append(_c.priority >= f.priority)
    if f.unassigned is not None:
        clauses.append(_c.assignee.is_(None) if f.unassigned else _c.assignee.is_not(None))
    if f.overdue is not None:
        clauses.append(overdue_clause(now) if f.overdue else sa.not_(overdue_clause(now)))
    if f.text:
        pattern = f"%{_escape_like(f.text)}%"
        clauses.append(sa.exists().where(
            messages.c.conversation_id == _c.id,
            sa.cast(messages.c.parts, sa.Text).like(pattern, escape="\\")))
    return clauses


def visibility_clause(v: Visibility) -> sa.ColumnElement[bool]:
    watched = sa.exists().where(conversation_watchers.c.conversation_id == _c.id,
                                conversation_watchers.c.agent == v.agent)
    return sa.or_(_c.skill_group.is_(None), _c.skill_group.in_(list(v.groups)),
                  _c.assignee == v.agent, watched)


def _after(cursor: str) -> sa.ColumnElement[bool]:
    position = decode_cursor(_KIND, cursor, ("at", "id"))
    try:
        at = datetime.fromisoformat(position["at"])
    except ValueError:
        raise InvalidCursor("cursor is incomplete") from None
    if at.tzinfo is None:
        raise InvalidCursor("cursor is incomplete")
    return sa.or_(_c.last_message_at < at,
                  sa.and_(_c.last_message_at == at, _c.id < position["id"]))


async def search_conversations(
    db: Database, f: ConversationFilter, *, visibility: Visibility | None = None,
    limit: int = 50, cursor: str | None = None, now: datetime | None = None,
) -> Page[Conversation]:
    """Conversations matching every given filter, latest activity first."""
    check_limit(limit)
    stmt = (sa.select(*CONVERSATION_COLUMNS)
            .where(*_where(f, now or datetime.now(UTC)))
            .order_by(_c.last_message_at.desc(), _c.id.desc()).limit(limit + 1))
    if visibility is not None:
        stmt = stmt.where(visibility_clause(visibility))
    if cursor:
        stmt = stmt.where(_after(cursor))
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    items = [conversation_from_row(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        assert last.last_message_at is not None  # NOT NULL column
        next_cursor = encode_cursor(_KIND, {"at": last.last_message_at.isoformat(),
                                            "id": last.id})
    return Page[Conversation](items=items, next_cursor=next_cursor)


async def can_see(db: Database, conversation_id: str, v: Visibility) -> bool | None:
    """Whether the viewer sees one conversation; None when it does not exist."""
    stmt = sa.select(visibility_clause(v)).where(_c.id == conversation_id)
    async with db.read() as conn:
        row = (await conn.execute(stmt)).first()
    return None if row is None else bool(row[0])
