"""Rows as JSON and back, losslessly, whatever database they came from or go to.

A backup file holds one header line `{"table", "columns": [[name, kind], …]}` and then one
JSON array per row, values in column order. The kind of each column is written into the
header, so a restore decodes with the types of the backup rather than those of the code
that restores it. Encodings: datetimes as ISO 8601 with offset (microseconds kept),
bytes as base64, decimals as text, JSON columns as `null` (SQL NULL) or `[value]` (so a
JSON `null` stays apart from an SQL NULL).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from omnihub.store.types import UTCDateTime

__all__ = ["Codec", "UnsupportedColumn", "column_kind", "restore_table"]


class UnsupportedColumn(TypeError):
    """A column type the backup format has no lossless encoding for (found at backup time)."""


# Ordered: bool before int (a subclass), datetime before date (likewise).
_PYTHON_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "bool"), (int, "int"), (float, "float"), (decimal.Decimal, "decimal"), (str, "str"),
    (bytes, "bytes"), (dt.datetime, "naive_datetime"), (dt.date, "date"), (dt.time, "time"),
)


def column_kind(column: sa.Column[Any]) -> str:
    """The backup's name for a column's type: json, datetime, date, time, bytes, …"""
    type_ = column.type
    if isinstance(type_, sa.JSON):
        return "json"
    if isinstance(type_, UTCDateTime):
        return "datetime"
    try:
        python_type = type_.python_type
    except NotImplementedError:
        raise UnsupportedColumn(f"{column.table.name}.{column.name}: {type_!r}") from None
    for python, kind in _PYTHON_KINDS:
        if issubclass(python_type, python):
            return kind
    raise UnsupportedColumn(f"{column.table.name}.{column.name}: {type_!r}")


def _plain(value: Any) -> Any:
    return value


def _iso(value: Any) -> Any:
    return None if value is None else value.isoformat()


def _b64(value: Any) -> Any:
    return None if value is None else base64.b64encode(bytes(value)).decode("ascii")


def _text(value: Any) -> Any:
    return None if value is None else str(value)


_ENCODERS: dict[str, Callable[[Any], Any]] = {
    "bool": lambda v: None if v is None else bool(v),
    "int": _plain, "float": _plain, "str": _plain,
    "bytes": _b64, "decimal": _text,
    "datetime": _iso, "naive_datetime": _iso, "date": _iso, "time": _iso,
}

_DECODERS: dict[str, Callable[[Any], Any]] = {
    "bool": _plain, "int": _plain, "float": _plain, "str": _plain,
    "bytes": lambda v: None if v is None else base64.b64decode(v),
    "decimal": lambda v: None if v is None else decimal.Decimal(v),
    "datetime": lambda v: None if v is None else dt.datetime.fromisoformat(v),
    "naive_datetime": lambda v: None if v is None else dt.datetime.fromisoformat(v),
    "date": lambda v: None if v is None else dt.date.fromisoformat(v),
    "time": lambda v: None if v is None else dt.time.fromisoformat(v),
}

# Types to bind restored values with: what matters is how the value is sent, not DDL.
_BIND_TYPES: dict[str, Callable[[], sa.types.TypeEngine[Any]]] = {
    "json": sa.JSON, "datetime": UTCDateTime, "naive_datetime": sa.DateTime,
    "date": sa.Date, "time": sa.Time, "bool": sa.Boolean, "int": sa.BigInteger,
    "float": sa.Float, "str": sa.Text, "bytes": sa.LargeBinary, "decimal": sa.Numeric,
}


class Codec:
    """Encode and decode the rows of one table, given its columns and their kinds."""

    def __init__(self, columns: Sequence[tuple[str, str]]) -> None:
        unknown = [kind for _, kind in columns if kind != "json" and kind not in _DECODERS]
        if unknown:
            raise UnsupportedColumn(f"unknown column kind {unknown[0]!r} in backup")
        self.columns = list(columns)
        self.names = [name for name, _ in columns]

    @classmethod
    def for_table(cls, table: sa.Table) -> Codec:
        return cls([(column.name, column_kind(column)) for column in table.columns])

    def encode(self, values: Sequence[Any], sql_nulls: Sequence[bool]) -> list[Any]:
        """One row (values in column order) as a JSON-ready list.

        `sql_nulls[i]` tells, for a JSON column, whether the value is SQL NULL: drivers
        hand back None for both SQL NULL and JSON null.
        """
        out: list[Any] = []
        json_index = 0
        for (_, kind), value in zip(self.columns, values, strict=True):
            if kind == "json":
                out.append(None if sql_nulls[json_index] else [value])
                json_index += 1
            else:
                out.append(_ENCODERS[kind](value))
        return out

    def decode(self, row: Sequence[Any]) -> dict[str, Any]:
        """A JSON-decoded row back into bind values for an INSERT."""
        values: dict[str, Any] = {}
        for (name, kind), value in zip(self.columns, row, strict=True):
            if kind == "json":
                values[name] = sa.null() if value is None else (
                    sa.JSON.NULL if value[0] is None else value[0])
            else:
                values[name] = _DECODERS[kind](value)
        return values

    def json_columns(self) -> list[str]:
        return [name for name, kind in self.columns if kind == "json"]


def restore_table(name: str, codec: Codec) -> sa.Table:
    """A table object to INSERT restored rows with, typed from the backup's header."""
    return sa.Table(name, sa.MetaData(),
                    *(sa.Column(col, _BIND_TYPES[kind]()) for col, kind in codec.columns))
