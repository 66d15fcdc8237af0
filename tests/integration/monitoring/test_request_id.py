"""A request id follows a message: webhook -> store -> outbound, in every log line.

An agent system that answers a webhook with the `X-Request-Id` it was sent keeps the
whole round trip under one id: the customer's message, its event to the agent system,
the agent's reply and its delivery back to the shop.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from multidict import CIMultiDict

from omnihub.hub.logs import JsonFormatter
from omnihub.hub.request_id import HEADER

from .conftest import HubClient, Receiver, api_post

REQUEST_ID = "shop-req-7f3a9c"


async def arrival(receiver: Receiver, path: str,
                  event: str | None = None) -> tuple[CIMultiDict[str], bytes]:
    """Wait until the receiver got a POST on `path` (of an `event` type, if given)."""
    while True:
        for headers, body in receiver.received:
            if headers[":path"] == path and (
                    event is None or orjson.loads(body).get("type") == event):
                return headers, body
        receiver.arrived.clear()
        await asyncio.wait_for(receiver.arrived.wait(), 30)


async def test_one_request_id_from_webhook_to_store_to_delivery(
        make_hub: Callable[..., Any], make_store_url: Callable[..., Any], receiver: Receiver,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="omnihub")
    hub: HubClient = await make_hub(
        await make_store_url("sqlite"), reply_url=receiver.url("/replies"),
        extra={"inbox": {"webhooks": [{"url": receiver.url("/agent-system"),
                                       "secret": "webhook-secret-0123456789"}]}})
    raw, headers = _signed(api_post("m-1"))
    answer = await hub.http.post("/webhooks/shop", data=raw,
                                 headers={**headers, HEADER: REQUEST_ID})
    assert answer.status == 200 and answer.headers[HEADER] == REQUEST_ID

    # The agent system gets the event with the id, and answers with it.
    event_headers, body = await arrival(receiver, "/agent-system", "message.received")
    assert event_headers[HEADER] == REQUEST_ID
    assert "request_id" not in orjson.loads(body)  # the signed body is unchanged
    conversation = orjson.loads(body)["data"]["conversation_id"]
    auth = await hub.token("agent")
    sent = await hub.http.post(f"/api/v1/conversations/{conversation}/messages",
                               json={"text": "It ships today"},
                               headers={**auth, HEADER: REQUEST_ID})
    assert sent.status == 201
    await arrival(receiver, "/replies")
    while not any(r.name == "omnihub.delivery" for r in caplog.records):
        await asyncio.sleep(0.01)  # the log line follows the shop's answer

    ours = [r for r in caplog.records if getattr(r, "request_id", None) == REQUEST_ID]
    stages = {r.name for r in ours}
    assert {"omnihub.http",  # the webhook and the reply requests
            "omnihub.store.ingest",  # the message committed
            "omnihub.store.events",  # its outbox rows, and the reply's
            "omnihub.webhooks_out",  # the event delivered to the agent system
            "omnihub.delivery",  # the reply sent to the customer's channel
            } <= stages
    webhook_line = next(r for r in ours if r.name == "omnihub.http"
                        and "/webhooks/{channel_id}" in r.getMessage())
    assert orjson.loads(JsonFormatter().format(webhook_line))["request_id"] == REQUEST_ID
    delivered = next(r for r in ours if r.name == "omnihub.delivery")
    assert "sent on shop" in delivered.getMessage()


async def test_a_request_without_an_id_gets_one(hub: HubClient) -> None:
    first = await hub.post_message(api_post("m-1"))
    second = await hub.post_message(api_post("m-2"))
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers[HEADER])
    assert first.headers[HEADER] != second.headers[HEADER]
    raw, headers = _signed(api_post("m-3"))
    forged = await hub.http.post("/webhooks/shop", data=raw,
                                 headers={**headers, HEADER: "x" * 65 + " {\"level\": \"error\"}"})
    assert re.fullmatch(r"[0-9a-f]{32}", forged.headers[HEADER])  # not a log injection


def _signed(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    from ..hub.conftest import signed

    return signed(body)
