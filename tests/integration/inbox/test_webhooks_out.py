"""Outbound webhooks: a receiver that is down at first gets everything once it is back,
signed, in order per conversation, and only the event types it subscribed to."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer

from omnihub.hub import signing
from omnihub.inbox.webhooks_out import _excerpt, matches
from omnihub.store.tables import jobs, outbox

from .conftest import api_post

HOOK_SECRET = "hook-secret-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_event_patterns() -> None:
    assert matches(["*"], "message.received")
    assert matches(["message.*"], "message.status")
    assert not matches(["message.*"], "messages.x")
    assert not matches(["message.*"], "conversation.created")
    assert matches(["conversation.closed"], "conversation.closed")
    assert not matches(["conversation.closed"], "conversation.closed.x")


def test_an_error_excerpt_survives_any_charset() -> None:
    assert _excerpt("Überlastet".encode("latin-1"), "latin-1") == "Überlastet"
    assert _excerpt(b"busy \xff", "no-such-charset") == "busy \ufffd"
    assert _excerpt(b"busy", None) == "busy"


async def test_down_receiver_gets_everything_in_order_once_back(make_hub, make_store_url) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    hub = await make_hub(await make_store_url("sqlite"), extra={"inbox": {
        "webhooks": [{"url": url, "secret": HOOK_SECRET, "events": ["message.*"]}],
        "webhook_retry": {"backoff_base_seconds": 0.05, "backoff_max_seconds": 0.2,
                          "poll_seconds": 0.05}}})
    for n in range(6):  # two customers, interleaved: two conversations
        resp = await hub.post_message(api_post(f"m-{n}", customer=f"c-{n % 2}", text=f"t{n}"))
        assert resp.status == 200
    async with hub.hub.db.read() as conn:
        expected = (await conn.execute(
            sa.select(outbox.c.id, outbox.c.key).where(outbox.c.topic == "event",
                                                       outbox.c.type == "message.received")
            .order_by(outbox.c.seq))).all()
    assert len(expected) == 6
    waiting = 0
    for _ in range(1000):  # the first attempts fail: the receiver is not listening yet
        async with hub.hub.db.read() as conn:
            waiting = await conn.scalar(sa.select(sa.func.count()).select_from(jobs))
        if waiting == 6:
            break
        await asyncio.sleep(0.02)
    assert waiting == 6
    await asyncio.sleep(0.3)  # a few retry rounds against the closed port

    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        signing.verify(HOOK_SECRET, body, request.headers.get(signing.HEADER))
        payload = orjson.loads(body)
        assert request.headers["Omnihub-Event-Id"] == payload["id"]
        assert set(payload) == {"id", "type", "created_at", "data"}
        received.append(payload)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        for _ in range(1500):  # generous: the suite may run on a loaded machine
            if {p["id"] for p in received} >= {row.id for row in expected}:
                break
            await asyncio.sleep(0.02)
    finally:
        await server.close()
    assert {p["id"] for p in received} == {row.id for row in expected}
    assert {p["type"] for p in received} == {"message.received"}
    for key in {row.key for row in expected}:
        want = [row.id for row in expected if row.key == key]
        got = list(dict.fromkeys(p["id"] for p in received if p["data"]["conversation_id"] == key))
        assert got == want
    async with hub.hub.db.read() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(jobs)) == 0


async def test_a_cookie_a_receiver_sets_is_not_sent_back(make_hub, make_store_url) -> None:  # type: ignore[no-untyped-def]
    """The hub's outbound HTTP keeps no cookies: what one answer sets must not ride along on
    the next delivery (nor on calls to other endpoints on that host)."""
    cookies: list[str | None] = []

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        cookies.append(request.headers.get("Cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie("session", "receiver-state")
        return response

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        hub = await make_hub(await make_store_url("sqlite"), extra={"inbox": {"webhooks": [
            # a host name: aiohttp's default jar ignores cookies from bare IP addresses
            {"url": f"http://localhost:{server.port}/hook", "secret": HOOK_SECRET,
             "events": ["message.received"]}]}})
        for n in range(3):  # one conversation: delivered one after another
            resp = await hub.post_message(api_post(f"m-{n}", customer="c-1", text=f"t{n}"))
            assert resp.status == 200
        for _ in range(1500):
            if len(cookies) >= 3:
                break
            await asyncio.sleep(0.02)
    finally:
        await server.close()
    assert len(cookies) == 3
    assert cookies == [None, None, None]


async def test_an_error_answer_is_read_only_as_far_as_the_error_needs(make_hub, make_store_url) -> None:  # type: ignore[no-untyped-def]
    """A receiver answering 500 with an endless (or huge) body: the hub reads the first bytes
    for the error, not the whole body, so the failure is recorded at once as the 500 it is
    instead of a timeout (and a huge body never sits in memory)."""
    started = asyncio.Event()

    async def hook(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(status=500)
        await response.prepare(request)
        started.set()
        while True:  # until the hub hangs up
            await response.write(b"x" * 65536)
            await asyncio.sleep(0.001)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        hub = await make_hub(await make_store_url("sqlite"), extra={"inbox": {
            "webhooks": [{"url": str(server.make_url("/hook")), "secret": HOOK_SECRET,
                          "events": ["message.received"]}],
            "webhook_retry": {"backoff_base_seconds": 30, "backoff_max_seconds": 60,
                              "poll_seconds": 0.05}}})
        assert (await hub.post_message(api_post("m-1", customer="c-1", text="t"))).status == 200
        await asyncio.wait_for(started.wait(), 10)
        error = None
        for _ in range(150):  # 3 s: well inside the sender's 10 s timeout
            async with hub.hub.db.read() as conn:
                error = await conn.scalar(sa.select(jobs.c.last_error))
            if error:
                break
            await asyncio.sleep(0.02)
    finally:
        await server.close()
    assert error is not None and "answered 500" in error, error
    assert len(error) < 400


async def test_a_redirect_is_a_failed_delivery_not_followed(make_hub, make_store_url) -> None:  # type: ignore[no-untyped-def]
    """A 3xx answer is not followed (the signed event would go to wherever it points): the
    delivery fails with the status and is retried against the configured URL."""
    moved_to: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        raise web.HTTPFound("/elsewhere")

    async def elsewhere(request: web.Request) -> web.Response:
        moved_to.append(request.path)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_route("*", "/elsewhere", elsewhere)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        hub = await make_hub(await make_store_url("sqlite"), extra={"inbox": {
            "webhooks": [{"url": str(server.make_url("/hook")), "secret": HOOK_SECRET,
                          "events": ["message.received"]}],
            "webhook_retry": {"backoff_base_seconds": 30, "backoff_max_seconds": 60,
                              "poll_seconds": 0.05}}})
        assert (await hub.post_message(api_post("m-1", customer="c-1", text="t"))).status == 200
        error = None
        for _ in range(500):
            async with hub.hub.db.read() as conn:
                error = await conn.scalar(sa.select(jobs.c.last_error))
            if error:
                break
            await asyncio.sleep(0.02)
    finally:
        await server.close()
    assert error is not None and "answered 302" in error, error
    assert moved_to == []
