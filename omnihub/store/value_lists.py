"""`column IN (<a list given at execution>)` that SQLite runs without re-rendering SQL.

SQLAlchemy's expanding parameters re-render the statement's SQL for every execution (one
placeholder per value), which on the ingest path cost more than SQLite's own work: a
third of a millisecond per statement, several statements per batch. On SQLite the list
travels instead as ONE JSON text parameter, unpacked by `json_each`, so the compiled
statement is reused as it is; SQLite still probes the column's index for each value.
The server databases keep the expanding form (their drivers take arrays natively).

Build statements with `PerDialect(lambda sqlite: ...)` and `one_of(column, name, sqlite)`,
and pass each list through `values_param(values, dialect)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = ["PerDialect", "one_of", "values_param"]

T = TypeVar("T")


def one_of(column: sa.ColumnElement[Any], name: str, *, sqlite: bool) -> sa.ColumnElement[bool]:
    """`column IN (:name)`: a JSON array unpacked by json_each on SQLite, else expanding."""
    if not sqlite:
        return column.in_(sa.bindparam(name, expanding=True))
    unpacked = sa.func.json_each(sa.bindparam(name, type_=sa.String())).table_valued("value")
    return column.in_(sa.select(unpacked.c.value).scalar_subquery())


def values_param(values: Iterable[Any], dialect: Dialect) -> Any:
    """The execution parameter for a `one_of` list on `dialect`."""
    if dialect.name == "sqlite":
        return orjson.dumps(list(values)).decode()
    return list(values)


class PerDialect(Generic[T]):
    """A statement built once per kind of dialect (SQLite or not) on first use."""

    __slots__ = ("_build", "_built")

    def __init__(self, build: Callable[[bool], T]) -> None:
        self._build = build
        self._built: dict[bool, T] = {}

    def __call__(self, dialect: Dialect) -> T:
        sqlite = dialect.name == "sqlite"
        statement = self._built.get(sqlite)
        if statement is None:
            statement = self._built[sqlite] = self._build(sqlite)
        return statement
