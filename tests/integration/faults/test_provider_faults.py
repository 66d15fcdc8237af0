"""An agent's reply to a Telegram customer while the Bot API misbehaves: it hangs past the
hub's timeout, answers 500, then 429 with `retry_after`, then takes the message.

The reply is retried from its durable job with backoff, the retry after the 429 waits at
least `retry_after`, it ends `sent` exactly once, and /metrics counts every failed try
by kind (temporary, rate_limited) beside the one that went through.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from omnihub.hub.runtime import HUB
from omnihub.store.outbox import dead_count, retrying_count
from omnihub.store.tokens import create_token

from .bot_api import Answer, BotApiStandIn, telegram_channel, text_update, webhook_headers
from .conftest import until

RETRY_AFTER = 2


async def test_reply_survives_timeout_500_and_429_with_retry_after(
        start_hub: Any, make_store_url: Any, bot_api: BotApiStandIn) -> None:
    client = await start_hub({
        "store": {"url": await make_store_url("sqlite")},
        "outbox": {"backoff_base_seconds": 0.1, "backoff_max_seconds": 0.5},
        "channels": [telegram_channel(bot_api, timeout_seconds=1)],
    })
    hub = client.app[HUB]
    bot_api.script = [Answer(hang_seconds=5), Answer(status=500),
                      Answer(status=429, retry_after=RETRY_AFTER)]
    posted = await client.post("/webhooks/tg", data=orjson.dumps(text_update(1, "Where is it?")),
                               headers=webhook_headers())
    assert posted.status == 200
    auth = {"Authorization": f"Bearer {await create_token(hub.db, 'eve', 'agent')}"}
    [conv] = (await (await client.get("/api/v1/conversations", headers=auth)).json())["items"]
    reply = await client.post(f"/api/v1/conversations/{conv['id']}/messages",
                              json={"text": "It ships today."}, headers=auth)
    assert reply.status == 201, await reply.text()
    reply_id = (await reply.json())["id"]

    async def sent() -> dict[str, Any] | None:
        items = (await (await client.get(f"/api/v1/conversations/{conv['id']}/messages",
                                         headers=auth)).json())["items"]
        [mine] = [m for m in items if m["id"] == reply_id]
        return mine if mine["status"] == "sent" else None

    message = await until(sent, what="the reply to be sent", timeout=45)
    assert message["external_id"].endswith(f":{bot_api.next_message_id}")
    assert [status for _t, status, _p in bot_api.sends] == [0, 500, 429, 200]  # 0: hung
    assert [p["text"] for p in bot_api.delivered()] == ["It ships today."]
    after_429 = bot_api.sends[3][0] - bot_api.sends[2][0]
    assert after_429 >= RETRY_AFTER - 0.05, f"retried {after_429:.2f}s after a 429 of {RETRY_AFTER}s"

    await asyncio.sleep(1.5)  # a stray extra retry would show up here
    assert len(bot_api.sends) == 4, "the sent reply must not be sent again"
    assert await retrying_count(hub.db) == 0 and await dead_count(hub.db) == 0
    metrics = await (await client.get("/metrics")).text()
    for sample in ('omnihub_outbound_total{channel="tg",result="retry"} 3.0',
                   'omnihub_outbound_total{channel="tg",result="sent"} 1.0',
                   'omnihub_provider_errors_total{channel="tg",kind="temporary"} 2.0',
                   'omnihub_provider_errors_total{channel="tg",kind="rate_limited"} 1.0'):
        assert sample in metrics, sample
