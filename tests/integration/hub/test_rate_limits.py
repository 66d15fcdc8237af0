"""Per-client limits on the public endpoints, through a real hub: 429 + Retry-After,
nothing stored for a refused request, counted in /metrics, other clients unaffected."""

from __future__ import annotations

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
