"""A backup taken while messages stream in holds everything committed before it began."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from omnihub.store.backup import create_backup, restore_backup
from omnihub.store.db import Database
from omnihub.store.tables import conversations, customers, messages

from .conftest import api_post

WRITERS = 6


@pytest.mark.parametrize("source", ["sqlite", "postgresql", "mysql"])
async def test_backup_of_a_busy_hub_restores_every_acknowledged_message(
    source: str, make_store_url: Any, make_hub: Callable[..., Any],  # hubs close first
    backup_dir: Callable[[str], Path], tmp_path: Path,
) -> None:
    client = await make_hub(await make_store_url(source))
    acked: list[str] = []
    stop = asyncio.Event()

    async def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            external_id = f"w{n}-{i}"
            body = api_post(external_id, f"cust-{n}-{i % 5}", f"message {i}",
                            email=f"w{n}-{i % 5}@example.com")
            response = await client.post_message(body)
            assert response.status == 200, await response.text()
            acked.append(external_id)
            i += 1

    tasks = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
    try:
        while len(acked) < 60:
            await asyncio.sleep(0.01)
        committed_before = set(acked)
        # Small batches: many round trips, so ingest interleaves with the backup.
        manifest = await create_backup(client.hub.db, backup_dir("busy"),
                                       client.hub.settings.media.dir, batch_rows=5)
        acked_during = set(acked) - committed_before
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert acked_during, "nothing was ingested while the backup ran"

    target = Database(await make_store_url("postgresql"))
    try:
        await restore_backup(target, backup_dir("busy"), tmp_path / "media")
        async with target.read() as conn:
            rows = (await conn.execute(
                sa.select(messages.c.external_id, customers.c.id, conversations.c.id)
                .select_from(messages.join(customers, messages.c.customer_id == customers.c.id)
                             .join(conversations, messages.c.conversation_id == conversations.c.id))
                .where(messages.c.direction == "in"))).all()
            total = await conn.scalar(sa.select(sa.func.count()).select_from(messages))
    finally:
        await target.dispose()
    restored = {external_id for external_id, _, _ in rows}
    assert committed_before <= restored  # with its customer and conversation (the joins)
    assert restored <= set(acked)
    assert total == next(t.rows for t in manifest.tables if t.name == "messages")
