"""The audit log: who changed what and when, with the state before and after.

Rows are written by the operation itself, inside its own transaction, so a change and
its audit entry commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.normalizer.ids import new_id
from omnihub.store.db import Database
from omnihub.store.history import check_limit
from omnihub.store.paging import Page, decode_cursor, encode_cursor
from omnihub.store.tables import audit_log

__all__ = ["Actor", "AuditEntry", "list_audit", "write_audit"]

_a = audit_log.c


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs a change: an agent's name and the role it acted with."""

    agent: str
    role: str

    @property
    def author(self) -> str:
        return f"agent:{self.agent}"


class AuditEntry(BaseModel):
    id: str
    actor: str
    role: str
    action: str
    target_type: str
    target_id: str
    before: Any = None
    after: Any = None
    created_at: datetime


async def write_audit(conn: AsyncConnection, actor: Actor, action: str, target_type: str,
                      target_id: str, *, before: Any, after: Any,
                      now: datetime | None = None) -> None:
    """Record one change inside the caller's transaction."""
    await conn.execute(sa.insert(audit_log).values(
        id=new_id(), actor=actor.agent, role=actor.role, action=action,
        target_type=target_type, target_id=target_id, before=before, after=after,
        created_at=now or datetime.now(UTC)))


async def list_audit(db: Database, *, target_id: str | None = None, actor: str | None = None,
                     limit: int = 50, cursor: str | None = None) -> Page[AuditEntry]:
    """Audit entries, newest first, optionally of one target or one actor."""
    check_limit(limit)
    stmt = sa.select(audit_log).order_by(_a.id.desc()).limit(limit + 1)
    if target_id is not None:
        stmt = stmt.where(_a.target_id == target_id)
    if actor is not None:
        stmt = stmt.where(_a.actor == actor)
    if cursor:
        stmt = stmt.where(_a.id < decode_cursor("audit", cursor, ("id",))["id"])
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    items = [AuditEntry.model_validate(dict(r)) for r in rows[:limit]]
    next_cursor = encode_cursor("audit", {"id": items[-1].id}) if len(rows) > limit else None
    return Page[AuditEntry](items=items, next_cursor=next_cursor)
