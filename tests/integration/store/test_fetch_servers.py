"""`Database.fetch` on the servers: its own autocommit pool without pre-ping (one round trip
per read), which must still survive a pooled connection the server has closed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from omnihub.store.db import Database

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
