"""The API channel end to end: signed posts in, the agent read path, replies out."""

from __future__ import annotations

import asyncio
import io
import time

import orjson
import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer

from omnihub.hub import signing
from omnihub.store import tables

from .conftest import SECRET, HubClient, api_post, signed


async def count(hub: HubClient, table: sa.Table) -> int:
    async with hub.hub.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()


async def test_signed_post_is_stored_once(hub: HubClient) -> None:
    first = await hub.post_message(api_post("m-1", email="Ann@Example.COM"))
    assert first.status == 200, await first.text()
    body = await first.json()
    assert body["messages"][0]["duplicate"] is False
    again = await hub.post_message(api_post("m-1", email="Ann@Example.COM"))
    assert again.status == 200
    body2 = await again.json()
    assert body2["messages"][0] == {"id": body["messages"][0]["id"], "duplicate": True}
    assert await count(hub, tables.messages) == 1
    assert await count(hub, tables.customers) == 1


@pytest.mark.parametrize(
    ("mutate", "status", "code"),
    [
        (lambda raw, h: (raw, {"Content-Type": "application/json"}), 401, "invalid_signature"),
        (lambda raw, h: (raw, {signing.HEADER: signing.sign("wrong-secret-0123456789", raw)}), 401,
         "invalid_signature"),
        (lambda raw, h: (raw, {signing.HEADER: signing.sign(SECRET, raw, timestamp=int(time.time()) - 3600)}),
         401, "invalid_signature"),
        (lambda raw, h: (raw + b" ", h), 401, "invalid_signature"),  # body changed after signing
        (lambda raw, h: signed(b"{not json"), 400, "bad_payload"),
        (lambda raw, h: signed({"external_id": "x"}), 400, "bad_payload"),
        (lambda raw, h: signed({"external_id": "x", "customer": {"external_id": "c"}}), 400, "bad_payload"),
        (lambda raw, h: signed(b"[1,2]"), 400, "bad_payload"),
        (lambda raw, h: signed(api_post("x", email="not-an-address")), 400, "bad_payload"),
        (lambda raw, h: signed(api_post("x", phone="12")), 400, "bad_payload"),
    ],
    ids=["unsigned", "wrong-secret", "stale", "tampered", "not-json", "no-customer", "no-content",
         "not-object", "bad-email", "bad-phone"],
)
async def test_bad_requests_are_refused_and_leave_no_trace(hub: HubClient, mutate, status, code) -> None:  # type: ignore[no-untyped-def]
    raw, headers = signed(api_post("m-bad"))
    raw, headers = mutate(raw, headers)
    resp = await hub.http.post("/webhooks/shop", data=raw, headers=headers)
    assert resp.status == status
    assert (await resp.json())["error"]["code"] == code
    for table in (tables.messages, tables.customers, tables.conversations, tables.outbox, tables.raw_payloads):
        assert await count(hub, table) == 0


async def test_unknown_channel_is_404(hub: HubClient) -> None:
    raw, headers = signed(api_post("m-1"))
    resp = await hub.http.post("/webhooks/nope", data=raw, headers=headers)
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "unknown_channel"


async def test_oversized_body_is_413(hub: HubClient) -> None:
    raw, headers = signed(api_post("m-big", text="x" * (2 * 1024 * 1024)))
    resp = await hub.http.post("/webhooks/shop", data=io.BytesIO(raw), headers=headers)
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "payload_too_large"
    assert await count(hub, tables.messages) == 0


async def test_agent_read_path(hub: HubClient) -> None:
    await hub.post_message(api_post("m-1", customer="c-9", text="where is my order?",
                                    email="Lin@Example.com", phone="+86 138 0013 8000", name="Lin"))
    await hub.post_message(api_post("m-2", customer="c-9", text="order 1234"))
    assert (await hub.http.get("/api/v1/conversations")).status == 401
    auth = await hub.token("agent")
    resp = await hub.http.get("/api/v1/customers", params={"identity": "email:LIN@example.com"}, headers=auth)
    assert resp.status == 200, await resp.text()
    customer = await resp.json()
    assert customer["display_name"] == "Lin"
    kinds = {(i["kind"], i["address"]) for i in customer["identities"]}
    assert ("phone", "+8613800138000") in kinds and ("email", "lin@example.com") in kinds
    same = await hub.http.get("/api/v1/customers", params={"identity": "phone:+8613800138000"}, headers=auth)
    assert (await same.json())["id"] == customer["id"]

    history = await (await hub.http.get(f"/api/v1/customers/{customer['id']}/history",
                                        params={"limit": "1"}, headers=auth)).json()
    assert [m["parts"][0]["text"] for m in history["items"]] == ["order 1234"]
    older = await (await hub.http.get(f"/api/v1/customers/{customer['id']}/history",
                                      params={"limit": "1", "cursor": history["next_cursor"]},
                                      headers=auth)).json()
    assert [m["parts"][0]["text"] for m in older["items"]] == ["where is my order?"]

    conversations = await (await hub.http.get("/api/v1/conversations", params={"status": "open"},
                                              headers=auth)).json()
    assert len(conversations["items"]) == 1
    conv_id = conversations["items"][0]["id"]
    messages = await (await hub.http.get(f"/api/v1/conversations/{conv_id}/messages", headers=auth)).json()
    assert len(messages["items"]) == 2

    bad = await hub.http.get("/api/v1/conversations", params={"limit": "0"}, headers=auth)
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "limit"
    assert (await hub.http.get("/api/v1/conversations/nope", headers=auth)).status == 404
    assert (await hub.http.get("/api/v1/customers", params={"identity": "email:nobody@example.com"},
                               headers=auth)).status == 404


