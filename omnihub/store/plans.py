"""Core statements compiled once and run straight on the driver: no SQLAlchemy around them.

The ingest writer runs the same handful of SELECT/UPDATE/DELETE statements for every
batch (omnihub/store/ingest_batch.py), and `Database.fetch` the same few reads that
somebody waits on (a page of history, the assigner's agent states). Through SQLAlchemy's
Connection each execution builds an execution context, looks up the compiled form,
processes parameters and wraps the cursor; on PostgreSQL the async adapter adds a
greenlet switch per call. For a small statement that is as much CPU as the database's
own work. A `Plan` keeps the compiled SQL, the parameter order and the type processors,
so an execution is one driver call plus the conversions the column types ask for:
sqlite3's cursor for SQLite (`run`), asyncpg's `fetch` for PostgreSQL (omnihub/store/
pg_reads.py). Results are SQLAlchemy `Result`s over the converted rows (same rows,
attribute and `_mapping` access, `.scalars()`, `.first()`), so callers don't change.

Anything a plan does not cover — an expanding IN (re-rendered per execution), a list
of parameter sets (executemany), RETURNING, an INSERT — is run by SQLAlchemy as before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["MAX_PLANS", "Plan", "PlanCache", "Written", "plan_for"]

Process = Callable[[Any], Any] | None

MAX_PLANS = 64  # statements a cache keeps plans for (the hot paths have a dozen or two)


class Written:
    """What an UPDATE or DELETE run by a plan returns: how many rows it changed."""

    __slots__ = ("rowcount",)

    def __init__(self, rowcount: int) -> None:
        self.rowcount = rowcount


class Plan:
    """One statement, compiled for one dialect and driver."""

    __slots__ = ("_binds", "_compiled", "_converters", "_keys", "_metadata", "_order",
                 "_repeated", "sql")

    def __init__(self, compiled: SQLCompiler, dialect: Dialect, *, select: bool) -> None:
        self._compiled = compiled
        self.sql = compiled.string
        self._order = tuple(compiled.positiontup or ())
        processors = compiled._bind_processors
        self._binds: tuple[Process, ...] = tuple(processors.get(name) for name in self._order)
        # A parameter used at several places (the `now` of a touch UPDATE, three times) is
        # converted once: a datetime's conversion costs more than the lookups around it.
        self._repeated = len(set(self._order)) < len(self._order)
        columns = compiled._result_columns if select else []
        self._keys = [column[0] for column in columns]
        # Built once: its constructor costs more than a small SELECT, and every result
        # of this statement has the same columns.
        self._metadata = SimpleResultMetaData(self._keys)
        # Only the columns whose type converts (dates, booleans on SQLite): a page of
        # history has 18 columns and 4 of them do, and a per-value walk over all of
        # them cost more than the conversions.
        self._converters: tuple[tuple[int, Callable[[Any], Any]], ...] = tuple(
            (index, process) for index, process in enumerate(
                column[3]._cached_result_processor(dialect, None) for column in columns)
            if process is not None)

    def arguments(self, parameters: Mapping[str, Any] | None) -> list[Any]:
        """The driver's positional arguments for `parameters`, converted for the columns."""
        values = self._compiled.construct_params(parameters or {})
        if self._repeated:
            converted: dict[str, Any] = {}
            for name, process in zip(self._order, self._binds, strict=True):
                if name not in converted:
                    converted[name] = values[name] if process is None else process(values[name])
            return [converted[name] for name in self._order]
        return [value if process is None else process(value)
                for process, value in zip(self._binds, (values[n] for n in self._order),
                                          strict=True)]

    def result(self, rows: Sequence[Any]) -> IteratorResult[Any]:
        """The driver's rows, converted for the columns, as a SQLAlchemy result."""
        if self._converters:
            rows = [self._convert(row) for row in rows]
        return IteratorResult(self._metadata, iter(rows))

    def _convert(self, row: Sequence[Any]) -> tuple[Any, ...]:
        values = list(row)
        for index, process in self._converters:
            values[index] = process(values[index])
        return tuple(values)

    def run(self, dbapi: sqlite3.Connection, parameters: Mapping[str, Any] | None) -> Any:
        """Execute on a sqlite3 connection: a result for a SELECT, else `Written`."""
        args = self.arguments(parameters)
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
        return self.result(rows)


class PlanCache:
    """Plans by statement object, for code that builds its statements once (module level).

    Keyed by the statement's id and kept with the statement, so that the id can't be
    reused by another object. Full at MAX_PLANS: a statement built per call would
    otherwise grow it without end; past that, statements simply get no plan.
    """

    __slots__ = ("_plans",)

    def __init__(self) -> None:
        self._plans: dict[int, tuple[Any, Plan | None]] = {}

    def plan(self, statement: Any, parameters: Any, dialect: Dialect) -> Plan | None:
        key = (id(statement) << 1) | isinstance(parameters, Mapping | None)
        known = self._plans.get(key)
        if known is None:
            if len(self._plans) >= MAX_PLANS:
                return None
            known = self._plans[key] = (statement, plan_for(statement, parameters, dialect))
        return known[1]

    def planned(self) -> list[Any]:
        """The statements that run from a plan (for tests)."""
        return [statement for statement, plan in self._plans.values() if plan is not None]


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
