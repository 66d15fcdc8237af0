"""Webhook endpoints added through the API: delivered like hub.yaml's, changed and removed
at run time, the secret shown once and kept encrypted, every change audited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer

from omnihub.hub import signing
from omnihub.store.tables import audit_log, webhook_subscriptions

from .conftest import Desk, api_post, open_desk

CONFIG_HOOK = {"url": "http://127.0.0.1:9/config-hook", "secret": "config-secret-0123456789",
               "events": ["conversation.*"]}


class Receiver:
    """A receiving system: records what arrives, checking each signature with `secret`."""

    def __init__(self) -> None:
        self.secret = ""
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url("/hook"))

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            signing.verify(self.secret, body, request.headers.get(signing.HEADER))
        except signing.SignatureError:
            self.bad_signatures += 1
            return web.json_response({"error": "bad signature"}, status=400)
        self.received.append(orjson.loads(body))
        return web.json_response({"ok": True})

    def types(self) -> list[str]:
        return [event["type"] for event in self.received]

    async def wait_for(self, count: int) -> None:
        for _ in range(1500):
            if len(self.received) >= count:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{len(self.received)} events arrived, expected {count}")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.server.start_server()
    yield receiver
    await receiver.server.close()


@pytest.fixture
async def desk(make_hub, make_store_url) -> Desk:  # type: ignore[no-untyped-def]
    hub = await make_hub(await make_store_url("sqlite"), extra={"inbox": {
        "webhooks": [CONFIG_HOOK],
        "webhook_retry": {"backoff_base_seconds": 0.05, "backoff_max_seconds": 0.2,
                          "poll_seconds": 0.05}}})
    return await open_desk(hub)


async def test_an_endpoint_added_through_the_api_receives_signed_events(
        desk: Desk, receiver: Receiver) -> None:
    created = await desk.ok("POST", "/api/v1/webhooks", "admin",
                            json={"url": receiver.url, "events": ["message.*"],
                                  "description": "CRM"})
    receiver.secret = created["secret"]
    assert len(created["secret"]) >= 16 and created["active"] is True

    await desk.new_conversation("m-2", "c-2", "my parcel is late")
    await receiver.wait_for(1)

    assert receiver.types() == ["message.received"]
    assert receiver.received[0]["data"]["parts"][0]["text"] == "my parcel is late"
    shown = await desk.ok("GET", f"/api/v1/webhooks/{created['id']}", "admin")
    assert "secret" not in shown and shown["url"] == receiver.url
    listing = await desk.ok("GET", "/api/v1/webhooks", "admin")
    assert [item["id"] for item in listing["items"]] == [created["id"]]
    assert listing["configured"] == [{"source": "config", "url": CONFIG_HOOK["url"],
                                      "events": CONFIG_HOOK["events"]}]
    async with desk.hub.hub.db.read() as conn:
        stored = (await conn.execute(sa.select(webhook_subscriptions.c.secret_enc))).scalar_one()
        actions = (await conn.execute(sa.select(audit_log.c.action, audit_log.c.after)
                                      .where(audit_log.c.action.like("webhook.%")))).all()
    assert created["secret"] not in stored  # encrypted at rest
    assert [a.action for a in actions] == ["webhook.create"]
    assert "secret" not in str(actions[0].after)


async def test_changes_apply_to_the_next_event_and_a_deleted_endpoint_gets_nothing(
        desk: Desk, receiver: Receiver) -> None:
    created = await desk.ok("POST", "/api/v1/webhooks", "admin",
                            json={"url": receiver.url, "secret": "first-secret-0123456789"})
    receiver.secret = "first-secret-0123456789"
    await desk.new_conversation("m-2", "c-2")
    await receiver.wait_for(2)  # every event: conversation.created, message.received
    assert set(receiver.types()) >= {"conversation.created", "message.received"}

    receiver.received.clear()
    await desk.ok("PATCH", f"/api/v1/webhooks/{created['id']}", "admin",
                  json={"events": ["message.received"], "secret": "second-secret-0123456789"})
    receiver.secret = "second-secret-0123456789"
    await desk.new_conversation("m-3", "c-3")
    await receiver.wait_for(1)
    await asyncio.sleep(0.2)
    assert receiver.types() == ["message.received"] and receiver.bad_signatures == 0

    receiver.received.clear()
    await desk.ok("PATCH", f"/api/v1/webhooks/{created['id']}", "admin",
                  json={"active": False})
    await desk.new_conversation("m-4", "c-4")
    await desk.ok("PATCH", f"/api/v1/webhooks/{created['id']}", "admin", json={"active": True})
    await desk.new_conversation("m-5", "c-5", "back again")
    await receiver.wait_for(1)
    await asyncio.sleep(0.2)
    assert [e["data"]["parts"][0]["text"] for e in receiver.received] == ["back again"]

    receiver.received.clear()
    assert (await desk.call("DELETE", f"/api/v1/webhooks/{created['id']}", "admin")).status == 204
    await desk.new_conversation("m-6", "c-6")
    await asyncio.sleep(0.5)
    assert receiver.received == []
    assert (await desk.call("GET", f"/api/v1/webhooks/{created['id']}", "admin")).status == 404


async def test_bad_input_is_named_and_only_admins_manage_endpoints(desk: Desk) -> None:
    for body, field in [({"url": "ftp://example.com/x"}, "url"),
                        ({"url": "https://example.com/x", "events": ["not a pattern!"]}, "events"),
                        ({"url": "https://example.com/x", "secret": "short"}, "secret"),
                        ({"url": "https://example.com/x", "extra": 1}, "extra")]:
        resp = await desk.call("POST", "/api/v1/webhooks", "admin", json=body)
        assert resp.status == 422, body
        assert field in await resp.text()
    resp = await desk.call("PATCH", "/api/v1/webhooks/01HZZZZZZZZZZZZZZZZZZZZZZZ", "admin",
                           json={"active": False})
    assert resp.status == 404
    resp = await desk.call("PATCH", "/api/v1/webhooks/01HZZZZZZZZZZZZZZZZZZZZZZZ", "admin",
                           json={})
    assert resp.status == 422
    for role in ("agent", "senior", "supervisor"):
        resp = await desk.call("POST", "/api/v1/webhooks", role,
                               json={"url": "https://example.com/x"})
        assert resp.status == 403, role


async def test_an_endpoint_outlives_a_restart(make_hub, make_store_url,  # type: ignore[no-untyped-def]
                                             receiver: Receiver) -> None:
    url = await make_store_url("sqlite")
    first = await open_desk(await make_hub(url))
    created = await first.ok("POST", "/api/v1/webhooks", "admin",
                             json={"url": receiver.url, "events": ["message.received"]})
    receiver.secret = created["secret"]
    await first.hub.http.close()

    second = await make_hub(url)
    resp = await second.post_message(api_post("after-restart", "c-9", "still there?"))
    assert resp.status == 200, await resp.text()
    await receiver.wait_for(1)
    assert receiver.received[-1]["data"]["parts"][0]["text"] == "still there?"