async def test_reply_is_delivered_signed_to_reply_url_once(make_hub, make_store_url) -> None:  # type: ignore[no-untyped-def]
    received: list[tuple[bytes, dict[str, str]]] = []

    async def shop(request: web.Request) -> web.Response:
        body = await request.read()
        received.append((body, dict(request.headers)))
        return web.json_response({"id": f"shop-{len(received)}"})

    shop_app = web.Application()
    shop_app.router.add_post("/replies", shop)
    shop_server = TestServer(shop_app)
    await shop_server.start_server()
    try:
        hub = await make_hub(await make_store_url("sqlite"), reply_url=str(shop_server.make_url("/replies")))
        await hub.post_message(api_post("m-1", customer="c-7"))
        auth = await hub.token("agent")
        conv = (await (await hub.http.get("/api/v1/conversations", headers=auth)).json())["items"][0]
        headers = {**auth, "Idempotency-Key": "reply-1"}
        first = await hub.http.post(f"/api/v1/conversations/{conv['id']}/messages",
                                    json={"text": "It ships today."}, headers=headers)
        assert first.status == 201, await first.text()
        retry = await hub.http.post(f"/api/v1/conversations/{conv['id']}/messages",
                                    json={"text": "It ships today."}, headers=headers)
        assert retry.status == 200
        assert (await retry.json())["id"] == (await first.json())["id"]

        for _ in range(200):
            if received:
                break
            await asyncio.sleep(0.02)
        assert len(received) == 1
        body, got = received[0]
        signing.verify(SECRET, body, got[signing.HEADER])
        payload = orjson.loads(body)
        assert payload["customer"] == {"external_id": "c-7"}
        assert payload["text"] == "It ships today."
        assert got["Idempotency-Key"] == payload["message_id"]
        for _ in range(100):
            msg = (await (await hub.http.get(f"/api/v1/conversations/{conv['id']}/messages",
                                             headers=auth)).json())["items"][0]
            if msg["status"] == "sent":
                break
            await asyncio.sleep(0.02)
        assert msg["status"] == "sent" and msg["external_id"] == "shop-1"
    finally:
        await shop_server.close()


async def test_health_ready_and_metrics(hub: HubClient) -> None:
    assert (await hub.http.get("/healthz")).status == 200
    ready = await hub.http.get("/readyz")
    assert ready.status == 200 and (await ready.json())["checks"] == {"store": "ok", "bus": "ok"}
    await hub.post_message(api_post("m-1"))
    await hub.http.post("/webhooks/shop", data=b"{}", headers={"Content-Type": "application/json"})
    text = await (await hub.http.get("/metrics")).text()
    assert 'omnihub_ingest_total{channel="shop",result="stored"} 1.0' in text
    assert 'omnihub_webhook_rejected_total{channel="shop",reason="invalid_signature"} 1.0' in text
    assert "omnihub_outbox_depth " in text and "omnihub_dead_letters 0.0" in text
    assert "omnihub_retrying_jobs 0.0" in text


async def test_a_failing_delivery_shows_as_a_retrying_job(make_hub, make_store_url) -> None:  # type: ignore[no-untyped-def]
    async def down(request: web.Request) -> web.Response:
        return web.Response(status=503)

    shop_app = web.Application()
    shop_app.router.add_post("/replies", down)
    shop_server = TestServer(shop_app)
    await shop_server.start_server()
    try:
        hub = await make_hub(await make_store_url("sqlite"),
                             reply_url=str(shop_server.make_url("/replies")),
                             extra={"monitoring": {"collect_seconds": 0.05}})
        await hub.post_message(api_post("m-1"))
        auth = await hub.token("agent")
        conv = (await (await hub.http.get("/api/v1/conversations", headers=auth)).json())["items"][0]
        sent = await hub.http.post(f"/api/v1/conversations/{conv['id']}/messages",
                                   json={"text": "hello"}, headers=auth)
        assert sent.status == 201
        for _ in range(200):
            text = await (await hub.http.get("/metrics")).text()
            if "omnihub_retrying_jobs 1.0" in text:
                break
            await asyncio.sleep(0.02)
        assert "omnihub_retrying_jobs 1.0" in text
    finally:
        await shop_server.close()
