"""The backup's row encoding is lossless for every column kind, and refuses unknown ones."""

from __future__ import annotations

import datetime as dt
import decimal

import orjson
import pytest
import sqlalchemy as sa

from omnihub.store import backup
from omnihub.store.backup.codec import Codec, UnsupportedColumn, column_kind, restore_table
from omnihub.store.types import UTCDateTime

TABLE = sa.Table(
    "everything", sa.MetaData(),
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("flag", sa.Boolean), sa.Column("ratio", sa.Float), sa.Column("name", sa.String(9)),
    sa.Column("blob", sa.LargeBinary), sa.Column("amount", sa.Numeric(12, 4)),
    sa.Column("at", UTCDateTime), sa.Column("naive", sa.DateTime), sa.Column("day", sa.Date),
    sa.Column("clock", sa.Time), sa.Column("doc", sa.JSON),
)

ROW = (2**62, True, 0.1 + 0.2, "日本 ", bytes(range(256)), decimal.Decimal("12345678.0001"),
       dt.datetime(2026, 11, 26, 3, 0, 0, 123456, tzinfo=dt.UTC),
       dt.datetime(2026, 1, 2, 3, 4, 5, 6), dt.date(2026, 2, 28), dt.time(23, 59, 59, 999999),
       {"a": [1, None, "x"]})


def _through_json(codec: Codec, row: tuple, sql_nulls: list[bool]) -> dict:
    return codec.decode(orjson.loads(orjson.dumps(codec.encode(row, sql_nulls))))


def test_every_kind_survives_a_trip_through_json() -> None:
    codec = Codec.for_table(TABLE)
    assert [kind for _, kind in codec.columns] == [
        "int", "bool", "float", "str", "bytes", "decimal", "datetime", "naive_datetime", "date",
        "time", "json"]
    decoded = _through_json(codec, ROW, [False])
    assert tuple(decoded.values()) == ROW


def test_json_null_and_sql_null_stay_apart() -> None:
    codec = Codec([("doc", "json")])
    assert _through_json(codec, (None,), [True])["doc"].__class__ is sa.Null
    assert _through_json(codec, (None,), [False])["doc"] is sa.JSON.NULL


def test_nulls_of_every_kind() -> None:
    codec = Codec.for_table(TABLE)
    decoded = _through_json(codec, (None,) * len(ROW), [True])
    assert all(v is None for k, v in decoded.items() if k != "doc")


def test_a_column_type_without_a_lossless_encoding_is_refused_at_backup_time() -> None:
    table = sa.Table("odd", sa.MetaData(), sa.Column("interval", sa.Interval),
                     sa.Column("nothing", sa.types.NullType()))
    with pytest.raises(UnsupportedColumn, match="odd.interval"):
        column_kind(table.c.interval)
    with pytest.raises(UnsupportedColumn, match="odd.nothing"):
        column_kind(table.c.nothing)
    with pytest.raises(UnsupportedColumn, match="unknown column kind 'vector'"):
        Codec([("v", "vector")])


def test_restore_table_binds_with_the_backup_types() -> None:
    table = restore_table("everything", Codec.for_table(TABLE))
    assert isinstance(table.c.at.type, UTCDateTime) and isinstance(table.c.doc.type, sa.JSON)


def test_public_names() -> None:
    assert sorted(backup.__all__) == sorted(name for name in backup.__all__
                                            if hasattr(backup, name))
    assert {"create_backup", "restore_backup", "verify_backup", "Manifest"} <= set(backup.__all__)
