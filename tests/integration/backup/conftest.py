"""Backup fixtures: a hub with varied data in it, and whole-store dumps to compare."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from omnihub.normalizer.media import MediaStore
from omnihub.normalizer.schema import Identity, ImagePart, InboundMessage, Sender, TextPart
from omnihub.store.backup import backup_tables
from omnihub.store.db import Database
from omnihub.store.tables import audit_log

from ..hub.conftest import HubClient, api_post, hub, make_hub  # noqa: F401

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")


async def dump(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every backed-up table, in primary-key order, as Python values."""
    out: dict[str, list[dict[str, Any]]] = {}
    async with db.read() as conn:
        for table in backup_tables():
            rows = await conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            out[table.name] = [dict(row._mapping) for row in rows]
    return out


async def add_null_audit_rows(db: Database) -> None:
    """One audit row with SQL NULL and one with JSON null in `before`."""
    from datetime import UTC, datetime

    from omnihub.normalizer.ids import new_id

    row = {"actor": "ann", "role": "admin", "action": "test", "target_type": "conversation",
           "target_id": "x", "after": {"a": 1}, "created_at": datetime.now(UTC)}
    async with db.write() as conn:
        await conn.execute(audit_log.insert(), [{**row, "id": new_id(), "before": sa.null()},
                                                {**row, "id": new_id(), "before": sa.JSON.NULL}])


async def sql_nulls(db: Database) -> int:
    """Audit rows whose `before` is SQL NULL (not JSON null): the distinction must survive."""
    async with db.read() as conn:
        return await conn.scalar(sa.select(sa.func.count()).select_from(audit_log)
                                 .where(audit_log.c.before.is_(None)))


async def seed(client: HubClient) -> dict[str, Any]:
    """A little of everything: encrypted identities, unicode, replies, a resolved and a
    watched conversation, a read marker, an image with its blob, a token, audit rows."""
    ids: dict[str, Any] = {}
    for i, (customer, text) in enumerate([("c-1", "Where is my parcel?"), ("c-2", "我要退款 🙂"),
                                          ("c-1", "  trailing spaces  "), ("c-3", "x" * 5000)]):
        body = api_post(f"m-{i}", customer, text, email=f"{customer}@example.com",
                        phone="+86 138 0013 800" + customer[-1])
        response = await client.post_message(body)
        assert response.status == 200, await response.text()
    headers = await client.token("admin", "ann")
    conversations = (await (await client.http.get("/api/v1/conversations",
                                                  headers=headers)).json())["items"]
    first, second = conversations[0]["id"], conversations[1]["id"]
    reply = await client.http.post(f"/api/v1/conversations/{first}/messages",
                                   json={"text": "On its way"}, headers=headers)
    assert reply.status in (200, 201, 202), await reply.text()
    resolved = await client.http.post(f"/api/v1/conversations/{second}/resolve", json={},
                                      headers=headers)
    assert resolved.status == 200, await resolved.text()
    watch = await client.http.put(f"/api/v1/conversations/{first}/watchers/bob", headers=headers)
    assert watch.status in (200, 204), await watch.text()
    media = MediaStore(client.hub.settings.media.dir)
    ref = media.put(PNG, "image/png", "parcel.png")
    stored = await client.hub.store.ingest(InboundMessage(
        channel_id="shop", channel_type="api", external_id="m-image",
        sender=Sender(identities=[Identity(kind="api", address="shop:c-1")]),
        parts=[ImagePart(media=ref, caption="the box"), TextPart(text="broken")]))
    ids.update(first=first, second=second, image=ref.sha256, image_message=stored.message.id)
    return ids


@pytest.fixture
def backup_dir(tmp_path: Path) -> Callable[[str], Path]:
    return lambda name="backup": tmp_path / "backups" / name
