"""Column types that behave the same on SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Store naive UTC with microseconds; always hand back aware UTC datetimes.

    SQLite and MySQL keep no zone, and MySQL's DATETIME drops microseconds unless asked
    (fsp=6); normalising here keeps comparisons and cursors identical on all three.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite returns text for raw SQL expressions
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)


def ID() -> sa.String:
    """A ULID column (26 ASCII characters)."""
    return sa.String(26)
