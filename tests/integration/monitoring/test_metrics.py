"""`/metrics` after driving a whole hub: every monitoring family is there, with its labels.

The hub runs on the Redis bus (for the Redis probe) with routing into one group, a shop
reply_url that answers 429, and an outbound webhook receiver that answers 500.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from omnihub.hub.monitoring.catalog import families
from omnihub.store.tables import conversations

from .conftest import HubClient, Receiver, api_post

ROUTING = """
timezone: UTC
channels:
  api: {first_response: 10m}
groups:
  after_sales: {agents: [ann], strategy: manual}
agents:
  - {id: ann, role: agent}
rules:
  - name: everything
    then: {group: after_sales}
"""

# The monitoring families (README "Monitoring and alerts"), which this test provokes all.
PROVOKED = {
    "omnihub_ingest", "omnihub_ingest_latency_seconds", "omnihub_outbound",
    "omnihub_provider_errors", "omnihub_outbox_depth", "omnihub_outbox_oldest_age_seconds",
    "omnihub_dead_letters", "omnihub_retrying_jobs", "omnihub_webhook_delivery_seconds",
    "omnihub_webhook_delivery_failures", "omnihub_sla_breaches", "omnihub_conversations_open",
    "omnihub_conversations_unassigned", "omnihub_conversations_overdue",
    "omnihub_http_request_duration_seconds", "omnihub_imap_poll_lag_seconds",
    "omnihub_store_ping_seconds", "omnihub_redis_ping_seconds", "omnihub_store_up",
    "omnihub_bus_up",
}

Samples = dict[str, list[tuple[str, dict[str, str], float]]]


async def scrape(hub: HubClient) -> Samples:
    response = await hub.http.get("/metrics")
    assert response.status == 200
    found: Samples = {}
    for family in text_string_to_metric_families(await response.text()):
        found[family.name] = [(s.name, dict(s.labels), s.value) for s in family.samples]
    return found


async def scrape_until(hub: HubClient, done: Callable[[Samples], bool]) -> Samples:
    """Scrape until `done` holds (the collector and consumers run on their own timers)."""
    for _ in range(1500):
        samples = await scrape(hub)
        if done(samples):
            return samples
        await asyncio.sleep(0.02)
    return samples


def labelled(samples: Samples, family: str, **labels: str) -> list[float]:
    return [value for _name, found, value in samples.get(family, [])
            if all(found.get(k) == v for k, v in labels.items())]


async def test_every_family_appears_with_its_labels(
        make_hub: Callable[..., Any], make_store_url: Callable[..., Any], redis_url: str,
        tmp_path: Path, receiver: Receiver) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    async def rate_limited(request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "60"})

    shop = web.Application()
    shop.router.add_post("/replies", rate_limited)
    shop_server = TestServer(shop)
    await shop_server.start_server()
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    receiver.status = 500
    try:
        hub: HubClient = await make_hub(
            await make_store_url("sqlite"), reply_url=str(shop_server.make_url("/replies")),
            extra={"routing": str(routing),
                   "bus": {"url": redis_url, "stream_prefix": f"t{uuid.uuid4().hex[:8]}"},
                   "monitoring": {"collect_seconds": 0.05},
                   "inbox": {"webhooks": [{"url": receiver.url("/events?token=x"),
                                           "secret": "webhook-secret-0123456789"}]}})
        assert (await hub.post_message(api_post("m-1", customer="c-1"))).status == 200
        assert (await hub.post_message(api_post("m-2", customer="c-2"))).status == 200
        hub.hub.metrics.imap_polled("mail", at=time.time() - 120)

        auth = await hub.token("supervisor")
        listing = await (await hub.http.get("/api/v1/conversations", headers=auth)).json()
        first, second = sorted(listing["items"], key=lambda c: c["created_at"])
        # The first conversation is past its first-response deadline: overdue and breached.
        async with hub.hub.db.write() as conn:
            await conn.execute(sa.update(conversations)
                               .where(conversations.c.id == first["id"])
                               .values(first_response_due=datetime.now(UTC) - timedelta(hours=1)))
        await hub.hub.sla.tick()
        sent = await hub.http.post(f"/api/v1/conversations/{second['id']}/messages",
                                   json={"text": "On its way"}, headers=auth)
        assert sent.status == 201

        samples = await scrape_until(hub, lambda s: bool(
            labelled(s, "omnihub_provider_errors", kind="rate_limited")
            and labelled(s, "omnihub_webhook_delivery_failures", reason="500")
            and labelled(s, "omnihub_conversations_overdue", group="after_sales") == [1.0]
            and labelled(s, "omnihub_redis_ping_seconds")
            and labelled(s, "omnihub_redis_ping_seconds")[0] > 0))
    finally:
        await shop_server.close()

    # Every family the hub exports is in the scrape, each sample with exactly the family's
    # labels, and the monitoring families all have samples.
    for family in {f.name: f for f in families().values()}.values():
        name = family.name.removesuffix("_total") if family.type == "counter" else family.name
        assert name in samples, name
        assert samples[name] or name not in PROVOKED, name
        for sample_name, labels, _value in samples[name]:
            expected = set(family.labels) | ({"le"} if sample_name.endswith("_bucket") else set())
            assert set(labels) == expected, (sample_name, labels)

    assert labelled(samples, "omnihub_ingest", channel="shop", result="stored") == [2.0]
    assert labelled(samples, "omnihub_ingest_latency_seconds", channel="shop")
    assert labelled(samples, "omnihub_outbound", channel="shop", result="retry")
    assert labelled(samples, "omnihub_provider_errors", channel="shop", kind="rate_limited")
    assert labelled(samples, "omnihub_sla_breaches", metric="first_response",
                    group="after_sales") == [1.0]
    assert labelled(samples, "omnihub_conversations_open", group="after_sales") == [2.0]
    assert labelled(samples, "omnihub_conversations_unassigned", group="after_sales") == [2.0]
    assert labelled(samples, "omnihub_webhook_delivery_seconds",
                    endpoint=f"127.0.0.1:{receiver.server.port}/events")
    assert labelled(samples, "omnihub_imap_poll_lag_seconds", channel="mail")[0] >= 120
    assert labelled(samples, "omnihub_store_ping_seconds")[0] > 0
    assert labelled(samples, "omnihub_outbox_depth") and labelled(samples, "omnihub_dead_letters")
    # HTTP latency is labelled by route template, never by a raw path with ids in it.
    routes = {labels["route"] for _n, labels, _v in samples["omnihub_http_request_duration_seconds"]}
    assert {"/webhooks/{channel_id}", "/api/v1/conversations/{id}/messages"} <= routes
    assert not any(second["id"] in route for route in routes)
    await hub.http.get("/no/such/page/" + uuid.uuid4().hex)
    after = await scrape(hub)
    assert labelled(after, "omnihub_http_request_duration_seconds", route="unmatched",
                    status="404")


async def test_alerts_are_listed_for_supervisors(
        make_hub: Callable[..., Any], make_store_url: Callable[..., Any]) -> None:
    hub: HubClient = await make_hub(await make_store_url("sqlite"), extra={"alerts": {
        "rules": [{"name": "dead_letters", "metric": "omnihub_dead_letters", "op": ">",
                   "threshold": 0, "description": "Something ran out of retries."},
                  {"name": "slow_ingest", "metric": "omnihub_ingest_latency_seconds",
                   "quantile": 0.99, "window": "5m", "op": ">", "threshold": "500ms",
                   "for": "2m", "severity": "critical"}]}})
    agent = await hub.http.get("/api/v1/alerts", headers=await hub.token("agent"))
    assert agent.status == 403
    answer = await hub.http.get("/api/v1/alerts", headers=await hub.token("supervisor"))
    assert answer.status == 200
    items = {item["name"]: item for item in (await answer.json())["items"]}
    assert items["dead_letters"]["state"] == "ok"
    assert items["dead_letters"]["condition"] == "omnihub_dead_letters > 0"
    assert items["slow_ingest"]["threshold"] == 0.5
    assert items["slow_ingest"]["for_seconds"] == 120
    assert items["slow_ingest"]["condition"] == (
        "p99 of omnihub_ingest_latency_seconds over 300s > 0.5 for 120s")
