"""One read transaction that sees the whole store as of a single instant, on each database.

- SQLite (WAL mode): a read transaction is a snapshot from its first read on; writers
  carry on beside it (the WAL grows until the backup ends).
- PostgreSQL: REPEATABLE READ, READ ONLY; the snapshot is taken at the first statement.
- MySQL/MariaDB: REPEATABLE READ and START TRANSACTION WITH CONSISTENT SNAPSHOT, which
  takes the InnoDB read view at once instead of at the first read.

The first statement reads the schema revision, so the revision recorded in a backup is
the one of the rows in it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.store.db import Database

__all__ = ["Snapshot", "snapshot"]

_REVISION = sa.text("SELECT version_num FROM alembic_version")


class Snapshot:
    """The open snapshot: its connection and the schema revision it was taken at."""

    def __init__(self, conn: AsyncConnection, revision: str | None) -> None:
        self.conn = conn
        self.revision = revision


@contextlib.asynccontextmanager
async def snapshot(db: Database) -> AsyncIterator[Snapshot]:
    """A consistent, read-only view of the store for the duration of the block."""
    if db.is_sqlite:
        async with db.read() as conn:
            yield Snapshot(conn, await conn.scalar(_REVISION))
        return
    async with db.reader.connect() as conn:
        if db.dialect == "postgresql":
            conn = await conn.execution_options(isolation_level="REPEATABLE READ",
                                                postgresql_readonly=True)
            async with conn.begin():
                yield Snapshot(conn, await conn.scalar(_REVISION))
        else:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                await conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                yield Snapshot(conn, await conn.scalar(_REVISION))
