"""The web chat over plain HTTP: widget script, demo page, uploads, media, long-poll."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import pytest
import sqlalchemy as sa
from PIL import Image

from omnihub.store import tables

from .conftest import ChatHub, Widget


def jpeg_with_exif(size: tuple[int, int] = (3000, 1500)) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def form(data: bytes, name: str, mime: str, client_id: str = "u-00000001") -> aiohttp.FormData:
    body = aiohttp.FormData(quote_fields=False)  # as browsers send it
    body.add_field("client_id", client_id)
    body.add_field("file", io.BytesIO(data), filename=name, content_type=mime)
    return body


async def stored_count(chat: ChatHub) -> int:
    async with chat.hub.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(tables.messages))
                ).scalar_one()


async def connected(chat: ChatHub) -> Widget:
    widget = await chat.widget()
    await widget.hello()
    return widget


async def test_widget_script_is_small_plain_js_with_cache_headers(chat: ChatHub) -> None:
    resp = await chat.http.get("/chat/widget.js")
    assert resp.status == 200
    assert resp.content_type == "application/javascript"
    body = await resp.read()
    assert len(body) < 20_000 and b"new WebSocket" in body
    assert "max-age" in resp.headers["Cache-Control"]
    again = await chat.http.get("/chat/widget.js", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304


async def test_demo_page_embeds_the_widget_for_the_channel(chat: ChatHub) -> None:
    resp = await chat.http.get("/chat/demo")
    assert resp.status == 200
    assert '<script src="/chat/widget.js" data-channel="web"' in await resp.text()
    assert (await chat.http.get("/chat/demo?channel=nope")).status == 404


async def test_an_image_upload_is_reencoded_stored_and_served_to_its_owner_only(
        chat: ChatHub) -> None:
    widget = await connected(chat)
    resp = await chat.http.post("/chat/web/upload", headers=widget.session,
                                data=form(jpeg_with_exif(), "holiday.jpg", "image/jpeg"))
    assert resp.status == 200, await resp.text()
    ack = (await resp.json())["frames"][0]
    part = ack["message"]["parts"][0]
    assert ack["type"] == "ack" and part["kind"] == "image" and part["mime"] == "image/jpeg"
    media = await chat.http.get(part["url"], headers=widget.session)
    assert media.status == 200 and media.headers["Content-Type"] == "image/jpeg"
    assert media.headers["X-Content-Type-Options"] == "nosniff"
    data = await media.read()
    assert b"SpyCam" not in data
    with Image.open(io.BytesIO(data)) as image:
        assert max(image.size) == 2048
    stranger = await connected(chat)
    assert (await chat.http.get(part["url"], headers=stranger.session)).status == 404
    assert (await chat.http.get(part["url"])).status == 401
    # the same upload again (a retry) is the same message
    again = await chat.http.post("/chat/web/upload", headers=widget.session,
                                 data=form(jpeg_with_exif(), "holiday.jpg", "image/jpeg"))
    assert (await again.json())["frames"][0]["id"] == ack["id"]


async def test_a_file_upload_is_offered_as_a_download(chat: ChatHub) -> None:
    widget = await connected(chat)
    pdf = b"%PDF-1.4\n% invoice\n"
    resp = await chat.http.post("/chat/web/upload", headers=widget.session,
                                data=form(pdf, "invoice 42.pdf", "application/pdf"))
    part = (await resp.json())["frames"][0]["message"]["parts"][0]
    assert part["kind"] == "file"
    media = await chat.http.get(part["url"], headers=widget.session)
    assert await media.read() == pdf
    assert media.headers["Content-Disposition"] == "attachment; filename*=UTF-8''invoice%2042.pdf"


async def test_an_oversized_upload_is_413_and_stores_nothing(make_chat, make_store_url) -> None:  # type: ignore[no-untyped-def]
    chat = await make_chat(await make_store_url("sqlite"), max_upload_bytes=50_000)
    widget = await connected(chat)
    resp = await chat.http.post("/chat/web/upload", headers=widget.session,
                                data=form(b"%PDF-1.4\n" + b"0" * 200_000, "big.pdf",
                                          "application/pdf"))
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "payload_too_large"
    assert await stored_count(chat) == 0


@pytest.mark.parametrize(("data", "name", "mime"), [
    (b"MZ\x90\x00\x03" + b"\x00" * 500, "cat.png", "image/png"),
    (b"\x7fELF\x02\x01" + b"\x00" * 500, "photo.jpg", "image/jpeg"),
    (b"not an image at all", "x.png", "image/png"),
], ids=["exe-as-png", "elf-as-jpg", "junk-as-png"])
async def test_disguised_files_are_refused(chat: ChatHub, data: bytes, name: str, mime: str) -> None:
    widget = await connected(chat)
    resp = await chat.http.post("/chat/web/upload", headers=widget.session,
                                data=form(data, name, mime))
    assert resp.status == 415
    assert (await resp.json())["error"]["code"] == "unsupported_media_type"
    assert await stored_count(chat) == 0


async def test_uploads_need_a_valid_token_and_a_client_id(chat: ChatHub) -> None:
    data = form(b"%PDF-1.4\n", "a.pdf", "application/pdf")
    assert (await chat.http.post("/chat/web/upload", data=data)).status == 401
    bad = {"Authorization": "Bearer wc1.eyJ2IjoieCJ9.AAAA"}
    resp = await chat.http.post("/chat/web/upload", data=form(b"%PDF-1.4\n", "a.pdf",
                                                               "application/pdf"), headers=bad)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "invalid_token"
    widget = await connected(chat)
    resp = await chat.http.post("/chat/web/upload", headers=widget.session,
                                data=form(b"%PDF-1.4\n", "a.pdf", "application/pdf", "x"))
    assert resp.status == 400
    resp = await chat.http.post("/chat/web/upload", headers=widget.session, data=b"plain")
    assert resp.status == 400


async def test_the_long_poll_fallback_carries_the_same_conversation(chat: ChatHub) -> None:
    resp = await chat.http.post("/chat/web/send", json={"type": "hello"})
    welcome = (await resp.json())["frames"][0]
    assert welcome["type"] == "welcome"
    auth = {"Authorization": f"Bearer {welcome['session']}"}
    resp = await chat.http.post("/chat/web/send", headers=auth, json={
        "type": "message", "client_id": "p-00000001", "text": "no websockets here"})
    ack = (await resp.json())["frames"][0]
    assert ack["type"] == "ack" and await chat.hub.store.get_message(ack["id"]) is not None
    poll = asyncio.create_task(chat.http.post("/chat/web/poll", headers=auth,
                                              json={"last_id": ack["id"], "wait": 10}))
    await asyncio.sleep(0.3)  # the poll is now held
    reply = await chat.reply(ack["message"]["conversation_id"], "we hear you", await chat.agent())
    frames = (await (await poll).json())["frames"]
    assert frames[0] == {"type": "history", "messages": [], "updates": [], "read_up_to": None}
    assert frames[1]["message"]["id"] == reply["id"]
    # a poll after missing it (say, the reply came between two polls) replays it at once
    resp = await chat.http.post("/chat/web/poll", headers=auth, json={"last_id": ack["id"]})
    assert [m["id"] for m in (await resp.json())["frames"][0]["messages"]] == [reply["id"]]


async def test_long_poll_bad_input_is_a_clear_4xx(chat: ChatHub) -> None:
    assert (await chat.http.post("/chat/web/poll", json={})).status == 401
    resp = await chat.http.post("/chat/web/send", json={"type": "hello"})
    auth = {"Authorization": f"Bearer {(await resp.json())['frames'][0]['session']}"}
    resp = await chat.http.post("/chat/web/poll", headers=auth, data=b"{nope")
    assert resp.status == 400
    resp = await chat.http.post("/chat/web/send", headers=auth, data=b"[]")
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_frame"
    resp = await chat.http.get("/chat/web/ws")
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "websocket_required"


async def test_cross_origin_calls_get_cors_headers_for_allowed_origins(make_chat, make_store_url) -> None:  # type: ignore[no-untyped-def]
    chat = await make_chat(await make_store_url("sqlite"), allowed_origins=["https://shop.example"])
    pre = await chat.http.options("/chat/web/upload", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST"})
    assert pre.status == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    refused = await chat.http.post("/chat/web/send", json={"type": "hello"},
                                   headers={"Origin": "https://evil.example"})
    assert refused.status == 403
