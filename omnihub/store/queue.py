"""A skill group's queue and the facts automatic assignment reads: who waits, in what
order, who served a customer last, where the round-robin rotation stands.

The queue is not a table: it is the group's open, unassigned conversations, read in
serving order (priority first, then the longest waiting). Assigning one is conditional
(still unassigned, still in that group), so several hub processes handing out the same
queue never give one conversation to two agents.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.normalizer.schema import OPEN_STATUSES, Conversation
from omnihub.store.audit import Actor
from omnihub.store.conversation_ops import Change, apply_change
from omnihub.store.db import Database
from omnihub.store.tables import agent_status, conversations, routing_rotation
from omnihub.store.value_lists import PerDialect, one_of, values_param

__all__ = ["ROUTER_ACTOR", "Waiting", "assign_from_queue", "last_agents", "queued",
           "rotation_of", "save_rotation"]

ROUTER_ACTOR = Actor("router", "system")
# A snoozed conversation is not waiting for anyone; a pending one is held by the FAQ bot
# (omnihub/bot) until it hands over, which makes it open.
QUEUED_STATUSES = ("open",)
_c = conversations.c
_r = routing_rotation.c


@dataclass(frozen=True, slots=True)
class Waiting:
    """A conversation in a group's queue."""

    conversation_id: str
    customer_id: str
    priority: int
    waiting_since: datetime


# Read on routing events: statements built once (see omnihub/store/agents.py).
_SINCE = sa.func.coalesce(_c.waiting_since, _c.created_at)
_QUEUED = (sa.select(_c.id, _c.customer_id, _c.priority, _SINCE.label("since"))
           .where(_c.skill_group == sa.bindparam("group"), _c.assignee.is_(None),
                  _c.status.in_(QUEUED_STATUSES))
           .order_by(_c.priority.desc(), _SINCE, _c.id).limit(sa.bindparam("limit")))
_LAST_AGENTS = PerDialect(lambda dialect: sa.select(_c.customer_id, _c.assignee)
                          .where(one_of(_c.customer_id, "customers", dialect=dialect),
                                 _c.assignee.is_not(None))
                          .order_by(_c.updated_at.desc(), _c.id.desc()))
_ROTATION = PerDialect(lambda dialect: sa.select(_r.skill_group, _r.last_agent)
                       .where(one_of(_r.skill_group, "groups", dialect=dialect)))


async def queued(db: Database, group: str, *, limit: int = 200) -> list[Waiting]:
    """The group's unassigned open conversations in serving order."""
    rows = await db.fetch(_QUEUED, {"group": group, "limit": limit})
    return [Waiting(r["id"], r["customer_id"], r["priority"], _aware(r["since"])) for r in rows]


def _aware(at: datetime) -> datetime:
    """coalesce() bypasses the column type on some drivers: make the result aware UTC."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def last_agents(db: Database, customer_ids: Collection[str]) -> dict[str, str]:
    """For sticky groups: the agent each customer's most recent assigned conversation has."""
    if not customer_ids:
        return {}
    dialect = db.writer.dialect
    found: dict[str, str] = {}
    for row in await db.fetch(_LAST_AGENTS(dialect),
                              {"customers": values_param(sorted(customer_ids), dialect)}):
        found.setdefault(row["customer_id"], row["assignee"])
    return found


async def rotation_of(db: Database, groups: Collection[str]) -> dict[str, str]:
    """The round-robin pointer of each group: the agent served last."""
    if not groups:
        return {}
    dialect = db.writer.dialect
    rows = await db.fetch(_ROTATION(dialect), {"groups": values_param(sorted(groups), dialect)})
    return {row["skill_group"]: row["last_agent"] for row in rows}


async def save_rotation(db: Database, group: str, agent: str) -> None:
    """Move a group's round-robin pointer (an upsert that works on all three databases)."""
    now = datetime.now(UTC)
    async with db.write() as conn:
        updated = await conn.execute(sa.update(routing_rotation).where(_r.skill_group == group)
                                     .values(last_agent=agent, updated_at=now))
        if updated.rowcount:
            return
        try:
            async with conn.begin_nested():
                await conn.execute(sa.insert(routing_rotation).values(
                    skill_group=group, last_agent=agent, updated_at=now))
        except IntegrityError:  # another process created it first: ours is as good
            await conn.execute(sa.update(routing_rotation).where(_r.skill_group == group)
                               .values(last_agent=agent, updated_at=now))


async def assign_from_queue(db: Database, conversation_id: str, agent: str, group: str, *,
                            strategy: str, on_commit: Callable[[], object] | None = None,
                            capacity: int | None = None) -> Conversation | None:
    """Give a queued conversation to `agent`; None if it left the queue meanwhile, or if
    the agent has `capacity` open conversations by now (another process gave them one)."""
    assigned = False

    def decide(conv: Conversation, now: datetime) -> Change | None:
        if conv.assignee is not None or conv.group != group or conv.status not in QUEUED_STATUSES:
            return None
        return Change("conversation.assigned", {"assignee": agent},
                      {"assignee": agent, "previous_assignee": None,
                       "reason": f"routing: {strategy} in group {group}"})

    async def has_room(conn: AsyncConnection, conv: Conversation) -> bool:
        nonlocal assigned
        assigned = capacity is None or await _load_locked(conn, agent) < capacity
        return assigned

    after = await apply_change(db, conversation_id, ROUTER_ACTOR, "conversation.route_assign",
                               decide, on_commit=on_commit, guard=has_room)
    return after if assigned else None


async def _load_locked(conn: AsyncConnection, agent: str) -> int:
    """The agent's open conversations, counted under a lock on the agent's status row.

    Each process plans assignments from loads it read a moment earlier, so two of them can
    both see room for one more. Locking the agent's row makes their assignment
    transactions take turns, and each counts what the others committed (READ COMMITTED
    on PostgreSQL and MySQL; SQLite has one writer anyway)."""
    if conn.dialect.name != "sqlite":
        await conn.execute(sa.select(agent_status.c.agent).where(agent_status.c.agent == agent)
                           .with_for_update())
    return int(await conn.scalar(
        sa.select(sa.func.count()).select_from(conversations)
        .where(_c.assignee == agent, _c.status.in_(OPEN_STATUSES))) or 0)
