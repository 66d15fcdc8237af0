"""History and conversation listings: newest first, keyset cursors, one indexed query."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from omnihub.store import InvalidCursor


async def ingest_many(store, inbound, count, *identity, **fields):
    results = await asyncio.gather(
        *(store.ingest(inbound(f"{identity[1]}-{i}", identity, **fields)) for i in range(count))
    )
    return [r.message for r in results]


async def read_all(fetch, limit):
    items, cursor, pages = [], None, 0
    while True:
        page = await fetch(limit=limit, cursor=cursor)
        items += page.items
        pages += 1
        if page.next_cursor is None:
            return items, pages
        assert len(page.items) == limit
        cursor = page.next_cursor


async def test_customer_history_pages_newest_first_across_channels(store, inbound):
    mine = await ingest_many(store, inbound, 130, "telegram", "42")
    mine += await ingest_many(store, inbound, 70, "telegram", "42", channel_id="tg2")
    await ingest_many(store, inbound, 30, "telegram", "99")  # someone else
    customer_id = mine[0].customer_id

    items, pages = await read_all(lambda **kw: store.customer_history(customer_id, **kw), limit=50)

    assert pages == 4  # exactly 200 = 4 x 50: the last page knows there is no more
    assert [m.id for m in items] == sorted((m.id for m in mine), reverse=True)
    assert {m.customer_id for m in items} == {customer_id}
    one_more = await store.customer_history(customer_id, limit=199)
    assert len(one_more.items) == 199 and one_more.next_cursor is not None


async def test_conversation_messages_page_newest_first(store, inbound):
    mine = await ingest_many(store, inbound, 25, "telegram", "42")
    await ingest_many(store, inbound, 5, "telegram", "42", thread_key="other")
    items, pages = await read_all(
        lambda **kw: store.conversation_messages(mine[0].conversation_id, **kw), limit=10
    )
    assert pages == 3
    assert [m.id for m in items] == sorted((m.id for m in mine), reverse=True)


async def test_list_conversations_by_latest_activity_with_filters(store, db, inbound):
    from omnihub.store.tables import conversations

    for i in range(12):
        await store.ingest(
            inbound(f"m{i}", ("telegram", f"user-{i}"), channel_id="tg" if i % 3 else "wa")
        )
    # activity order: user-4 writes again, so its conversation comes first
    again = await store.ingest(inbound("m99", ("telegram", "user-4"), channel_id="tg"))
    async with db.write() as conn:
        await conn.execute(
            sa.update(conversations)
            .where(conversations.c.channel_id == "wa")
            .values(status="pending")
        )

    items, pages = await read_all(lambda **kw: store.list_conversations(**kw), limit=5)
    assert pages == 3 and len(items) == 12
    assert items[0].id == again.message.conversation_id
    keys = [(c.last_message_at, c.id) for c in items]
    assert keys == sorted(keys, reverse=True)

    pending, _ = await read_all(
        lambda **kw: store.list_conversations(status="pending", **kw), limit=2
    )
    assert len(pending) == 4 and {c.channel_id for c in pending} == {"wa"}
    tg_open, _ = await read_all(
        lambda **kw: store.list_conversations(status="open", channel_id="tg", **kw), limit=3
    )
    assert len(tg_open) == 8 and {c.status for c in tg_open} == {"open"}


async def test_a_bad_cursor_is_a_typed_error(store, inbound):
    await ingest_many(store, inbound, 3, "telegram", "42")
    page = await store.list_conversations(limit=1)
    history_cursor = (await store.customer_history(page.items[0].customer_id, limit=1)).next_cursor

    for bad in ("garbage!", "eyJ4IjoxfQ", history_cursor):
        with pytest.raises(InvalidCursor):
            await store.list_conversations(cursor=bad)
    with pytest.raises(InvalidCursor):
        await store.customer_history(page.items[0].customer_id, cursor="%%%")
    with pytest.raises(ValueError, match="limit"):
        await store.customer_history(page.items[0].customer_id, limit=0)


async def test_history_is_one_indexed_query_without_a_sort(store, db, inbound):
    mine = await ingest_many(store, inbound, 60, "telegram", "42")
    await ingest_many(store, inbound, 60, "telegram", "43")
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        statements.append((statement, parameters))

    logged: set[int] = set()

    def log_asyncpg(dbapi_connection, _record, _proxy):  # noqa: ANN001
        driver = dbapi_connection.driver_connection
        if id(driver) not in logged:  # once per pooled connection, however often checked out
            logged.add(id(driver))
            driver.add_query_logger(
                lambda query: statements.append((query.query, tuple(query.args))))

    if db.quick_reads is not None:  # SQLite: on the loop's thread, straight on sqlite3
        raw = db.quick_reads.engine.raw_connection().dbapi_connection
        raw.set_trace_callback(lambda sql: statements.append((sql, ())))  # values inlined
    elif db.pg_reads is not None:  # PostgreSQL: straight on asyncpg (store/pg_reads.py)
        event.listen(db.fetch_pool.sync_engine, "checkout", log_asyncpg)
    else:
        event.listen(db.fetch_pool.sync_engine, "before_cursor_execute", capture)  # fetch's pool
    try:
        page = await store.customer_history(mine[0].customer_id, limit=20)
        await store.customer_history(mine[0].customer_id, limit=20, cursor=page.next_cursor)
    finally:
        if db.quick_reads is not None:
            raw.set_trace_callback(None)
        elif db.pg_reads is not None:
            event.remove(db.fetch_pool.sync_engine, "checkout", log_asyncpg)
        else:
            event.remove(db.fetch_pool.sync_engine, "before_cursor_execute", capture)

    queries = [s for s in statements if "messages" in s[0]]
    assert len(queries) == 2  # one query per page
    for statement, parameters in queries:
        plan = await explain(db, statement, parameters)
        assert "ix_messages_customer_id_id" in plan, plan
        if db.dialect == "sqlite":
            assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan
        elif db.dialect == "postgresql":
            assert "Seq Scan" not in plan and "Sort" not in plan.replace("Sort Key", ""), plan
        else:
            assert "filesort" not in plan, plan


async def explain(db, statement, parameters) -> str:
    async with db.reader.connect() as conn:
        if db.dialect == "sqlite":
            rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            return "\n".join(str(r[-1]) for r in rows)
        if db.dialect == "postgresql":
            await conn.exec_driver_sql("SET enable_seqscan = off")  # tiny tables: demand the index
            rows = await conn.exec_driver_sql("EXPLAIN " + statement, parameters)
            return "\n".join(r[0] for r in rows)
        rows = await conn.exec_driver_sql("EXPLAIN " + statement, parameters)
        return "\n".join(" ".join(str(v) for v in r) for r in rows)
