"""BulkInsert stores exactly what a Core INSERT would, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa

from omnihub.store.bulk import BulkInsert
from omnihub.store.db import Database
from omnihub.store.tables import customers, outbox
from omnihub.store.types import UTCDateTime

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)  # microsecond 0: the case text forms get wrong


def _customer(n: int, created_at: datetime) -> dict[str, object]:
    return {"id": f"C{n:025d}", "display_name": f"Ada {n}", "tags": ["vip", n],
            "attributes": {"plan": "gold", "nested": {"n": n}}, "merged_into": None,
            "created_at": created_at, "updated_at": created_at + timedelta(microseconds=7)}


async def test_rows_read_back_equal_to_rows_inserted_through_core(db: Database) -> None:
    plus_two = timezone(timedelta(hours=2))
    bulk_rows = [_customer(n, T0 + timedelta(seconds=n)) for n in range(3)]
    bulk_rows.append(_customer(3, datetime(2026, 3, 1, 14, 0, 0, 5, tzinfo=plus_two)))
    core_rows = [{**row, "id": f"K{n:025d}"} for n, row in enumerate(bulk_rows)]
    async with db.write() as conn:
        await BulkInsert(customers).execute(conn, bulk_rows)
        await conn.execute(sa.insert(customers), core_rows)
    async with db.read() as conn:
        stored = {row.id: row._asdict() for row in await conn.execute(sa.select(customers))}
    for bulk, core in zip(bulk_rows, core_rows, strict=True):
        assert {**stored[bulk["id"]], "id": None} == {**stored[core["id"]], "id": None}
        assert stored[bulk["id"]]["tags"] == bulk["tags"]
        assert stored[bulk["id"]]["created_at"] == bulk["created_at"]
    # the same instant compares equal in SQL whichever way it was written (a cursor needs that)
    async with db.read() as conn:
        count = await conn.scalar(
            sa.select(sa.func.count()).select_from(customers)
            .where(customers.c.created_at == sa.bindparam("t", T0, type_=UTCDateTime())))
    assert count == 2


async def test_returning_hands_back_the_generated_keys(db: Database) -> None:
    rows = [{"id": f"E{n:025d}", "topic": "event", "type": "t", "key": None,
             "payload": {"n": n}, "created_at": T0} for n in range(450)]
    async with db.write() as conn:
        if not conn.dialect.insert_returning:
            return  # MySQL: write_outbox looks the keys up instead
        found = await BulkInsert(outbox).returning(conn, rows, "seq", "id")
    assert sorted(event_id for _seq, event_id in found) == [row["id"] for row in rows]
    async with db.read() as conn:
        stored = {event_id: seq for event_id, seq in await conn.execute(
            sa.select(outbox.c.id, outbox.c.seq))}
    assert {event_id: seq for seq, event_id in found} == stored
