"""The pools without pre-ping on the servers: `Database.fetch`'s (one round trip per read)
and the ingest writer's (one fewer in each batch's chain of them). Both must still survive
a pooled connection the server has closed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from omnihub.store import Store
from omnihub.store.crypto import PiiCipher
from omnihub.store.db import Database
from omnihub.store.migrate import upgrade
from omnihub.store.types import UTCDateTime

# The server's id of the session a statement runs in, and how another session ends it.
SESSION = {
    "postgresql": ("SELECT pg_backend_pid() AS session", "SELECT pg_terminate_backend({})"),
    "mysql": ("SELECT CONNECTION_ID() AS session", "KILL {}"),
}


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres),
                                     pytest.param("mysql", marks=pytest.mark.mysql)])
async def test_fetch_reconnects_once_the_server_closed_its_pooled_connection(
        make_store_url, backend: str) -> None:  # type: ignore[no-untyped-def]
    which, end = SESSION[backend]
    db = Database(await make_store_url(backend))
    try:
        first = (await db.fetch(sa.text(which)))[0]["session"]
        assert (await db.fetch(sa.text(which)))[0]["session"] == first  # pooled, reused
        async with db.write() as conn:  # another session ends the pooled one
            await conn.execute(sa.text(end.format(int(first))))
        again = (await db.fetch(sa.text(which)))[0]["session"]
        assert again != first
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres),
                                     pytest.param("mysql", marks=pytest.mark.mysql)])
async def test_ingest_runs_a_batch_again_once_the_server_closed_the_writers_connection(
        make_store_url, cipher: PiiCipher, inbound, backend: str) -> None:  # type: ignore[no-untyped-def]
    which, end = SESSION[backend]
    db = Database(await make_store_url(backend))
    await upgrade(db)
    store = Store(db, cipher)
    await store.start()
    try:
        await store.ingest(inbound("m1", ("telegram", "42")))
        async with db.batch_write() as conn:  # the pooled connection m1 was written on
            first = (await conn.execute(sa.text(which))).scalar_one()
        async with db.write() as conn:
            await conn.execute(sa.text(end.format(int(first))))
        second = await store.ingest(inbound("m2", ("telegram", "42")))
        assert not second.duplicate
        assert second.message.conversation_id == (
            await store.ingest(inbound("m1", ("telegram", "42")))).message.conversation_id
        async with db.batch_write() as conn:
            assert (await conn.execute(sa.text(which))).scalar_one() != first
    finally:
        await store.close()
        await db.dispose()


@pytest.mark.mysql
async def test_fetch_runs_in_autocommit_on_mysql(make_store_url) -> None:  # type: ignore[no-untyped-def]
    """No BEGIN and ROLLBACK around the statement (the writer pool runs READ COMMITTED
    transactions; this pool does not)."""
    db = Database(await make_store_url("mysql"))
    try:
        row = (await db.fetch(sa.text("SELECT @@autocommit AS alone")))[0]
        assert int(row["alone"]) == 1
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_fetch_on_postgresql_runs_a_planned_select_on_asyncpg(make_store_url) -> None:  # type: ignore[no-untyped-def]
    """Column types still convert both ways (aware UTC datetimes in and out), and a failing
    statement raises SQLAlchemy's DBAPIError like every other store call."""
    db = Database(await make_store_url("postgresql"))
    at = datetime(2026, 11, 26, 21, 0, 0, 123456, tzinfo=UTC)
    echo = sa.select(sa.literal(at, UTCDateTime()).label("at"),
                     sa.cast(sa.bindparam("n"), sa.Integer).label("n"))
    broken = sa.select((sa.literal_column("1") / sa.bindparam("zero", type_=sa.Integer))
                       .label("quotient"))
    try:
        row = (await db.fetch(echo, {"n": 7}))[0]
        assert row["at"] == at and row["at"].tzinfo is UTC
        assert row["n"] == 7
        assert db.pg_reads is not None and echo in db.pg_reads._plans.planned()
        with pytest.raises(DBAPIError, match="division by zero"):
            await db.fetch(broken, {"zero": 0})
        assert (await db.fetch(echo, {"n": 8}))[0]["n"] == 8  # the connection is still good
    finally:
        await db.dispose()
