"""The SQLite ingest writer runs on the event loop's thread (omnihub/store/sqlite_inline.py):
it must never block the loop waiting for another writer, and must keep the WAL in check."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from omnihub.store import Store
from omnihub.store.db import Database
from omnihub.store.ingest import CHECKPOINT_EVERY
from omnihub.store.migrate import upgrade
from omnihub.store.tables import messages


@pytest.fixture
async def sqlite_db(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    await upgrade(db)
    yield db
    await db.dispose()


async def test_ingest_waits_for_another_writer_without_blocking_the_loop(
    sqlite_db, cipher, inbound
):
    store = Store(sqlite_db, cipher)
    await store.start()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    clock = asyncio.create_task(ticker())
    try:
        async with sqlite_db.write() as conn:  # the aiosqlite writer holds the write lock
            await conn.execute(sa.text("SELECT 1"))
            pending = asyncio.create_task(store.ingest(inbound("m1", ("telegram", "7"))))
            await asyncio.sleep(0.3)
            assert not pending.done()  # it waits for the lock ...
            assert ticks >= 10  # ... and the loop keeps running meanwhile
        result = await asyncio.wait_for(pending, 10)
        assert not result.duplicate
    finally:
        clock.cancel()
        await store.close()
    async with sqlite_db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(messages))).scalar() == 1


async def test_the_writer_checkpoints_the_wal_itself_every_so_many_batches(
    sqlite_db, cipher, inbound
):
    store = Store(sqlite_db, cipher)
    await store.start()
    try:
        for n in range(CHECKPOINT_EVERY):
            await store.ingest(inbound(f"m{n}", ("telegram", "7")))
        for _ in range(500):
            if store.writer.checkpoints:
                break
            await asyncio.sleep(0.01)
        assert store.writer.checkpoints == 1
    finally:
        await store.close()
    # The inline connection itself never checkpoints (that would block the loop).
    assert sqlite_db.inline is not None
    with sqlite_db.inline.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0


async def test_the_wal_restarts_under_sustained_writes_instead_of_growing(
    sqlite_db, cipher, inbound, monkeypatch
):
    """A checkpoint beside a writer that never pauses copies what it saw while more is
    appended, so the WAL never found itself all copied and grew with every commit. The
    writer now makes way for a restart once the WAL is long: its file stays bounded."""
    import omnihub.store.ingest as ingest_module
    import omnihub.store.sqlite_inline as inline_module

    monkeypatch.setattr(ingest_module, "CHECKPOINT_EVERY", 4)
    monkeypatch.setattr(inline_module, "RESTART_FRAMES", 300)
    store = Store(sqlite_db, cipher)
    await store.start()
    wal = Path(str(sqlite_db.url.database) + "-wal")
    sizes = []

    async def sender(worker: int) -> None:
        for n in range(60):  # 32 senders at once: the writer is never idle
            await store.ingest(inbound(f"m{worker}-{n}", ("telegram", str(n % 50))))
            if worker == 0:
                sizes.append(wal.stat().st_size)

    try:
        await asyncio.gather(*(sender(w) for w in range(32)))
    finally:
        await store.close()
    assert sqlite_db.inline is not None
    assert sqlite_db.inline.restarts >= 2
    # 1,920 messages wrote far more than 300 pages; the file held only a few restarts' worth
    assert max(sizes) < 3_000 * 4096
    async with sqlite_db.read() as conn:
        stored = (await conn.execute(sa.select(sa.func.count()).select_from(messages))).scalar()
    assert stored == 32 * 60


async def test_a_driver_error_on_the_inline_connection_is_sqlalchemys(sqlite_db):
    assert sqlite_db.inline is not None
    with pytest.raises(sa.exc.OperationalError) as caught:
        async with sqlite_db.inline.transaction() as conn:
            await conn.exec_driver_sql("INSERT INTO no_such_table VALUES (?)", (1,))
    assert isinstance(caught.value.orig, sqlite3.OperationalError)
    # The failed transaction was rolled back: the connection takes the next one.
    async with sqlite_db.inline.transaction() as conn:
        assert await conn.exec_driver_sql("SELECT 1") == [(1,)]


async def test_planned_statements_return_what_sqlalchemy_returns(sqlite_db, cipher, inbound):
    """The ingest path's SELECTs run from compiled plans (omnihub/store/plans.py):
    the same rows, converted by the same column types (aware datetimes, parsed JSON,
    booleans), as SQLAlchemy's own execution of the statement."""
    from omnihub.store.ingest_batch import _SELECT_OPEN, _SELECT_STORED
    from omnihub.store.value_lists import values_param

    store = Store(sqlite_db, cipher)
    await store.start()
    try:
        stored = await store.ingest(inbound("m1", ("telegram", "7")))
    finally:
        await store.close()
    assert sqlite_db.inline is not None
    dialect = sqlite_db.inline.engine.dialect
    cases = [
        (_SELECT_STORED(dialect), {"channels": values_param(["tg"], dialect),
                                   "external_ids": values_param(["m1", "nope"], dialect)}),
        (_SELECT_OPEN(dialect), {"keys": values_param(["x", stored.message.conversation_id],
                                                      dialect)}),
    ]
    async with sqlite_db.inline.transaction() as conn:
        for statement, params in cases:
            planned = (await conn.execute(statement, params)).all()
            expected = conn._sync.execute(statement, params).all()
            assert [tuple(r) for r in planned] == [tuple(r) for r in expected]
            assert [r._mapping.keys() for r in planned] == [r._mapping.keys() for r in expected]
        row = (await conn.execute(*cases[0])).one()
        assert row.created_at.tzinfo is not None and row.parts[0]["text"] == "hello"
        assert row.id == stored.message.id
    planned_statements = {id(s) for s in sqlite_db.inline._plans.planned()}
    assert id(cases[0][0]) in planned_statements  # run from its plan, not by SQLAlchemy


