"""Agents as assignment sees them: availability (set through the API) and open load.

Availability is one row per agent (no row: offline). Open load is counted from the
conversations themselves, never kept as a counter, so it cannot drift from the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from omnihub.normalizer.schema import OPEN_STATUSES
from omnihub.store.audit import Actor, write_audit
from omnihub.store.db import Database
from omnihub.store.events import event_row, write_outbox
from omnihub.store.tables import agent_status, conversations
from omnihub.store.value_lists import PerDialect, one_of, values_param

__all__ = ["AVAILABILITIES", "AgentStatus", "Availability", "availability_of", "open_loads",
           "set_availability"]

Availability = Literal["online", "away", "offline"]
AVAILABILITIES: tuple[Availability, ...] = ("online", "away", "offline")
_a = agent_status.c
_c = conversations.c


@dataclass(frozen=True, slots=True)
class AgentStatus:
    agent: str
    availability: Availability
    updated_at: datetime | None


async def set_availability(db: Database, agent: str, availability: Availability, *,
                           actor: Actor, on_commit: Callable[[], object] | None = None,
                           now: datetime | None = None) -> tuple[AgentStatus, bool]:
    """Set an agent's availability; return it and whether it changed (idempotent).

    A change emits `agent.availability` (the assigner hands the queue out when an agent
    comes online) and is audited, in the same transaction.
    """
    if availability not in AVAILABILITIES:
        raise ValueError(f"availability must be one of {', '.join(AVAILABILITIES)}")
    if not 1 <= len(agent) <= 80:
        raise ValueError("agent must be 1 to 80 characters")
    now = now or datetime.now(UTC)
    async with db.write() as conn:
        row = (await conn.execute(sa.select(_a.availability, _a.updated_at)
                                  .where(_a.agent == agent))).first()
        before = row.availability if row is not None else "offline"
        if row is not None and before == availability:
            return AgentStatus(agent, availability, row.updated_at), False
        if row is None:
            await conn.execute(sa.insert(agent_status).values(
                agent=agent, availability=availability, updated_at=now))
        else:
            await conn.execute(sa.update(agent_status).where(_a.agent == agent).values(
                availability=availability, updated_at=now))
        data = {"agent": agent, "availability": availability, "previous": before,
                "actor": actor.author}
        await write_outbox(conn, [event_row("agent.availability", data, key=None, now=now)])
        await write_audit(conn, actor, "agent.availability", "agent", agent,
                          before={"availability": before}, after={"availability": availability},
                          now=now)
    if on_commit is not None:
        on_commit()
    return AgentStatus(agent, availability, now), True


# The assigner reads these on every routing event: statements built once, so that on
# SQLite they run from a compiled plan on the loop's thread (Database.fetch).
_AVAILABILITY = sa.select(_a.agent, _a.availability, _a.updated_at)
_AVAILABILITY_OF = PerDialect(
    lambda dialect: _AVAILABILITY.where(one_of(_a.agent, "agents", dialect=dialect)))
_LOADS = (sa.select(_c.assignee, sa.func.count().label("open"))
          .where(_c.assignee.is_not(None), _c.status.in_(OPEN_STATUSES))
          .group_by(_c.assignee))
_LOADS_OF = PerDialect(lambda dialect: _LOADS.where(one_of(_c.assignee, "agents",
                                                          dialect=dialect)))


async def _of_agents(db: Database, every: sa.Select[Any], some: PerDialect[sa.Select[Any]],
                     agents: Collection[str] | None) -> Sequence[RowMapping]:
    """`every` for all agents (None), else `some` narrowed to the given ones."""
    if agents is None:
        return await db.fetch(every)
    if not agents:
        return []
    dialect = db.writer.dialect
    return await db.fetch(some(dialect), {"agents": values_param(sorted(agents), dialect)})


async def availability_of(db: Database, agents: Collection[str] | None = None
                          ) -> dict[str, AgentStatus]:
    """Stored availability of the given agents (all agents with a row when None)."""
    rows = await _of_agents(db, _AVAILABILITY, _AVAILABILITY_OF, agents)
    return {r["agent"]: AgentStatus(r["agent"], r["availability"], r["updated_at"]) for r in rows}


async def open_loads(db: Database, agents: Collection[str] | None = None) -> dict[str, int]:
    """Open (open, pending, snoozed) conversations per assignee; agents with none are left out."""
    rows = await _of_agents(db, _LOADS, _LOADS_OF, agents)
    return {r["assignee"]: int(r["open"]) for r in rows}
