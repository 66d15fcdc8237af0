"""Hot-path INSERTs that hand the driver ready-made tuples.

At ingest rates SQLAlchemy's per-row parameter processing (building a dict per row, a
TypeDecorator and a dialect bind processor per datetime, a JSON processor per JSON
column) costs more CPU than SQLite spends storing the row. `BulkInsert` converts each
value once, with converters picked per column type and dialect, and runs the INSERT as
driver SQL. The stored values are exactly what the Core types would have stored
(naive-UTC datetimes; on SQLite the same text with microseconds; compact JSON), so
everything else keeps reading the tables through SQLAlchemy as before.

A paramstyle this module does not know falls back to the ordinary Core INSERT.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.store.types import UTCDateTime

__all__ = ["BulkInsert"]

Convert = Callable[[Any], Any]
_PLACEHOLDERS: dict[str, Callable[[int], str]] = {
    "qmark": lambda _n: "?",
    "format": lambda _n: "%s",
    "numeric": lambda n: f":{n}",
    "numeric_dollar": lambda n: f"${n}",
}


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTCDateTime column")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None)


_last_sqlite_datetime: tuple[datetime | None, str | None] = (None, None)


def _sqlite_datetime(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DATETIME text: always six digits of microseconds."""
    global _last_sqlite_datetime
    last_value, last_text = _last_sqlite_datetime
    if value is last_value:  # a batch stamps most of its rows with one `now`
        return last_text
    naive = _naive_utc(value)
    text = None if naive is None else naive.isoformat(" ", "microseconds")
    _last_sqlite_datetime = (value, text)
    return text


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _converter(column: sa.Column[Any], dialect: Dialect) -> Convert | None:
    if isinstance(column.type, UTCDateTime):
        return _sqlite_datetime if dialect.name == "sqlite" else _naive_utc
    if isinstance(column.type, sa.JSON):
        return _json
    return None


class BulkInsert:
    """An executemany INSERT into one table for rows given as dicts keyed by column."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table
        # (dialect name, column keys, rows or 0 for executemany, returning) -> plan
        self._plans: dict[tuple[Any, ...], _Plan] = {}

    async def execute(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert `rows` (all with the keys of the first) inside the caller's transaction."""
        if not rows:
            return
        plan = self._plan(conn.dialect, rows[0], 0)
        if plan is None:
            await conn.execute(sa.insert(self.table), list(rows))
            return
        await conn.exec_driver_sql(plan.sql, [plan.values(row) for row in rows])

    async def returning(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]],
                        *columns: str, chunk: int = 200) -> list[sa.Row[Any]]:
        """Insert `rows` with multi-row VALUES and return `columns` of the new rows.

        Needs INSERT ... RETURNING (SQLite, PostgreSQL, MariaDB); the order of the
        returned rows is not promised.
        """
        found: list[sa.Row[Any]] = []
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            plan = self._plan(conn.dialect, part[0], len(part), columns)
            if plan is None:
                statement = sa.insert(self.table).returning(*(self.table.c[c] for c in columns))
                found.extend(await conn.execute(statement, list(part)))
                continue
            values = tuple(v for row in part for v in plan.values(row))
            found.extend(await conn.exec_driver_sql(plan.sql, values))
        return found

    def _plan(self, dialect: Dialect, first: Mapping[str, Any], count: int,
              returning: Sequence[str] = ()) -> _Plan | None:
        keys = tuple(first)
        cache_key = (dialect.name, keys, count, *returning)
        plan = self._plans.get(cache_key)
        if plan is None:
            placeholder = _PLACEHOLDERS.get(dialect.paramstyle)
            if placeholder is None:
                return None
            plan = self._build(dialect, keys, count, returning, placeholder)
            self._plans[cache_key] = plan
        return plan

    def _build(self, dialect: Dialect, keys: tuple[str, ...], count: int,
               returning: Sequence[str], placeholder: Callable[[int], str]) -> _Plan:
        quote = dialect.identifier_preparer.quote
        columns = [self.table.c[key] for key in keys]  # KeyError: not a column of the table
        numbers = iter(range(1, len(keys) * max(count, 1) + 1))
        groups = ", ".join(
            "(" + ", ".join(placeholder(next(numbers)) for _ in keys) + ")"
            for _ in range(max(count, 1))
        )
        sql = (f"INSERT INTO {dialect.identifier_preparer.format_table(self.table)} "
               f"({', '.join(quote(c.name) for c in columns)}) VALUES {groups}")
        if returning:
            sql += " RETURNING " + ", ".join(quote(self.table.c[c].name) for c in returning)
        converters = [(i, _converter(c, dialect)) for i, c in enumerate(columns)]
        return _Plan(sql, keys, tuple((i, f) for i, f in converters if f is not None))


class _Plan:
    """The SQL for one column set, and how to turn a row dict into its parameters."""

    __slots__ = ("converters", "getter", "sql")

    def __init__(self, sql: str, keys: tuple[str, ...],
                 converters: tuple[tuple[int, Convert], ...]) -> None:
        self.sql = sql
        self.converters = converters
        get = operator.itemgetter(*keys)
        self.getter: Callable[[Mapping[str, Any]], Any] = (
            get if len(keys) > 1 else lambda row: (get(row),))

    def values(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """The row's parameters, a tuple (the only sequence SQLAlchemy passes through)."""
        if not self.converters:
            return self.getter(row)  # type: ignore[no-any-return]
        values = list(self.getter(row))
        for index, convert in self.converters:
            values[index] = convert(values[index])
        return tuple(values)
