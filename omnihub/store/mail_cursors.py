"""IMAP mailbox cursors: the last UID taken in per (channel, mailbox), under its UIDVALIDITY.

A cursor moves only after the mail up to it is committed, so a crash re-fetches at most
the mail in flight (and ingest dedupes it). Writes are fenced with the poller lease's
token: once a newer holder has written, an older one that lost its lease is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from omnihub.store.db import Database
from omnihub.store.tables import email_cursors

__all__ = ["Cursor", "load_cursor", "save_cursor"]

_c = email_cursors.c


@dataclass(frozen=True, slots=True)
class Cursor:
    uidvalidity: int
    last_uid: int


async def load_cursor(db: Database, channel_id: str, mailbox: str) -> Cursor | None:
    async with db.read() as conn:
        row = (await conn.execute(sa.select(_c.uidvalidity, _c.last_uid).where(
            _c.channel_id == channel_id, _c.mailbox == mailbox))).first()
    return None if row is None else Cursor(int(row.uidvalidity), int(row.last_uid))


async def save_cursor(db: Database, channel_id: str, mailbox: str, cursor: Cursor,
                      fencing_token: int) -> bool:
    """Move the cursor; False when a poller with a newer lease token has written since."""
    values = {"uidvalidity": cursor.uidvalidity, "last_uid": cursor.last_uid,
              "fencing_token": fencing_token, "updated_at": datetime.now(UTC)}
    for _ in range(2):  # an insert that loses its race becomes an update
        async with db.write() as conn:
            moved = await conn.execute(sa.update(email_cursors).where(
                _c.channel_id == channel_id, _c.mailbox == mailbox,
                _c.fencing_token <= fencing_token).values(**values))
            if moved.rowcount == 1:
                return True
            exists = (await conn.execute(sa.select(_c.fencing_token).where(
                _c.channel_id == channel_id, _c.mailbox == mailbox))).first()
            if exists is not None:
                return False  # fenced out: someone newer holds the mailbox
        try:
            async with db.write() as conn:
                await conn.execute(sa.insert(email_cursors).values(
                    channel_id=channel_id, mailbox=mailbox, **values))
            return True
        except IntegrityError:
            continue
    return False
