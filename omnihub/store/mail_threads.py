"""Mail threads: which thread a Message-ID or a ticket number belongs to.

Conversations are found by `thread_key` (with the customer and channel, see
omnihub/store/rows.py:open_key). For e-mail the connector must first learn that key from
evidence in the mail — In-Reply-To/References naming a Message-ID we received or sent,
or the ticket number in the subject — and these are the lookups for it. The ticket
number is the thread row's id: short, and stable for the life of the thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from omnihub.store.db import Database
from omnihub.store.tables import email_message_ids, email_threads

__all__ = ["MailThread", "find_thread", "record_message", "thread_for_answer"]

MAX_REFERENCES = 20  # RFC 5322 lets clients trim; the first and the newest matter most

_t, _m = email_threads.c, email_message_ids.c


@dataclass(frozen=True, slots=True)
class MailThread:
    """What an answer into a thread needs: its ticket number and the mail it answers."""

    token: int
    last_inbound_id: str | None
    references: list[str]
    subject: str | None


def _clip(value: str | None, size: int = 255) -> str | None:
    return value[:size] if value else None


def bounded_references(references: Sequence[str]) -> list[str]:
    """Keep the thread's root and the newest ones (RFC 5322 §3.6.4 allows trimming)."""
    refs = [r for r in references if len(r) <= 255]
    if len(refs) <= MAX_REFERENCES:
        return refs
    return [refs[0], *refs[-(MAX_REFERENCES - 1):]]


async def find_thread(db: Database, channel_id: str, message_ids: Sequence[str],
                      token: str | None) -> str | None:
    """The thread_key of the first known Message-ID (in the order given), else of the
    ticket number; None when neither is known here."""
    wanted = [m for m in message_ids if m and len(m) <= 255]
    async with db.read() as conn:
        if wanted:
            rows = await conn.execute(sa.select(_m.message_id, _m.thread_key).where(
                _m.channel_id == channel_id, _m.message_id.in_(wanted)))
            known = {r.message_id: r.thread_key for r in rows}
            for mid in wanted:
                if mid in known:
                    return str(known[mid])
        if token is not None and token.isdigit() and len(token) < 19:
            key = (await conn.execute(sa.select(_t.thread_key).where(
                _t.channel_id == channel_id, _t.id == int(token)))).scalar()
            if key is not None:
                return str(key)
    return None


async def _ensure_thread(db: Database, channel_id: str, thread_key: str) -> int:
    """The thread's ticket number, creating the thread on first sight."""
    where = (_t.channel_id == channel_id, _t.thread_key == thread_key)
    async with db.read() as conn:
        found = (await conn.execute(sa.select(_t.id).where(*where))).scalar()
    if found is not None:
        return int(found)
    try:
        async with db.write() as conn:
            await conn.execute(sa.insert(email_threads).values(
                channel_id=channel_id, thread_key=thread_key, created_at=datetime.now(UTC)))
    except IntegrityError:
        pass  # created meanwhile by another process
    async with db.read() as conn:
        return int((await conn.execute(sa.select(_t.id).where(*where))).scalar_one())


async def record_message(db: Database, channel_id: str, thread_key: str, message_id: str,
                         *, direction: Literal["in", "out"], subject: str | None,
                         references: Sequence[str]) -> int:
    """Remember a Message-ID of the thread (once; a re-fetch changes nothing); return the
    thread's ticket number."""
    token = await _ensure_thread(db, channel_id, thread_key)
    if not message_id or len(message_id) > 255:
        return token
    try:
        async with db.write() as conn:
            await conn.execute(sa.insert(email_message_ids).values(
                channel_id=channel_id, message_id=message_id, thread_key=thread_key,
                direction=direction, subject=_clip(subject),
                ref_chain=bounded_references(references), created_at=datetime.now(UTC)))
    except IntegrityError:
        pass  # seen before
    return token


async def thread_for_answer(db: Database, channel_id: str, thread_key: str) -> MailThread:
    """The ticket number, and the newest inbound mail of the thread with its References."""
    token = await _ensure_thread(db, channel_id, thread_key)
    async with db.read() as conn:
        row = (await conn.execute(
            sa.select(_m.message_id, _m.subject, _m.ref_chain)
            .where(_m.channel_id == channel_id, _m.thread_key == thread_key,
                   _m.direction == "in")
            .order_by(_m.created_at.desc()).limit(1))).first()
        subject = row.subject if row is not None else (await conn.execute(
            sa.select(_m.subject).where(_m.channel_id == channel_id,
                                        _m.thread_key == thread_key)
            .order_by(_m.created_at.desc()).limit(1))).scalar()
    if row is None:
        return MailThread(token, None, [], subject)
    return MailThread(token, row.message_id, list(row.ref_chain or []), subject)
