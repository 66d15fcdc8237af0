"""PostgreSQL connections of the hub cut mid-transaction (pg_terminate_backend) under load.

Senders post as providers do (retrying until 2xx) while the hub's backends are killed
again and again; a cut transaction rolls back, its webhooks get an error and are sent
again. Every acknowledged message is stored exactly once with exactly one
`message.received` event, and the hub serves on after it (its pool replaces the dead
connections by itself).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from omnihub.store import tables
from omnihub.store.db import async_url

from .conftest import HubClient, api_post, until

MESSAGES = 300
SENDERS = 8
CUTS = 5


async def busy_backends(conn: Any) -> list[Any]:
    """The hub's backends, once one of them is inside a transaction (or after 5 s)."""
    query = sa.text("SELECT pid, state FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    for _ in range(500):
        rows = (await conn.execute(query)).all()
        if any(state in ("active", "idle in transaction") for _pid, state in rows):
            return rows
        await asyncio.sleep(0.01)
    return rows


async def test_cut_postgres_connections_lose_and_double_nothing(
        make_store_url: Any, make_hub: Any) -> None:  # this order: the hub closes before its database is dropped
    store_url = await make_store_url("postgresql")
    hub: HubClient = await make_hub(store_url)
    # A connection of our own to the hub's database, to kill the hub's ones from outside.
    killer_engine = create_async_engine(async_url(store_url), isolation_level="AUTOCOMMIT",
                                        pool_size=1)
    acked: set[int] = set()
    refused = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(MESSAGES):
        queue.put_nowait(i)

    async def sender() -> None:
        nonlocal refused
        while not queue.empty():
            i = queue.get_nowait()
            while True:  # as a provider: again until 2xx
                try:
                    response = await hub.post_message(api_post(f"m-{i}", customer=f"c-{i % 40}",
                                                                text=f"message {i}"))
                    if response.status == 200:
                        acked.add(i)
                        break
                    refused += 1
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    refused += 1
                await asyncio.sleep(0.02)

    killed: list[int] = []

    async def cut() -> None:
        async with killer_engine.connect() as conn:
            for n in range(CUTS):
                await until(lambda n=n: len(acked) >= (n + 1) * MESSAGES // (CUTS + 2),
                            what=f"load before cut {n + 1}")
                # All of the hub's backends at once, whatever they are doing: some are
                # in the middle of a transaction (an ingest batch, an outbox mark).
                rows = await busy_backends(conn)
                for pid, state in rows:
                    await conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                    killed.append(state)

    try:
        await asyncio.wait_for(asyncio.gather(cut(), *(sender() for _ in range(SENDERS))), 50)
    finally:
        await killer_engine.dispose()

    assert len(killed) >= CUTS, "each cut should have found the hub's connections"
    assert any(state != "idle" for state in killed), "no cut hit a transaction"
    assert acked == set(range(MESSAGES))
    # The hub serves on: a new message, the agent API, /readyz, all on fresh connections.
    assert (await hub.post_message(api_post("after", customer="c-after"))).status == 200
    ready = await hub.http.get("/readyz")
    assert ready.status == 200 and (await ready.json())["checks"]["store"] == "ok"
    auth = await hub.token("agent")
    listed = await hub.http.get("/api/v1/conversations", headers=auth)
    assert listed.status == 200

    async with hub.hub.db.read() as conn:
        stored = dict((await conn.execute(
            sa.select(tables.messages.c.external_id, sa.func.count())
            .where(tables.messages.c.direction == "in")
            .group_by(tables.messages.c.external_id))).all())
        events = (await conn.execute(
            sa.select(tables.outbox.c.payload).where(tables.outbox.c.type == "message.received")
        )).scalars().all()
    assert set(stored) == {f"m-{i}" for i in range(MESSAGES)} | {"after"}
    assert set(stored.values()) == {1}, "a message was stored twice"
    assert len(events) == MESSAGES + 1, "one message.received per message"
