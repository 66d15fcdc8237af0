"""Database handle: one async SQLAlchemy code path for SQLite, PostgreSQL and MySQL/MariaDB.

Why two engines on SQLite: SQLite allows one writer at a time, and a deferred
transaction that later tries to write can fail at once with "database is locked"
instead of waiting. Every write therefore goes through `write()`, which on SQLite is a
single connection opening `BEGIN IMMEDIATE`; reads use a separate pool and WAL lets them
run beside the writer. On the server databases both are the same pooled engine.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import RowMapping, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from omnihub.store.pg_reads import AsyncpgReads
from omnihub.store.sqlite_inline import InlineSQLite, is_locked
from omnihub.store.sqlite_reads import InlineReader


class StoreUnavailable(Exception):
    """The database can't be reached or opened; the message says which and why."""


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
}


def async_url(url: str) -> sa.URL:
    """Accept plain URLs (sqlite:///x.db, postgresql://…, mysql://…) and pick the async driver."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if "+" not in parsed.drivername:
        if backend not in DRIVERS:
            raise StoreUnavailable(f"unsupported store.url scheme {parsed.drivername!r}; "
                                   "use sqlite:///, postgresql:// or mysql://")
        parsed = parsed.set(drivername=DRIVERS[backend])
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        parsed = parsed.set(query=query)
    return parsed


def _use_wal(cursor: Any) -> None:
    """WAL is a property of the file: set once, by whichever process comes first. Switching
    takes a lock that SQLite does not wait for (no busy handler), so when several processes
    open a new file at once (`omnihub serve` ×N migrating) the losers retry briefly."""
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() == "wal":
        return
    for attempt in range(100):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.05)  # only ever at the first start on a new file


def _sqlite_pragmas(engine: AsyncEngine, *, begin: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite's implicit BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=10000")
        _use_wal(cursor)
        # FULL: a commit survives power loss, not only a process crash. Group commit
        # keeps this affordable (one fsync per batch).
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


class Database:
    """Engines for one store URL, with `read()` and `write()` transactions."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = async_url(url)
        self.dialect = self.url.get_backend_name()  # sqlite | postgresql | mysql
        common: dict[str, Any] = {
            "echo": echo,
            "json_serializer": _json_dumps,
            "json_deserializer": orjson.loads,
        }
        if self.dialect == "sqlite":
            database = self.url.database or ""
            if database in ("", ":memory:"):
                raise StoreUnavailable("SQLite store needs a file path (sqlite:///data/omnihub.db)")
            # A first start on a fresh machine: the data directory may not exist yet.
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            if self.url.drivername == "sqlite+aiosqlite":
                from omnihub.store.sqlite_driver import one_hop_dbapi

                common["module"] = one_hop_dbapi()  # one thread hop per statement, not four
            self.writer = create_async_engine(self.url, pool_size=1, max_overflow=0, **common)
            self.reader = create_async_engine(self.url, pool_size=8, max_overflow=8, **common)
            _sqlite_pragmas(self.writer, begin="BEGIN IMMEDIATE")
            _sqlite_pragmas(self.reader, begin="BEGIN")
            self.fetch_pool: AsyncEngine | None = None  # `fetch` reads on the loop's thread
            self.pg_reads: AsyncpgReads | None = None
            self.batch_pool: AsyncEngine | None = None  # the ingest writer runs inline
            self.inline: InlineSQLite | None = InlineSQLite(
                self.url, json_serializer=_json_dumps, json_deserializer=orjson.loads)
            self.quick_reads: InlineReader | None = InlineReader(
                self.url, json_serializer=_json_dumps, json_deserializer=orjson.loads)
        else:
            kwargs: dict[str, Any] = {"pool_size": 10, "max_overflow": 10, "pool_pre_ping": True}
            if self.dialect == "mysql":
                kwargs["isolation_level"] = "READ COMMITTED"
                kwargs["pool_recycle"] = 3600
            self.writer = create_async_engine(self.url, **kwargs, **common)
            self.reader = self.writer
            # `fetch`'s own small pool, without pre-ping: pinging doubled the round trips
            # of a one-statement read (a history page). A connection found dead is
            # retried once on a fresh one instead (a SELECT can safely run again).
            # Autocommit for the whole engine: set once per connection, not per checkout.
            unpinged = {**kwargs, "pool_pre_ping": False, "pool_recycle": 1800}
            self.fetch_pool = create_async_engine(
                self.url, **{**unpinged, "pool_size": 4, "max_overflow": 8,
                             "isolation_level": "AUTOCOMMIT"}, **common)
            # The ingest writer's own pool, also without pre-ping: the ping was one more
            # round trip in every batch's chain of them, and the writer waits on each.
            # A batch that finds its connection dead is run again on a fresh one
            # (IngestWriter; the batch is idempotent).
            self.batch_pool = create_async_engine(
                self.url, **{**unpinged, "pool_size": 2, "max_overflow": 2}, **common)
            self.inline = None
            self.quick_reads = None
            self.pg_reads = AsyncpgReads(self.fetch_pool) if self.dialect == "postgresql" else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed on normal exit, rolled back on an exception."""
        async with self.writer.begin() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def batch_write(self) -> AsyncIterator[AsyncConnection]:
        """The ingest writer's transaction. On SQLite it runs on the event loop's thread
        and commits beside it (omnihub/store/sqlite_inline.py explains why); elsewhere it
        is a transaction on the writer's own pool, whose connections are not pinged: a
        dead one raises with `connection_invalidated` set, and the caller runs the batch
        again."""
        if self.inline is None:
            assert self.batch_pool is not None
            async with self.batch_pool.begin() as conn:
                yield conn
            return
        async with self.inline.transaction() as inline:
            yield cast(AsyncConnection, inline)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction on the reader pool."""
        async with self.reader.connect() as conn:
            async with conn.begin():
                yield conn

    async def fetch(self, statement: Any, parameters: Mapping[str, Any] | None = None
                    ) -> Sequence[RowMapping]:
        """The rows of one SELECT that somebody waits on (a page of history).

        On SQLite it runs on the loop's thread (omnihub/store/sqlite_reads.py), falling
        back to the reader pool when SQLite is busy. On the servers it runs in autocommit:
        one statement is its own transaction, so the BEGIN and ROLLBACK round trips of
        `read()` would add nothing but latency; on PostgreSQL, from a plan straight on
        asyncpg (omnihub/store/pg_reads.py)."""
        if self.quick_reads is not None:
            try:
                return await self.quick_reads.fetch(statement, parameters)
            except OperationalError as exc:
                if not is_locked(exc):
                    raise
            async with self.read() as conn:
                return (await conn.execute(statement, parameters)).mappings().all()
        try:
            return await self._fetch_on_pool(statement, parameters)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        # The server had closed that pooled connection (restart, idle timeout): SQLAlchemy
        # has discarded it, and this checkout connects anew.
        return await self._fetch_on_pool(statement, parameters)

    async def _fetch_on_pool(self, statement: Any, parameters: Mapping[str, Any] | None
                             ) -> Sequence[RowMapping]:
        assert self.fetch_pool is not None
        if self.pg_reads is not None:
            rows = await self.pg_reads.fetch(statement, parameters)
            if rows is not None:
                return rows
        async with self.fetch_pool.connect() as conn:
            return (await conn.execute(statement, parameters)).mappings().all()

    async def ping(self) -> None:
        """Raise StoreUnavailable unless a trivial query answers."""
        try:
            async with self.reader.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except Exception as exc:  # driver errors differ per backend
            # The driver's own message, without SQLAlchemy's "(Background on this error …)".
            detail = getattr(exc, "orig", None) or exc
            raise StoreUnavailable(f"store {self.safe_url} unreachable: {detail}") from exc

    @property
    def safe_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    async def dispose(self) -> None:
        if self.inline is not None:
            self.inline.close()
        if self.quick_reads is not None:
            self.quick_reads.close()
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
        for pool in (self.fetch_pool, self.batch_pool):
            if pool is not None:
                await pool.dispose()
