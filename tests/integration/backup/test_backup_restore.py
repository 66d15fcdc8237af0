"""Backup and restore round trips, on each database and across them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from omnihub.hub.keys import load_cipher
from omnihub.normalizer.schema import Identity, InboundMessage, Sender, TextPart
from omnihub.store import Store
from omnihub.store.backup import create_backup, restore_backup
from omnihub.store.backup.media import blob_path
from omnihub.store.db import Database
from omnihub.store.migrate import current_revision, head_revision
from omnihub.store.tables import outbox

from .conftest import add_null_audit_rows, dump, seed, sql_nulls

PAIRS = [
    ("sqlite", "sqlite"),
    ("postgresql", "postgresql"),
    ("mysql", "mysql"),
    ("sqlite", "postgresql"),
    ("postgresql", "mysql"),
    ("mysql", "sqlite"),
]


@pytest.mark.parametrize("source, target", PAIRS, ids=[f"{s}-to-{t}" for s, t in PAIRS])
async def test_round_trip_restores_every_row_and_blob(
    source: str, target: str, make_hub: Callable[..., Any], make_store_url: Any,
    backup_dir: Callable[[str], Path], tmp_path: Path,
) -> None:
    source_url = await make_store_url(source)
    client = await make_hub(source_url)
    ids = await seed(client)
    settings = client.hub.settings
    await client.http.close()  # a still database, so the two dumps can be compared whole
    source_db = Database(source_url)
    target_db = Database(await make_store_url(target))
    media_target = tmp_path / "restored-media"
    try:
        await add_null_audit_rows(source_db)
        manifest = await create_backup(source_db, backup_dir("b"), settings.media.dir)
        before = await dump(source_db)
        restored = await restore_backup(target_db, backup_dir("b"), media_target)
        after = await dump(target_db)
        assert after == before
        assert await sql_nulls(target_db) == await sql_nulls(source_db) == 1
        assert restored == manifest
        assert manifest.schema_revision == head_revision() == await current_revision(target_db)
        assert {t.name: t.rows for t in manifest.tables} == {k: len(v) for k, v in before.items()}
        assert blob_path(media_target, ids["image"]).read_bytes() == blob_path(
            settings.media.dir, ids["image"]).read_bytes()
        assert manifest.missing_media == []
        assert manifest.pii_key_ids == [load_cipher(settings).primary_key_id]

        # The restored store works: addresses decrypt with the same key, new rows get new keys.
        store = Store(target_db, load_cipher(settings))
        await store.start()
        try:
            found = await store.find_customer("email", "c-2@example.com")
            assert found is not None
            seqs_before = len(before["outbox"])
            await store.ingest(InboundMessage(
                channel_id="shop", channel_type="api", external_id="after-restore",
                sender=Sender(identities=[Identity(kind="email", address="new@example.com")]),
                parts=[TextPart(text="hello again")]))
        finally:
            await store.close()
        async with target_db.read() as conn:
            seqs = (await conn.execute(
                sa.select(outbox.c.seq).order_by(outbox.c.seq))).scalars().all()
        assert len(seqs) > seqs_before and len(set(seqs)) == len(seqs)
    finally:
        await source_db.dispose()
        await target_db.dispose()
