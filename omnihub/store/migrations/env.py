"""Alembic environment: runs on the connection that omnihub.store.migrate hands in.

Why no URL handling here: the store's async engines (aiosqlite, asyncpg, aiomysql) are
built by omnihub.store.db, and migrate.py passes a synchronous view of one of their
connections through `config.attributes["connection"]`. The `alembic` command line works
too (`-x url=...` or sqlalchemy.url), through a throwaway async engine and `run_sync`.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from omnihub.store.db import Database
from omnihub.store.tables import metadata

config = context.config


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite can't ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    database = Database(url)
    try:
        async with database.write() as conn:
            await conn.run_sync(_configure_and_run)
    finally:
        await database.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database: pass -x url=... or run `omnihub migrate`")
    asyncio.run(_run_with_own_engine(url))


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run `omnihub migrate`")
run_migrations_online()
