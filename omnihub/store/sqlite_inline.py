"""The ingest writer's SQLite connection, driven on the event loop's own thread.

Why not aiosqlite here: Python's sqlite3 releases the GIL around every step of a
statement (every row of an executemany), and a worker thread that wants it back while
the event loop is busy parsing requests waits up to the interpreter's switch interval
(5 ms) each time. Under load a batch of a dozen statements then spent far longer waiting
for the GIL than SQLite spent writing, and every thread hop added a loop wake-up on top.
A group-committed batch is pure CPU plus one fsync, so running it inline is both cheaper
and faster: the loop is blocked only for the batch's own work and its commit (an
fdatasync, ~0.1-0.5 ms here; `omnihub bench` prints it as the disk baseline).

What keeps the loop from ever blocking on somebody else:
- the connection has no busy timeout; `BEGIN IMMEDIATE` that finds the write lock taken
  (another process, or this process's aiosqlite writer) is retried after an `await`ed
  pause, so the holder's own coroutine can run and finish;
- a transaction never awaits anything real inside (the adapter's methods complete
  synchronously), so the lock is held only for the batch's CPU time;
- it does not checkpoint the WAL itself (`wal_autocheckpoint=0`): `checkpoint()` does
  that on a worker thread, which the ingest writer calls every so many commits (see
  omnihub/store/ingest.py).

The WAL restarts from its start only when a transaction begins with every frame of it
already copied into the database. A checkpoint running beside a busy writer never gets
there (the writer appends while it copies), and the WAL then grew without end: 850 MB
after ten seconds of the ingest benchmark, every commit appending to a longer file (and
paying for it: 440 against 350 µs of CPU per message). So once the WAL is long,
`checkpoint()` ends with a pass that holds the writer between two of its transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, OperationalError

from omnihub.store.plans import PlanCache

__all__ = ["InlineConnection", "InlineSQLite", "is_locked", "one_connection_engine"]

CACHE_KIB = 32 * 1024  # the writer's page cache
# A WAL that grew in a burst (or while a reader held an old snapshot) is cut back to this
# when it restarts, instead of keeping its largest size on disk.
WAL_SIZE_LIMIT = 256 * 1024 * 1024
# WAL frames (pages) after which `checkpoint` restarts the WAL: 128 MiB of 4 KiB pages,
# every two or three seconds at full load.
RESTART_FRAMES = 32_768
LOCK_WAIT = 10.0  # seconds to wait for the write lock, as the other connections' busy_timeout
# Short pauses: the other writers hold the lock for milliseconds, and each pause is
# latency added to every message of the batch waiting for it.
_FIRST_PAUSE = 0.0002
_MAX_PAUSE = 0.002


def is_locked(exc: OperationalError) -> bool:
    """SQLite refused for a lock another connection holds (SQLITE_BUSY / SQLITE_LOCKED)."""
    orig = exc.orig
    return isinstance(orig, sqlite3.OperationalError) and (
        getattr(orig, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
        or "locked" in str(orig)
    )


class InlineConnection:
    """The AsyncConnection methods the ingest path uses, completing without suspending.

    Results are SQLAlchemy's buffered `CursorResult`s, the same objects an
    AsyncConnection returns, so the statement code is shared with the other backends.
    """

    __slots__ = ("_plans", "_sync")

    def __init__(self, sync: Connection, plans: PlanCache) -> None:
        self._sync = sync
        self._plans = plans

    @property
    def dialect(self) -> Dialect:
        return self._sync.dialect

    async def execute(self, statement: Any, parameters: Any = None, **kw: Any) -> Any:
        """A Core statement; the ingest path's own run from compiled plans
        (omnihub/store/plans.py), anything else through SQLAlchemy."""
        plan = None if kw else self._plans.plan(statement, parameters, self.dialect)
        if plan is not None:
            dbapi = self._sync.connection.dbapi_connection
            assert dbapi is not None
            return plan.run(dbapi, parameters)
        return self._sync.execute(statement, parameters, **kw)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> list[Any]:
        """Driver SQL straight on sqlite3's cursor: the hot-path INSERTs of
        omnihub/store/bulk.py come ready-made, and SQLAlchemy's execution context around
        them cost more than SQLite's work for a small batch. Rows come back as tuples;
        errors as SQLAlchemy's exceptions, like every other statement's."""
        dbapi = self._sync.connection.dbapi_connection
        assert dbapi is not None
        cursor = dbapi.cursor()
        try:
            if isinstance(parameters, list):
                cursor.executemany(statement, parameters)
            else:
                cursor.execute(statement, parameters if parameters is not None else ())
            return cursor.fetchall() if cursor.description else []
        except sqlite3.Error as exc:
            raise DBAPIError.instance(statement, parameters, exc, sqlite3.Error) from exc
        finally:
            cursor.close()

    async def scalar(self, statement: Any, parameters: Mapping[str, Any] | None = None,
                     **kw: Any) -> Any:
        return self._sync.scalar(statement, parameters, **kw)


def _commit(conn: Connection) -> None:
    """COMMIT the transaction `_begin` opened on the driver. SQLAlchemy's Connection holds
    a transaction of its own only if a statement ran through it; that one ends too."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    dbapi.commit()
    if conn.in_transaction():
        conn.commit()


