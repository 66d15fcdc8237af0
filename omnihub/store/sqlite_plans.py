"""Core statements compiled once and run straight on the inline writer's sqlite3 cursor.

The ingest writer runs the same handful of SELECT/UPDATE/DELETE statements for every
batch (omnihub/store/ingest_batch.py). Through SQLAlchemy's Connection each execution
builds an execution context, looks up the compiled form, processes parameters and wraps
the cursor: about as much CPU as SQLite's own work when a batch holds one message, which
is every batch on a quiet hub. A `Plan` keeps the compiled SQL, the parameter order and
the type processors, so an execution is one `cursor.execute` plus the conversions the
column types ask for. Results are SQLAlchemy `Result`s over the converted rows (same
rows, attribute and `_mapping` access, `.scalars()`, `.first()`), so callers don't change.

Anything the plan does not cover — an expanding IN (re-rendered per execution), a list
of parameter sets (executemany), RETURNING, an INSERT — is run by SQLAlchemy as before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Plan", "Written", "plan_for"]

Process = Callable[[Any], Any] | None


class Written:
    """What an UPDATE or DELETE run by a plan returns: how many rows it changed."""

    __slots__ = ("rowcount",)

    def __init__(self, rowcount: int) -> None:
        self.rowcount = rowcount


class Plan:
    """One statement, compiled for the SQLite dialect of the inline writer."""

    __slots__ = ("_binds", "_compiled", "_keys", "_metadata", "_order", "_results", "sql")

    def __init__(self, compiled: SQLCompiler, dialect: Dialect, *, select: bool) -> None:
        self._compiled = compiled
        self.sql = compiled.string
        self._order = tuple(compiled.positiontup or ())
        processors = compiled._bind_processors
        self._binds: tuple[Process, ...] = tuple(processors.get(name) for name in self._order)
        columns = compiled._result_columns if select else []
        self._keys = [column[0] for column in columns]
        # Built once: its constructor costs more than a small SELECT, and every result
        # of this statement has the same columns.
        self._metadata = SimpleResultMetaData(self._keys)
        self._results: tuple[Process, ...] = tuple(
            column[3]._cached_result_processor(dialect, None) for column in columns)

    def run(self, dbapi: sqlite3.Connection, parameters: Mapping[str, Any] | None) -> Any:
        values = self._compiled.construct_params(parameters or {})
        args = [value if process is None else process(value)
                for process, value in zip(self._binds, (values[n] for n in self._order),
                                          strict=True)]
        cursor = dbapi.cursor()
        try:
            cursor.execute(self.sql, args)
            if not self._keys:
                return Written(cursor.rowcount)
            rows = cursor.fetchall()
        except sqlite3.Error as exc:
            raise DBAPIError.instance(self.sql, args, exc, sqlite3.Error) from exc
        finally:
            cursor.close()
        results = self._results
        if any(results):
            rows = [tuple(value if process is None else process(value)
                          for process, value in zip(results, row, strict=True)) for row in rows]
        return IteratorResult(self._metadata, iter(rows))


def plan_for(statement: Any, parameters: Any, dialect: Dialect) -> Plan | None:
    """A plan for `statement` run with `parameters`, or None when SQLAlchemy must run it."""
    if parameters is not None and not isinstance(parameters, Mapping):
        return None  # a list of parameter sets: executemany
    if not isinstance(statement, sa.Select | sa.Update | sa.Delete):
        return None
    compiled = statement.compile(dialect=dialect)
    if (not isinstance(compiled, SQLCompiler) or compiled.post_compile_params
            or compiled.literal_execute_params or compiled.effective_returning
            or compiled.positiontup is None):
        return None
    return Plan(compiled, dialect, select=isinstance(statement, sa.Select))
