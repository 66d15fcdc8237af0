"""SLA clocks in the store: which conversations are past a deadline, what has already
fired for them, and firing a breach or an escalation step exactly once.

Each firing is one transaction: its `sla_fired` row (the primary key makes a second
firing fail, whichever process tries), its events and any change to the conversation.
When a lease fencing token is given, the transaction also checks that the lease is
still held under it, so a worker that lost its lease mid-pass writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from omnihub.normalizer.schema import OPEN_STATUSES, Conversation
from omnihub.store.audit import Actor, write_audit
from omnihub.store.db import Database
from omnihub.store.events import event_row, write_outbox
from omnihub.store.rows import CONVERSATION_COLUMNS, conversation_from_row
from omnihub.store.tables import conversations, leases, sla_fired

__all__ = ["Fencing", "Firing", "fire", "fired_keys", "overdue"]

SLA_ACTOR = Actor("sla", "system")
_c = conversations.c
_f = sla_fired.c
_l = leases.c


@dataclass(frozen=True, slots=True)
class Fencing:
    """The lease a worker holds; a firing commits only while it still does."""

    name: str
    holder: str
    token: int


@dataclass(slots=True)
class Firing:
    """One breach or step: its key, the events it emits, the columns it changes."""

    key: str
    events: list[tuple[str, dict[str, Any]]]  # (type, data); data gets "conversation" added
    values: dict[str, Any] = field(default_factory=dict)
    action: str = "sla.breach"


async def overdue(db: Database, now: datetime, *, limit: int = 500) -> list[Conversation]:
    """Open conversations with at least one deadline passed and still running."""
    late = sa.or_(
        sa.and_(_c.first_response_due <= now, _c.first_response_at.is_(None)),
        _c.next_response_due <= now,
        _c.resolution_due <= now,
    )
    query = (sa.select(*CONVERSATION_COLUMNS).where(_c.status.in_(OPEN_STATUSES), late)
             .order_by(_c.id).limit(limit))
    async with db.read() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [conversation_from_row(row) for row in rows]


async def fired_keys(db: Database, conversation_ids: Collection[str]) -> dict[str, set[str]]:
    """The keys already fired, per conversation."""
    if not conversation_ids:
        return {}
    found: dict[str, set[str]] = {cid: set() for cid in conversation_ids}
    async with db.read() as conn:
        rows = await conn.execute(sa.select(_f.conversation_id, _f.key)
                                  .where(_f.conversation_id.in_(sorted(conversation_ids))))
        for conversation_id, key in rows:
            found[conversation_id].add(key)
    return found


async def fire(db: Database, conversation_id: str, firing: Firing, *, now: datetime,
               fencing: Fencing | None = None,
               on_commit: Callable[[], object] | None = None) -> Conversation | None:
    """Record and emit one firing; None when it had fired already or the lease is lost."""
    async with db.write() as conn:
        if fencing is not None:
            held = await conn.scalar(sa.select(sa.func.count()).select_from(leases).where(
                _l.name == fencing.name, _l.holder == fencing.holder, _l.token == fencing.token))
            if not held:
                return None
        try:
            async with conn.begin_nested():
                await conn.execute(sa.insert(sla_fired).values(
                    conversation_id=conversation_id, key=firing.key, fired_at=now))
        except IntegrityError:
            return None
        stmt = sa.select(*CONVERSATION_COLUMNS).where(_c.id == conversation_id)
        before = conversation_from_row((await conn.execute(stmt)).mappings().one())
        after = before
        if firing.values:
            await conn.execute(sa.update(conversations).where(_c.id == conversation_id)
                               .values(**firing.values, updated_at=now))
            after = conversation_from_row((await conn.execute(stmt)).mappings().one())
            await write_audit(conn, SLA_ACTOR, firing.action, "conversation", conversation_id,
                              before=before.model_dump(mode="json"),
                              after=after.model_dump(mode="json"), now=now)
        dumped = after.model_dump(mode="json")
        await write_outbox(conn, [
            event_row(kind, {"conversation": dumped, "actor": "system", **data},
                      key=conversation_id, now=now)
            for kind, data in firing.events
        ])
    if on_commit is not None:
        on_commit()
    return after