async def test_history_is_read_on_the_loop_and_from_the_pool_while_sqlite_is_busy(
    sqlite_db, cipher, inbound, monkeypatch
):
    """Pages are read on the loop's thread (omnihub/store/sqlite_reads.py), which never
    waits for a lock: a locked database fails that read at once, and the page then
    comes from the reader pool instead."""
    store = Store(sqlite_db, cipher)
    await store.start()
    try:
        first = await store.ingest(inbound("m1", ("telegram", "7")))
        await store.ingest(inbound("m2", ("telegram", "7")))
    finally:
        await store.close()
    customer = first.message.customer_id
    pool_reads = []
    sa.event.listen(sqlite_db.reader.sync_engine, "before_cursor_execute",
                    lambda *args: pool_reads.append(args[2]))
    page = await store.customer_history(customer)
    assert [m.external_id for m in page.items] == ["m2", "m1"]
    assert not [sql for sql in pool_reads if "messages" in sql]  # read on the loop's thread

    # A connection alone with the file takes it exclusively: the loop's read fails at once.
    assert sqlite_db.inline is not None and sqlite_db.quick_reads is not None
    sqlite_db.inline.close()
    sqlite_db.quick_reads.close()
    await sqlite_db.reader.dispose()
    await sqlite_db.writer.dispose()
    holder = sqlite3.connect(str(sqlite_db.url.database), isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("SELECT count(*) FROM messages").fetchall()
    started = asyncio.get_running_loop().time()
    with pytest.raises(sa.exc.OperationalError) as locked:
        await sqlite_db.quick_reads.fetch(sa.text("SELECT count(*) FROM messages"))
    assert asyncio.get_running_loop().time() - started < 0.5  # no busy wait on the loop
    holder.execute("COMMIT")
    holder.close()

    # That failure sends the page to the pool.
    async def still_locked(*_args: object) -> None:
        raise locked.value

    monkeypatch.setattr(sqlite_db.quick_reads, "fetch", still_locked)
    page = await store.customer_history(customer)
    assert [m.external_id for m in page.items] == ["m2", "m1"]
    assert [sql for sql in pool_reads if "messages" in sql]
