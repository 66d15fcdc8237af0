"""Bring a store's schema to the code's revision, and refuse to run against a stale one.

Alembic is driven programmatically (no alembic.ini): the script folder ships inside the
package, and each run borrows one connection from the store's own async engine, so
migrations use exactly the drivers and settings the hub uses.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.store.db import Database, StoreUnavailable

__all__ = [
    "SchemaOutOfDate",
    "alembic_config",
    "check_up_to_date",
    "current_revision",
    "head_revision",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
CONNECT_TIMEOUT_SECONDS = 15.0
# Serialises concurrent `upgrade` calls from several processes on the server databases.
_LOCK_NAME = "omnihub_migrate"
_PG_LOCK_KEY = 0x6F6D6E69  # "omni"


class SchemaOutOfDate(StoreUnavailable):
    """The database's schema revision is not the one this code was written for."""


def alembic_config() -> Config:
    """An Alembic Config pointing at the packaged migrations, built without any ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The revision the code expects: the newest migration shipped with it."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def _is_known(revision: str) -> bool:
    script = ScriptDirectory.from_config(alembic_config())
    return any(known.revision == revision for known in script.walk_revisions())


def _newer_than_code(current: str) -> SchemaOutOfDate:
    return SchemaOutOfDate(
        f"store schema at {current}, which this release does not know (it expects "
        f"{head_revision()}): the store was migrated by a newer omnihub; run that one"
    )


async def _ensure_reachable(db: Database) -> None:
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
            await db.ping()
    except TimeoutError:
        raise StoreUnavailable(
            f"store {db.safe_url} unreachable: no answer within {CONNECT_TIMEOUT_SECONDS:g}s"
        ) from None


async def _lock(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif conn.dialect.name in ("mysql", "mariadb"):
        # Session-level: MySQL DDL commits implicitly, so a transaction lock would not hold.
        got = await conn.scalar(sa.text("SELECT GET_LOCK(:name, 600)"), {"name": _LOCK_NAME})
        if got != 1:
            raise StoreUnavailable("another `omnihub migrate` holds the migration lock")
    # SQLite: db.write() already opened BEGIN IMMEDIATE, which excludes other writers.


async def _unlock(conn: AsyncConnection) -> None:
    if conn.dialect.name in ("mysql", "mariadb"):
        await conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": _LOCK_NAME})


def _revision_of(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade_on(connection: Connection, revision: str) -> str | None:
    before = _revision_of(connection)
    if before is not None and not _is_known(before):
        raise _newer_than_code(before)
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
    return before


async def upgrade(db: Database, revision: str = "head") -> str | None:
    """Apply every migration up to `revision` (a no-op when there); return the prior revision.

    A SQLite store's folder is created first: a fresh machine's `data/` may not exist yet.
    """
    if db.is_sqlite and db.url.database:
        Path(db.url.database).parent.mkdir(parents=True, exist_ok=True)
    await _ensure_reachable(db)
    async with db.write() as conn:
        await _lock(conn)
        try:
            return await conn.run_sync(_upgrade_on, revision)
        finally:
            await _unlock(conn)


async def current_revision(db: Database) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    await _ensure_reachable(db)
    async with db.read() as conn:
        return await conn.run_sync(_revision_of)


async def check_up_to_date(db: Database) -> None:
    """Raise SchemaOutOfDate unless the database is at the code's head revision."""
    current = await current_revision(db)
    expected = head_revision()
    if current is not None and not _is_known(current):
        raise _newer_than_code(current)
    if current != expected:
        raise SchemaOutOfDate(
            f"store schema at {current or 'none (empty database)'}, code expects {expected}: "
            "run `omnihub migrate`"
        )
