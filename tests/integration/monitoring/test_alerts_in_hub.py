"""End to end in a serving hub: a reply the shop refuses becomes a dead letter, the
collector counts it, the evaluator fires, the operators' webhook gets the signed notice
and `GET /api/v1/alerts` shows the alert firing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson

from omnihub.hub import signing

from .conftest import HubClient, Receiver, api_post

SECRET = "alert-secret-0123456789"


async def test_a_dead_letter_fires_the_alert(make_hub: Callable[..., Any],
                                             make_store_url: Callable[..., Any],
                                             receiver: Receiver) -> None:
    receiver.statuses["/replies"] = 400  # the shop refuses the reply: a dead letter at once
    hub: HubClient = await make_hub(
        await make_store_url("sqlite"), reply_url=receiver.url("/replies"),
        extra={"monitoring": {"collect_seconds": 0.05},
               "alerts": {"evaluate_seconds": 0.05,
                          "rules": [{"name": "dead_letters", "metric": "omnihub_dead_letters",
                                     "op": ">", "threshold": 0, "severity": "critical"}],
                          "notify": {"webhooks": [{"url": receiver.url("/alerts"),
                                                   "secret": SECRET}]}}})
    await hub.post_message(api_post("m-1"))
    auth = await hub.token("supervisor")
    listing = await (await hub.http.get("/api/v1/conversations", headers=auth)).json()
    conversation = listing["items"][0]["id"]
    sent = await hub.http.post(f"/api/v1/conversations/{conversation}/messages",
                               json={"text": "Refund on its way"}, headers=auth)
    assert sent.status == 201

    alerts: list[dict[str, Any]] = []
    while not alerts:
        receiver.arrived.clear()
        alerts = [orjson.loads(body) for headers, body in receiver.received
                  if headers[":path"] == "/alerts"
                  and signing.verify(SECRET, body, headers.get(signing.HEADER))]
        if not alerts:
            await asyncio.wait_for(receiver.arrived.wait(), 30)
    (notice,) = alerts
    assert notice["type"] == "alert.firing"
    assert notice["data"]["alert"] == "dead_letters" and notice["data"]["value"] == 1

    answer = await hub.http.get("/api/v1/alerts", headers=auth)
    (item,) = (await answer.json())["items"]
    assert item["state"] == "firing" and item["firing_id"] == notice["data"]["firing_id"]
    metrics = await (await hub.http.get("/metrics")).text()
    assert 'omnihub_alerts_firing{alert="dead_letters"} 1.0' in metrics
