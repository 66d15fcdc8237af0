"""A media directory on a full file system (a real 256 KiB tmpfs, filled up).

A Telegram photo whose file can't be written must not be acknowledged: the webhook answers
503 with Retry-After (Telegram sends the update again), nothing of it is stored, /readyz
says `degraded` with the media directory's reason, `omnihub_media_writable` is 0. Text
keeps flowing meanwhile. Once space is freed the provider's retry is stored, once, with
its photo, and /readyz and the metric recover without anyone touching the hub.
"""

from __future__ import annotations

import contextlib
import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from omnihub.hub.runtime import HUB
from omnihub.store import tables

from .bot_api import JPEG, BotApiStandIn, photo_update, telegram_channel, text_update, webhook_headers
from ..webchat.test_webchat_http import connected, form, stored_count
from .conftest import metric, until

PHOTO = JPEG + bytes(range(256)) * 256  # 64 KiB


@contextlib.contextmanager
def filled_tmpfs(mount: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs mounted at `mount`, with a file (`filler`) taking all its space."""
    mount.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"can't mount a tmpfs for the disk-full test: {done.stderr}"
    try:
        with open(mount / "filler", "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    with filled_tmpfs(tmp_path / "media") as mount:
        yield mount


async def test_a_full_media_disk_refuses_the_webhook_until_space_is_freed(
        start_hub: Any, make_store_url: Any, bot_api: BotApiStandIn, full_disk: Path) -> None:
    bot_api.files["photo-1"] = PHOTO
    client = await start_hub({
        "store": {"url": await make_store_url("sqlite")},
        "media": {"dir": str(full_disk)},
        "channels": [telegram_channel(bot_api)],
    })

    async def post(update: dict[str, Any]) -> Any:
        return await client.post("/webhooks/tg", data=orjson.dumps(update),
                                 headers=webhook_headers())

    assert (await post(text_update(1, "hello"))).status == 200
    refused = await post(photo_update(2, "photo-1", len(PHOTO)))
    assert refused.status == 503, await refused.text()
    assert (await refused.json())["error"]["code"] == "media_unwritable"
    assert refused.headers["Retry-After"] == "30"

    ready = await client.get("/readyz")
    body = await ready.json()
    assert ready.status == 200 and body["status"] == "degraded"
    assert body["media"]["status"] == "down"
    assert body["media"]["reason"] == "no space left on device"
    metrics = await (await client.get("/metrics")).text()
    assert metric(metrics, "omnihub_media_writable") == 0
    assert ('omnihub_webhook_rejected_total{channel="tg",reason="media_unwritable"} 1.0'
            in metrics)
    assert (await post(text_update(3, "still there?"))).status == 200  # text still flows
    assert (await post(photo_update(2, "photo-1", len(PHOTO)))).status == 503  # still full
    assert (await (await client.get("/readyz")).json())["status"] == "degraded"
    assert not list(full_disk.glob("??/??/*")), "no blob may be left behind"

    (full_disk / "filler").unlink()  # the operator frees space

    async def ready_again() -> bool:
        body = await (await client.get("/readyz")).json()
        return body["status"] == "ready"

    await until(ready_again, what="/readyz to recover once space is free", timeout=30)
    metrics = await (await client.get("/metrics")).text()
    assert metric(metrics, "omnihub_media_writable") == 1

    async def retried() -> bool:  # Telegram retries the update until it is acknowledged
        return (await post(photo_update(2, "photo-1", len(PHOTO)))).status == 200

    await until(retried, what="the retried photo to be taken", timeout=30)
    assert (await post(photo_update(2, "photo-1", len(PHOTO)))).status == 200  # duplicate

    db = client.app[HUB].db
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(tables.messages.c.parts)
                                   .where(tables.messages.c.direction == "in"))).all()
    assert len(rows) == 3, "two texts and the photo, each once"
    photos = [p for (parts,) in rows for p in (parts if isinstance(parts, list) else [])
              if p.get("kind") == "image"]
    assert len(photos) == 1
    sha = photos[0]["media"]["sha256"]
    assert (full_disk / sha[:2] / sha[2:4] / sha).read_bytes() == PHOTO


async def test_a_web_chat_upload_to_a_full_disk_is_503_and_works_once_space_is_freed(
        make_chat: Any, make_store_url: Any, tmp_path: Path) -> None:
    pdf = b"%PDF-1.4\n" + b"% invoice\n" * 2000
    with filled_tmpfs(tmp_path / "data" / "media") as media:  # the hub's default media dir
        chat = await make_chat(await make_store_url("sqlite"))
        widget = await connected(chat)
        refused = await chat.http.post("/chat/web/upload", headers=widget.session,
                                       data=form(pdf, "invoice.pdf", "application/pdf"))
        assert refused.status == 503, await refused.text()
        assert (await refused.json())["error"]["code"] == "media_unwritable"
        assert await stored_count(chat) == 0
        assert (await (await chat.http.get("/readyz")).json())["media"]["status"] == "down"

        (media / "filler").unlink()
        again = await chat.http.post("/chat/web/upload", headers=widget.session,
                                     data=form(pdf, "invoice.pdf", "application/pdf"))
        assert again.status == 200, await again.text()
        assert await stored_count(chat) == 1
        assert (await (await chat.http.get("/readyz")).json())["status"] == "ready"
        await chat.close_sockets()
