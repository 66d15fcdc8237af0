"""How each routing.yaml version did: the staged rollout's comparison of stable and canary.

For the conversations created in the range, per `routing_version` (the sha256 of the
routing file that routed each one): first-response time (median, p90), the first-response
SLA hit rate (counted as in omnihub/store/stats.py) and transfers — conversations an
agent transferred at least once and the transfers made, from the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field

from omnihub.store.db import Database
from omnihub.store.stats import Durations, InboxStats, SlaRate, StatsQuery, percentile
from omnihub.store.tables import audit_log, conversations

__all__ = ["InboxStatsByVersion", "VersionStats", "compare_versions"]

_c = conversations.c
TRANSFER = "conversation.transfer"


class Transfers(BaseModel):
    conversations: int = Field(description="conversations transferred at least once")
    total: int = Field(description="transfers made")
    rate: float | None = Field(description="share of the conversations transferred")


class VersionStats(BaseModel):
    version: str
    label: str = Field(description="stable, canary, or earlier (a version no longer in force)")
    conversations: int
    first_response: Durations
    first_response_sla: SlaRate
    transfers: Transfers


class InboxStatsByVersion(InboxStats):
    routing_versions: list[VersionStats] = Field(
        default_factory=list,
        description="the range's conversations per routing version: during a staged "
                    "rollout, stable against canary")


def _aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


class _Tally:
    def __init__(self) -> None:
        self.first: list[float] = []
        self.count = self.met = self.missed = self.transferred = self.transfers = 0


async def compare_versions(db: Database, query: StatsQuery, labels: Mapping[str, str], *,
                           now: datetime | None = None) -> list[VersionStats]:
    """One entry per routing version seen in the range; the labelled ones first."""
    now = now or datetime.now(UTC)
    where = [_c.created_at >= query.start, _c.created_at < query.end,
             _c.routing_version.is_not(None)]
    if query.group is not None:
        where.append(_c.skill_group == query.group)
    if query.agent is not None:
        where.append(_c.assignee == query.agent)
    moves = (sa.select(audit_log.c.target_id, sa.func.count().label("n"))
             .where(audit_log.c.action == TRANSFER).group_by(audit_log.c.target_id)
             .subquery())
    async with db.read() as conn:
        rows = (await conn.execute(
            sa.select(_c.routing_version, _c.created_at, _c.first_response_at,
                      _c.first_response_due, moves.c.n)
            .select_from(conversations.outerjoin(moves, moves.c.target_id == _c.id))
            .where(*where))).all()
    tallies: dict[str, _Tally] = {}
    for row in rows:
        tally = tallies.setdefault(row.routing_version, _Tally())
        created, answered = _aware(row.created_at), _aware(row.first_response_at)
        due = _aware(row.first_response_due)
        assert created is not None
        tally.count += 1
        if answered is not None:
            tally.first.append(max((answered - created).total_seconds(), 0.0))
        if due is not None:
            if answered is not None and answered <= due:
                tally.met += 1
            elif answered is not None or due < now:
                tally.missed += 1
        if row.n:
            tally.transferred += 1
            tally.transfers += int(row.n)
    order = {"canary": 0, "stable": 1}
    result = [_entry(version, labels.get(version, "earlier"), tally)
              for version, tally in tallies.items()]
    return sorted(result, key=lambda v: (order.get(v.label, 2), v.version))


def _entry(version: str, label: str, t: _Tally) -> VersionStats:
    first = sorted(t.first)
    judged = t.met + t.missed
    return VersionStats(
        version=version, label=label, conversations=t.count,
        first_response=Durations(count=len(first), median_seconds=percentile(first, 0.5),
                                 p90_seconds=percentile(first, 0.9)),
        first_response_sla=SlaRate(met=t.met, missed=t.missed,
                                   hit_rate=t.met / judged if judged else None),
        transfers=Transfers(conversations=t.transferred, total=t.transfers,
                            rate=t.transferred / t.count if t.count else None))


def with_versions(stats: InboxStats, versions: list[VersionStats]) -> InboxStatsByVersion:
    values: dict[str, Any] = dict(stats)
    return InboxStatsByVersion(**values, routing_versions=versions)
