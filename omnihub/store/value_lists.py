"""`column IN (<a list given at execution>)` without SQL re-rendered per execution.

SQLAlchemy's expanding parameters re-render the statement's SQL for every execution (one
placeholder per value), which on the ingest path cost more than the database's own work:
a third of a millisecond per statement, several statements per batch; and on PostgreSQL
every new list length is new SQL text that asyncpg prepares again (a round trip). So the
list travels as ONE parameter where the database can unpack it:

- SQLite: a JSON text, unpacked by `json_each`;
- PostgreSQL: an array, `column = ANY(:list)` (asyncpg sends arrays natively);
- others (MySQL): the expanding form.

The database still probes the column's index for each value. Build statements with
`PerDialect(lambda dialect: ...)` and `one_of(column, name, dialect=dialect)`, and pass each
list through `values_param(values, dialect)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

__all__ = ["PerDialect", "one_of", "values_param"]

T = TypeVar("T")


def one_of(column: sa.ColumnElement[Any], name: str, *, dialect: str) -> sa.ColumnElement[bool]:
    """`column IN (:name)` in the form `dialect` (a dialect's name) takes as one parameter."""
    if dialect == "sqlite":
        unpacked = sa.func.json_each(sa.bindparam(name, type_=sa.String())).table_valued("value")
        return column.in_(sa.select(unpacked.c.value).scalar_subquery())
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(sa.bindparam(name, expanding=True))


def values_param(values: Iterable[Any], dialect: Dialect) -> Any:
    """The execution parameter for a `one_of` list on `dialect`."""
    if dialect.name == "sqlite":
        return orjson.dumps(list(values)).decode()
    return list(values)


class PerDialect(Generic[T]):
    """A statement built once per dialect (by its name) on first use."""

    __slots__ = ("_build", "_built")

    def __init__(self, build: Callable[[str], T]) -> None:
        self._build = build
        self._built: dict[str, T] = {}

    def __call__(self, dialect: Dialect) -> T:
        statement = self._built.get(dialect.name)
        if statement is None:
            statement = self._built[dialect.name] = self._build(dialect.name)
        return statement
