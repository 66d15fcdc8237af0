"""Inbox statistics: the backlog as it is now, and how a time range's conversations went.

Two kinds of numbers, both narrowed by `group` and `agent` when given:
- the backlog, now: unresolved (open, pending or snoozed), of those open, unassigned and
  overdue (a deadline passed and not met, as in the inbox's `overdue` filter), in total,
  by group and by agent — one GROUP BY query;
- the range's conversations (created in [start, end)): first-response and resolution
  times (median and p90, in seconds), the first-response SLA hit rate and CSAT. The
  durations are fetched as timestamp pairs and reduced here, which keeps the SQL the same
  on SQLite, PostgreSQL and MySQL (no percentile functions there) and is cheap for one
  range's conversations.

Resolution time runs from creation to `resolved_at`, or `closed_at` for a conversation
closed without being resolved. The SLA hit rate counts conversations with a first-response
deadline: met when answered by it, missed when answered later or still unanswered after
it; those still inside their deadline are not counted either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from omnihub.normalizer.schema import OPEN_STATUSES
from omnihub.store.conversation_search import overdue_clause
from omnihub.store.db import Database
from omnihub.store.tables import conversations

__all__ = ["Backlog", "Durations", "InboxStats", "StatsQuery", "inbox_stats", "percentile"]

_c = conversations.c


@dataclass(frozen=True, slots=True)
class StatsQuery:
    start: datetime
    end: datetime
    group: str | None = None
    agent: str | None = None


class Backlog(BaseModel):
    unresolved: int = 0
    open: int = 0
    unassigned: int = 0
    overdue: int = 0


class GroupBacklog(Backlog):
    group: str | None


class AgentBacklog(Backlog):
    agent: str | None


class Durations(BaseModel):
    count: int
    median_seconds: float | None
    p90_seconds: float | None


class SlaRate(BaseModel):
    met: int
    missed: int
    hit_rate: float | None


class Csat(BaseModel):
    count: int
    average: float | None


class InboxStats(BaseModel):
    start: datetime
    end: datetime
    now: datetime
    backlog: Backlog
    backlog_by_group: list[GroupBacklog]
    backlog_by_agent: list[AgentBacklog]
    conversations: int
    first_response: Durations
    resolution: Durations
    first_response_sla: SlaRate
    csat: Csat


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None when empty."""
    if not sorted_values:
        return None
    rank = (len(sorted_values) - 1) * fraction
    low = int(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def _durations(pairs: list[tuple[datetime, datetime | None]]) -> Durations:
    values = sorted(max((end - start).total_seconds(), 0.0) for start, end in pairs
                    if end is not None)
    return Durations(count=len(values), median_seconds=percentile(values, 0.5),
                     p90_seconds=percentile(values, 0.9))


def _narrowed(query: StatsQuery) -> list[sa.ColumnElement[bool]]:
    where = []
    if query.group is not None:
        where.append(_c.skill_group == query.group)
    if query.agent is not None:
        where.append(_c.assignee == query.agent)
    return where


def _count(condition: sa.ColumnElement[bool]) -> Any:
    return sa.func.sum(sa.case((condition, 1), else_=0))


async def _backlog(conn: Any, query: StatsQuery, now: datetime
                   ) -> tuple[Backlog, list[GroupBacklog], list[AgentBacklog]]:
    rows = (await conn.execute(
        sa.select(_c.skill_group, _c.assignee, sa.func.count().label("unresolved"),
                  _count(_c.status == "open").label("open"),
                  _count(_c.assignee.is_(None)).label("unassigned"),
                  _count(overdue_clause(now)).label("overdue"))
        .where(_c.status.in_(OPEN_STATUSES), *_narrowed(query))
        .group_by(_c.skill_group, _c.assignee))).all()
    total = Backlog()
    groups: dict[str | None, GroupBacklog] = {}
    agents: dict[str | None, AgentBacklog] = {}
    for row in rows:
        group = groups.setdefault(row.skill_group, GroupBacklog(group=row.skill_group))
        agent = agents.setdefault(row.assignee, AgentBacklog(agent=row.assignee))
        for target in (total, group, agent):
            for name in ("unresolved", "open", "unassigned", "overdue"):
                setattr(target, name, getattr(target, name) + int(getattr(row, name) or 0))

    def order(key: str | None) -> tuple[bool, str]:
        return (key is None, key or "")
    return (total, [groups[k] for k in sorted(groups, key=order)],
            [agents[k] for k in sorted(agents, key=order)])


def _aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


async def inbox_stats(db: Database, query: StatsQuery, *, now: datetime | None = None
                      ) -> InboxStats:
    now = now or datetime.now(UTC)
    async with db.read() as conn:
        backlog, by_group, by_agent = await _backlog(conn, query, now)
        rows = (await conn.execute(
            sa.select(_c.created_at, _c.first_response_at, _c.first_response_due,
                      _c.resolved_at, _c.closed_at, _c.csat)
            .where(_c.created_at >= query.start, _c.created_at < query.end,
                   *_narrowed(query)))).all()
    first, resolved, ratings = [], [], []
    met = missed = 0
    for row in rows:
        created, answered = _aware(row.created_at), _aware(row.first_response_at)
        due = _aware(row.first_response_due)
        assert created is not None
        first.append((created, answered))
        resolved.append((created, _aware(row.resolved_at) or _aware(row.closed_at)))
        if due is not None:
            if answered is not None and answered <= due:
                met += 1
            elif answered is not None or due < now:
                missed += 1
        if row.csat is not None:
            ratings.append(row.csat)
    return InboxStats(
        start=query.start, end=query.end, now=now, backlog=backlog,
        backlog_by_group=by_group, backlog_by_agent=by_agent, conversations=len(rows),
        first_response=_durations(first), resolution=_durations(resolved),
        first_response_sla=SlaRate(met=met, missed=missed,
                                   hit_rate=met / (met + missed) if met + missed else None),
        csat=Csat(count=len(ratings),
                  average=sum(ratings) / len(ratings) if ratings else None))
