"""The backlog per skill group, for the metrics collector: one grouped query.

Same definitions as the stats endpoint (omnihub/store/stats.py): `open` is status open;
`unassigned` and `overdue` count every unresolved conversation (open, pending, snoozed)
with nobody assigned, or past a response or resolution deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from omnihub.normalizer.schema import OPEN_STATUSES
from omnihub.store.conversation_search import overdue_clause
from omnihub.store.db import Database
from omnihub.store.tables import conversations

__all__ = ["GroupBacklog", "backlog_by_group"]

_c = conversations.c


@dataclass(frozen=True, slots=True)
class GroupBacklog:
    group: str | None  # None: not routed to any group
    open: int
    unassigned: int
    overdue: int


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


async def backlog_by_group(db: Database, *, now: datetime | None = None) -> list[GroupBacklog]:
    now = now or datetime.now(UTC)
    query = (sa.select(_c.skill_group, _count(_c.status == "open"),
                       _count(_c.assignee.is_(None)), _count(overdue_clause(now)))
             .where(_c.status.in_(OPEN_STATUSES)).group_by(_c.skill_group))
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [GroupBacklog(group, int(o or 0), int(u or 0), int(d or 0)) for group, o, u, d in rows]
