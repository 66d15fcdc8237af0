"""Short reads that somebody waits on, run on the event loop's thread (SQLite only).

Through the reader pool a history page pays a pool checkout and two hand-offs to
aiosqlite's thread before SQLite starts: a bare `SELECT 1` that way took 0.63 ms at the
median and 1.7 ms at p99 here, more than the page's own query. In WAL mode a reader never
waits for a writer, so a single indexed SELECT (a fraction of a millisecond) can run on
the loop's own thread, as the ingest writer's transaction does (sqlite_inline.py), from
a plan compiled once (plans.py). It is one statement, so it is its own read
transaction: a consistent snapshot without BEGIN and COMMIT.

A reader can still meet SQLITE_BUSY in rare moments (a connection recovering the WAL);
`Database.fetch` then asks the reader pool, which waits as usual.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from omnihub.store.sqlite_inline import InlineConnection, one_connection_engine
from omnihub.store.plans import PlanCache

__all__ = ["InlineReader"]

CACHE_KIB = 8 * 1024  # the reader's page cache: the indexes and rows of recent pages


class InlineReader:
    """One read-only synchronous SQLite connection, used from the loop's thread."""

    def __init__(self, url: sa.URL, *, json_serializer: Callable[[Any], str],
                 json_deserializer: Callable[[Any], Any]) -> None:
        self.engine = one_connection_engine(url, _configure, json_serializer=json_serializer,
                                            json_deserializer=json_deserializer)
        self._conn: Connection | None = None
        self._plans = PlanCache()

    async def fetch(self, statement: Any, parameters: Mapping[str, Any] | None = None
                    ) -> Sequence[RowMapping]:
        """The rows of one SELECT, as mappings; OperationalError when SQLite is busy."""
        if self._conn is None or self._conn.closed:
            self._conn = self.engine.connect()
        try:
            result = await InlineConnection(self._conn, self._plans).execute(statement,
                                                                              parameters)
            return result.mappings().all()
        finally:
            if self._conn.in_transaction():  # a statement SQLAlchemy ran itself
                self._conn.rollback()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()


def _configure(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # each SELECT is its own read transaction
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")  # never wait on the loop's thread
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    cursor.close()
