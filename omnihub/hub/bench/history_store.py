"""The store side of the history benchmark: seed 100,000 messages, EXPLAIN, time calls.

Seeding goes through the store's own INSERT (`BulkInsert`, what the ingest writer uses)
straight into the messages table: the customer's first message is ingested for real by
the hub (customer, identity, conversation, event), then copied with new ULIDs
(`new_id`, the store's id maker) and external ids, 5,000 rows per transaction. Going
through the hub instead would take minutes per backend and measure ingest, not history.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import sqlalchemy as sa

from omnihub.hub.bench.history_summary import QUERY_ONLY, STORE_BASELINE, STORE_CALL
from omnihub.hub.bench.latency_stats import Latencies
from omnihub.normalizer.ids import new_id
from omnihub.store import history
from omnihub.store.bulk import BulkInsert
from omnihub.store.db import Database
from omnihub.store.rows import MESSAGE_COLUMNS
from omnihub.store.tables import messages

BATCH = 5_000
DEFAULT_LIMIT = 50  # what GET /api/v1/customers/{id}/history returns without ?limit

_INSERT = BulkInsert(messages)


async def customer_of(db: Database, channel_id: str, external_id: str) -> dict[str, Any]:
    """The stored row of a message the hub ingested (to learn its customer and copy it)."""
    async with db.read() as conn:
        row = (await conn.execute(sa.select(messages).where(
            messages.c.channel_id == channel_id, messages.c.external_id == external_id))).first()
    if row is None:
        raise RuntimeError(f"message {external_id} is not in the store")
    return dict(row._mapping)


async def seed_messages(db: Database, template: dict[str, Any], count: int, tag: str,
                        others: Sequence[dict[str, Any]] = ()) -> float:
    """Insert `count` copies of `template` (new id and external id each), and as many
    copies of the `others` templates (other customers' messages, taking turns with the
    target's, so the table is not one customer's alone); seconds taken."""
    started = time.perf_counter()
    templates = [template, *others] if others else [template]
    total = count * 2 if others else count
    done = 0
    while done < total:
        size = min(BATCH, total - done)
        rows = []
        for n in range(done, done + size):
            # even rows: the target customer; odd rows: the others in turn
            source = template if not others or n % 2 == 0 else templates[1 + (n // 2) % len(others)]
            rows.append({**source, "id": new_id(), "external_id": f"{tag}-{n:07d}",
                         "raw_ref": None})
        async with db.write() as conn:
            await _INSERT.execute(conn, rows)
        done += size
    if not db.is_sqlite:
        async with db.write() as conn:  # what autovacuum would do soon after a bulk load
            await conn.execute(sa.text("ANALYZE messages"))
    return time.perf_counter() - started


def first_page_statement(customer_id: str) -> sa.Select[Any]:
    """The statement store/history.py runs for a first page, for EXPLAIN."""
    return (sa.select(*MESSAGE_COLUMNS).where(messages.c.customer_id == customer_id)
            .order_by(messages.c.id.desc()).limit(DEFAULT_LIMIT + 1))


async def explain(db: Database, customer_id: str) -> list[str]:
    """The database's plan for the first-page query (PostgreSQL: with its run time)."""
    async with db.read() as conn:
        sql = str(first_page_statement(customer_id).compile(
            dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        if db.is_sqlite:
            rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)).all()
            return [str(row[-1]) for row in rows]
        rows = (await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql)).all()
        return [str(row[0]) for row in rows]


async def time_calls(calls: dict[str, Callable[[], Awaitable[object]]], duration: float,
                     max_calls: int = 200_000) -> dict[str, Latencies]:
    """Each call in turn (interleaved, so drift hits all alike) for `duration` seconds."""
    taken: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():  # warm the pools and caches once
        await call()
    deadline = time.monotonic() + duration
    rounds = 0
    while time.monotonic() < deadline and rounds < max_calls:
        for name, call in calls.items():
            started = time.perf_counter()
            await call()
            taken[name].append(time.perf_counter() - started)
        rounds += 1
    return {name: Latencies.of(values) for name, values in taken.items()}


async def store_timings(db: Database, customer_id: str, duration: float) -> dict[str, Latencies]:
    """store.customer_history's first page against the floor of any store call."""
    async def first_page() -> object:
        page = await history.customer_history(db, customer_id, limit=DEFAULT_LIMIT)
        if len(page.items) != DEFAULT_LIMIT:
            raise RuntimeError(f"history gave {len(page.items)} messages, not {DEFAULT_LIMIT}")
        return page

    statement = first_page_statement(customer_id)

    async def rows_only() -> object:
        async with db.read() as conn:
            return (await conn.execute(statement)).all()

    async def select_one() -> object:
        async with db.read() as conn:
            return (await conn.execute(sa.text("SELECT 1"))).scalar_one()

    return await time_calls({STORE_CALL: first_page, QUERY_ONLY: rows_only,
                             STORE_BASELINE: select_one}, duration)
