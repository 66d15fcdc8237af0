"""Per-client limits on the public endpoints, through a real hub: 429 + Retry-After,
nothing stored for a refused request, counted in /metrics, other clients unaffected."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import sqlalchemy as sa

from omnihub.store.tables import messages

from .conftest import api_post, signed


async def post_from(hub, body, address: str):  # type: ignore[no-untyped-def]
    raw, headers = signed(body)
    return await hub.http.post("/webhooks/shop", data=raw,
                               headers={**headers, "X-Forwarded-For": address})


async def test_a_client_over_its_webhook_limit_gets_429_and_nothing_is_stored(
        make_hub, make_store_url) -> None:  # type: ignore[no-untyped-def]
    hub = await make_hub(await make_store_url("sqlite"), extra={"limits": {"rate": {
        "webhooks": {"per_second": 0.01, "burst": 3},
        "client_ip_header": "X-Forwarded-For"}}})
    statuses = []
    for n in range(5):
        resp = await post_from(hub, api_post(f"m-{n}"), "10.0.0.1, 198.51.100.7")
        statuses.append(resp.status)
        if resp.status == 429:
            assert int(resp.headers["Retry-After"]) >= 1
            assert (await resp.json())["error"]["code"] == "rate_limited"
    assert statuses == [200, 200, 200, 429, 429]
    other = await post_from(hub, api_post("m-other"), "198.51.100.7, 203.0.113.9")
    assert other.status == 200
    async with hub.hub.db.read() as conn:
        stored = await conn.scalar(sa.select(sa.func.count()).select_from(messages))
    assert stored == 4
    metrics = await (await hub.http.get("/metrics")).text()
    assert 'omnihub_rate_limited_total{endpoint="webhooks"} 2.0' in metrics


async def test_webhooks_are_unlimited_by_default(make_hub, make_store_url) -> None:  # type: ignore[no-untyped-def]
    hub = await make_hub(await make_store_url("sqlite"))
    for n in range(150):  # beyond any burst a default would have
        assert (await hub.post_message(api_post(f"m-{n}", customer=f"c-{n % 7}"))).status == 200


WEBCHAT = {"id": "web", "type": "webchat", "secret": "chat-secret-0123456789abcdef"}


async def chat_session(client, address: str) -> str:  # type: ignore[no-untyped-def]
    """A visitor's session token, from the widget's WebSocket (one request of the bucket)."""
    ws = await client.ws_connect("/chat/web/ws", headers={"X-Forwarded-For": address})
    try:
        await ws.send_json({"type": "hello"})
        async with asyncio.timeout(30):
            while (frame := await ws.receive_json())["type"] != "welcome":
                pass
    finally:
        await ws.close()
    return str(frame["session"])


async def test_web_chat_visitors_have_the_default_limit_of_20_per_second_burst_100(
        start_hub, make_store_url) -> None:  # type: ignore[no-untyped-def]
    """No `limits.rate.webchat` in hub.yaml: the README's default applies through a hub."""
    client = await start_hub({"store": {"url": await make_store_url("sqlite")},
                              "channels": [WEBCHAT],
                              "limits": {"rate": {"client_ip_header": "X-Forwarded-For"}}})
    visitor = "203.0.113.5"
    started = time.monotonic()
    session = await chat_session(client, visitor)

    async def poll(address: str) -> aiohttp.ClientResponse:
        resp = await client.post("/chat/web/poll", json={"wait": 0}, headers={
            "Authorization": f"Bearer {session}", "X-Forwarded-For": f"10.0.0.1, {address}"})
        await resp.read()
        return resp

    answered: list[aiohttp.ClientResponse] = []
    while not any(resp.status == 429 for resp in answered) and len(answered) < 2000:
        answered += await asyncio.gather(*(poll(visitor) for _ in range(50)))  # > 20/s
    elapsed = time.monotonic() - started
    statuses = Counter(resp.status for resp in answered)
    assert set(statuses) == {200, 429}, statuses
    # the burst (less the socket's request) at once, then no more than 20/s came back
    assert 99 <= statuses[200] <= 99 + 20 * elapsed + 1, (statuses, elapsed)
    refused = next(resp for resp in answered if resp.status == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert (await refused.json())["error"]["code"] == "rate_limited"

    other = await poll("198.51.100.9")  # another visitor's address has a bucket of its own
    assert other.status == 200, await other.text()
    metrics = await (await client.get("/metrics")).text()
    assert f'omnihub_rate_limited_total{{endpoint="webchat"}} {float(statuses[429])}' in metrics