def _rollback(conn: Connection) -> None:
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    dbapi.rollback()
    if conn.in_transaction():
        conn.rollback()


def one_connection_engine(url: sa.URL, configure: Callable[[sqlite3.Connection, Any], None],
                          *, json_serializer: Callable[[Any], str],
                          json_deserializer: Callable[[Any], Any]) -> sa.Engine:
    """A plain (pysqlite) engine over ONE connection, set up by `configure` when opened,
    for use from the event loop's thread; `check_same_thread` is off because a commit
    (the writer) or a dispose may run on a worker thread."""
    engine = sa.create_engine(
        url.set(drivername="sqlite+pysqlite"),
        poolclass=sa.pool.StaticPool,
        connect_args={"check_same_thread": False},
        json_serializer=json_serializer,
        json_deserializer=json_deserializer,
    )
    event.listen(engine, "connect", configure)
    return engine


class InlineSQLite:
    """One synchronous SQLite connection for the group-committing ingest writer."""

    def __init__(self, url: sa.URL, *, json_serializer: Callable[[Any], str],
                 json_deserializer: Callable[[Any], Any]) -> None:
        # Only the commit leaves the loop's thread, while the loop awaits it.
        self.engine = one_connection_engine(url, _configure, json_serializer=json_serializer,
                                            json_deserializer=json_deserializer)
        self._conn: Connection | None = None
        self._one_at_a_time = asyncio.Lock()
        self._plans = PlanCache()
        self._database = url.database or ""
        self._checkpointer: sqlite3.Connection | None = None
        self.restarts = 0  # WAL restarts `checkpoint` has made way for, for tests

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self.engine.connect()
        return self._conn

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[InlineConnection]:
        """A write transaction, committed on normal exit, rolled back on an exception.

        The COMMIT (its fsync, ~0.3-0.5 ms of the disk's time) runs on a worker thread,
        so that the loop reads and parses the next requests meanwhile: at 1,000
        messages/s a loop blocked in small batches' commits held every other request
        back (ack p50 6.2 -> 4.9 ms). A lone request on an idle hub pays ~0.07 ms for
        the thread hop.
        """
        async with self._one_at_a_time:  # two stores on one Database share this connection
            conn = await self._begin()
            try:
                yield InlineConnection(conn, self._plans)
            except BaseException:
                _rollback(conn)
                raise
            try:
                await asyncio.to_thread(_commit, conn)
            except BaseException:
                _rollback(conn)
                raise

    async def _begin(self) -> Connection:
        """BEGIN IMMEDIATE straight on sqlite3 (through SQLAlchemy's `exec_driver_sql` it
        cost 44 µs of the loop's CPU per batch); `_commit` and `_rollback` end it there."""
        conn = self._connection()
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        deadline = time.monotonic() + LOCK_WAIT
        pause = _FIRST_PAUSE
        while True:
            try:
                dbapi.execute("BEGIN IMMEDIATE")
                return conn
            except sqlite3.Error as exc:
                error = DBAPIError.instance("BEGIN IMMEDIATE", (), exc, sqlite3.Error)
                if not (isinstance(error, OperationalError) and is_locked(error)
                        and time.monotonic() < deadline):
                    raise error from exc
            await asyncio.sleep(pause)
            pause = min(pause * 2, _MAX_PAUSE)

    async def checkpoint(self) -> None:
        """Copy the WAL into the database file; restart the WAL once it is long.

        The copy runs on a worker thread, PASSIVE (never waiting for readers or
        writers), while this writer goes on. Once the WAL holds RESTART_FRAMES, a second
        pass copies what came in during the first, and a third holds this writer
        between two transactions to copy the last few batches, so that the writer's next
        transaction finds every frame copied and starts the WAL anew. The hold is ~5-10
        ms here (the pass ends with an fsync of the database file), hence rare; the
        file keeps its size and is overwritten in place from then on. A reader still on
        an older snapshot can keep the WAL from restarting; the next checkpoint tries
        again.
        """
        frames = await asyncio.to_thread(self._checkpoint)
        if frames >= RESTART_FRAMES:
            await asyncio.to_thread(self._checkpoint)  # what came in meanwhile: less to hold for
            async with self._one_at_a_time:
                await asyncio.to_thread(self._checkpoint)
                self.restarts += 1

    def _checkpoint(self) -> int:
        """One PASSIVE checkpoint; returns the length of the WAL in frames."""
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self._database, check_same_thread=False,
                                                 isolation_level=None)
        _busy, frames, _copied = self._checkpointer.execute(
            "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(frames)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()


def _configure(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # No implicit BEGIN: `_begin` opens every transaction itself, as IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")  # never wait on the loop's thread
    cursor.execute("PRAGMA synchronous=FULL")  # see omnihub/store/db.py
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run off the loop
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    # The ingest writer touches customers, identities and conversations all over the
    # tables; SQLite's default 2 MiB page cache made it re-read their pages from the OS
    # on most statements. Its cache stays valid between its own transactions.
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    cursor.close()

