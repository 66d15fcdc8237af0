"""Canned replies in the store: create, list, read, change, delete — each change audited.

The body's variables are checked by the caller (inbox/templating.py) before anything
is written; the store only keeps shortcuts unique.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from omnihub.normalizer.ids import new_id
from omnihub.store.audit import Actor, write_audit
from omnihub.store.db import Database
from omnihub.store.errors import NotFound, StoreError
from omnihub.store.tables import canned_replies

__all__ = ["CannedReply", "ShortcutTaken", "create_canned", "delete_canned", "find_canned",
           "get_canned", "list_canned", "update_canned"]

_r = canned_replies.c


class CannedReply(BaseModel):
    id: str
    shortcut: str
    title: str | None = None
    body: str
    created_by: str
    created_at: datetime
    updated_at: datetime


class ShortcutTaken(StoreError):
    """Another canned reply already has this shortcut (answered 409)."""


def _reply(row: Any) -> CannedReply:
    return CannedReply.model_validate(dict(row))


async def list_canned(db: Database, *, prefix: str | None = None) -> list[CannedReply]:
    """All canned replies by shortcut; `prefix` narrows them as an agent types `/ref`."""
    stmt = sa.select(canned_replies).order_by(_r.shortcut)
    if prefix:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(_r.shortcut.like(f"{escaped}%", escape="\\"))
    async with db.read() as conn:
        return [_reply(r) for r in (await conn.execute(stmt)).mappings()]


async def get_canned(db: Database, reply_id: str) -> CannedReply:
    async with db.read() as conn:
        row = (await conn.execute(sa.select(canned_replies).where(_r.id == reply_id))
               ).mappings().first()
    if row is None:
        raise NotFound(f"no canned reply with id {reply_id!r}")
    return _reply(row)


async def find_canned(db: Database, shortcut: str) -> CannedReply:
    async with db.read() as conn:
        row = (await conn.execute(sa.select(canned_replies).where(_r.shortcut == shortcut))
               ).mappings().first()
    if row is None:
        raise NotFound(f"no canned reply with shortcut {shortcut!r}")
    return _reply(row)


async def create_canned(db: Database, *, shortcut: str, body: str, title: str | None,
                        actor: Actor) -> CannedReply:
    now = datetime.now(UTC)
    reply = CannedReply(id=new_id(), shortcut=shortcut, title=title, body=body,
                        created_by=actor.agent, created_at=now, updated_at=now)
    try:
        async with db.write() as conn:
            await conn.execute(sa.insert(canned_replies).values(**reply.model_dump()))
            await write_audit(conn, actor, "canned.create", "canned_reply", reply.id,
                              before=None, after=reply.model_dump(mode="json"), now=now)
    except IntegrityError:
        raise ShortcutTaken(f"shortcut {shortcut!r} is already taken") from None
    return reply


async def update_canned(db: Database, reply_id: str, fields: dict[str, Any], *,
                        actor: Actor) -> CannedReply:
    """Change shortcut, title and/or body; a change to nothing writes nothing."""
    now = datetime.now(UTC)
    try:
        async with db.write() as conn:
            row = (await conn.execute(sa.select(canned_replies).where(_r.id == reply_id))
                   ).mappings().first()
            if row is None:
                raise NotFound(f"no canned reply with id {reply_id!r}")
            before = _reply(row)
            changes = {k: v for k, v in fields.items() if getattr(before, k) != v}
            if not changes:
                return before
            await conn.execute(sa.update(canned_replies).where(_r.id == reply_id)
                               .values(**changes, updated_at=now))
            after = before.model_copy(update={**changes, "updated_at": now})
            await write_audit(conn, actor, "canned.update", "canned_reply", reply_id,
                              before=before.model_dump(mode="json"),
                              after=after.model_dump(mode="json"), now=now)
    except IntegrityError:
        raise ShortcutTaken(f"shortcut {fields.get('shortcut')!r} is already taken") from None
    return after


async def delete_canned(db: Database, reply_id: str, *, actor: Actor) -> None:
    async with db.write() as conn:
        row = (await conn.execute(sa.select(canned_replies).where(_r.id == reply_id))
               ).mappings().first()
        if row is None:
            raise NotFound(f"no canned reply with id {reply_id!r}")
        await conn.execute(sa.delete(canned_replies).where(_r.id == reply_id))
        await write_audit(conn, actor, "canned.delete", "canned_reply", reply_id,
                          before=_reply(row).model_dump(mode="json"), after=None)
