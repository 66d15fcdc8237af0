"""Knowledge-base entries in the store: create, read, list, change, delete — versioned.

Every change bumps the entry's `version` and writes a kb_entry_versions row with the
actor and the entry before and after, in the same transaction; its phrasings (question
and paraphrases) are re-indexed there too, so search never sees a half-changed entry.
Agent API changes also go to the audit log, like every other state change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.kb.models import Entry, EntryChange, EntryIn, EntryVersion
from omnihub.kb.text import terms
from omnihub.normalizer.ids import new_id
from omnihub.store.audit import Actor, write_audit
from omnihub.store.db import Database
from omnihub.store.errors import NotFound
from omnihub.store.tables import kb_entries, kb_entry_versions, kb_phrases

__all__ = ["create_entry", "delete_entry", "entry_versions", "get_entries", "get_entry",
           "list_entries", "record_feedback", "update_entry"]

_e, _v, _p = kb_entries.c, kb_entry_versions.c, kb_phrases.c


def _entry(row: Any) -> Entry:
    return Entry.model_validate(dict(row))


def _who(actor: Actor | str) -> str:
    return actor.agent if isinstance(actor, Actor) else actor


def phrasings(entry: EntryIn) -> list[str]:
    """The texts a question is matched against: the question, then each paraphrase."""
    return [entry.question, *entry.paraphrases]


async def _index(conn: AsyncConnection, entry: EntryIn, entry_id: str, *, fresh: bool) -> None:
    if not fresh:
        await conn.execute(sa.delete(kb_phrases).where(_p.entry_id == entry_id))
    rows = []
    for text in phrasings(entry):
        words = terms(text)
        if words:
            rows.append({"entry_id": entry_id, "terms": " ".join(words), "length": len(words)})
    if rows:
        await conn.execute(sa.insert(kb_phrases), rows)


async def _version(conn: AsyncConnection, entry_id: str, version: int, action: str,
                   actor: Actor | str, before: Entry | None, after: Entry | None,
                   now: datetime) -> None:
    before_json = before.model_dump(mode="json") if before else None
    after_json = after.model_dump(mode="json") if after else None
    await conn.execute(sa.insert(kb_entry_versions).values(
        entry_id=entry_id, version=version, action=action, actor=_who(actor),
        before=before_json, after=after_json, created_at=now))
    if isinstance(actor, Actor):
        await write_audit(conn, actor, f"kb.{action}", "kb_entry", entry_id,
                          before=before_json, after=after_json, now=now)


async def create_entry(db: Database, data: EntryIn, *, actor: Actor | str,
                       action: str = "create") -> Entry:
    now = datetime.now(UTC)
    who = _who(actor)
    entry = Entry(**data.model_dump(), id=new_id(), version=1, created_by=who, updated_by=who,
                  created_at=now, updated_at=now)
    async with db.write() as conn:
        await conn.execute(sa.insert(kb_entries).values(**entry.model_dump(mode="json") | {
            "created_at": now, "updated_at": now}))
        await _index(conn, entry, entry.id, fresh=True)
        await _version(conn, entry.id, 1, action, actor, None, entry, now)
    return entry


async def _locked(conn: AsyncConnection, entry_id: str) -> Entry:
    row = (await conn.execute(sa.select(kb_entries).where(_e.id == entry_id).with_for_update()
                              )).mappings().first()
    if row is None:
        raise NotFound(f"no knowledge-base entry with id {entry_id!r}")
    return _entry(row)


async def update_entry(db: Database, entry_id: str, change: EntryChange | dict[str, Any], *,
                       actor: Actor | str, action: str = "update") -> Entry:
    """Apply the given fields; a change to nothing writes nothing (no new version)."""
    fields = (change.model_dump(exclude_unset=True, mode="json")
              if isinstance(change, EntryChange) else dict(change))
    now = datetime.now(UTC)
    async with db.write() as conn:
        before = await _locked(conn, entry_id)
        current = before.model_dump(mode="json")
        changes = {k: v for k, v in fields.items() if current.get(k) != v}
        if not changes:
            return before
        after = Entry.model_validate(current | changes | {
            "version": before.version + 1, "updated_by": _who(actor), "updated_at": now})
        await conn.execute(sa.update(kb_entries).where(_e.id == entry_id).values(
            **{k: after.model_dump(mode="json")[k] for k in changes},
            version=after.version, updated_by=after.updated_by, updated_at=now))
        if {"question", "paraphrases"} & changes.keys():
            await _index(conn, after, entry_id, fresh=False)
        await _version(conn, entry_id, after.version, action, actor, before, after, now)
    return after


async def delete_entry(db: Database, entry_id: str, *, actor: Actor | str) -> None:
    """Remove the entry and its index rows; its versions stay, ending with the deletion."""
    now = datetime.now(UTC)
    async with db.write() as conn:
        before = await _locked(conn, entry_id)
        await conn.execute(sa.delete(kb_phrases).where(_p.entry_id == entry_id))
        await conn.execute(sa.delete(kb_entries).where(_e.id == entry_id))
        await _version(conn, entry_id, before.version + 1, "delete", actor, before, None, now)


async def get_entry(db: Database, entry_id: str) -> Entry:
    async with db.read() as conn:
        row = (await conn.execute(sa.select(kb_entries).where(_e.id == entry_id))
               ).mappings().first()
    if row is None:
        raise NotFound(f"no knowledge-base entry with id {entry_id!r}")
    return _entry(row)


async def get_entries(conn: AsyncConnection, ids: Iterable[str]) -> dict[str, Entry]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await conn.execute(sa.select(kb_entries).where(_e.id.in_(wanted)))
    return {r["id"]: _entry(r) for r in rows.mappings()}


async def list_entries(db: Database, *, tag: str | None = None, language: str | None = None,
                       limit: int | None = None, after: str | None = None) -> list[Entry]:
    """Entries in id (creation) order; `after` is the last id of the previous page."""
    stmt = sa.select(kb_entries).order_by(_e.id)
    if language is not None:
        stmt = stmt.where(_e.language == language)
    if after is not None:
        stmt = stmt.where(_e.id > after)
    async with db.read() as conn:
        entries = [_entry(r) for r in (await conn.execute(stmt)).mappings()]
    if tag is not None:  # JSON containment differs per database; KBs are small
        entries = [e for e in entries if tag in e.tags]
    return entries[:limit] if limit is not None else entries


async def entry_versions(db: Database, entry_id: str) -> list[EntryVersion]:
    """Every recorded change, oldest first; 404 only when the id never existed."""
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(kb_entry_versions).where(_v.entry_id == entry_id)
                                   .order_by(_v.version))).mappings().all()
    if not rows:
        raise NotFound(f"no knowledge-base entry with id {entry_id!r}")
    return [EntryVersion.model_validate(dict(r)) for r in rows]


async def record_feedback(conn: AsyncConnection, entry_ids: Sequence[str], helpful: bool) -> None:
    """Count a customer's "did this help?" answer (not a version: content did not change)."""
    if not entry_ids:
        return
    column = _e.helpful if helpful else _e.unhelpful
    await conn.execute(sa.update(kb_entries).where(_e.id.in_(list(entry_ids)))
                       .values({column: column + 1}))
