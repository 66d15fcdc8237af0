"""The aiohttp application: webhooks, the agent API, health and metrics under one server."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from omnihub.connectors.registry import connector_types
from omnihub.hub.edge import edge_middleware
from omnihub.hub.http import json_response
from omnihub.hub.rate_limit import Middleware, RateLimiter, public_endpoint, rate_limit_middleware
from omnihub.hub.request_id import install_log_record_factory
from omnihub.hub.runtime import HUB, open_hub
from omnihub.hub.settings import HubSettings
from omnihub.hub.webhooks import receive_webhook
from omnihub.inbox.api import setup_api


def create_app(settings: HubSettings, *, serving: bool = False) -> web.Application:
    """Build the app; the hub itself starts with the app and stops with it (cleanup_ctx)."""
    install_log_record_factory()  # log records carry the request id (hub/request_id.py)
    app = web.Application(
        client_max_size=settings.limits.max_body_bytes,
        middlewares=[edge_middleware, _rate_limits(settings)],
    )

    async def hub_lifetime(app: web.Application) -> AsyncIterator[None]:
        async with open_hub(settings, freeze_gc=serving) as hub:
            app[HUB] = hub
            yield

    app.cleanup_ctx.append(hub_lifetime)
    app.on_shutdown.append(shutdown_connectors)
    app.router.add_post("/webhooks/{channel_id}", receive_webhook)
    types = connector_types()
    for channel in settings.channels:
        app.router.add_routes(types[channel.type].http_routes(channel))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    setup_api(app)
    return app


def _rate_limits(settings: HubSettings) -> Middleware:
    """The public endpoints' per-client limits; refusals counted per endpoint class."""
    rate = settings.limits.rate
    limits = {name: RateLimiter(r.per_second, r.burst)
              for name, r in (("webhooks", rate.webhooks), ("webchat", rate.webchat))
              if r.per_second > 0}

    def count(request: web.Request, name: str) -> None:
        if HUB in request.app:
            request.app[HUB].metrics.rate_limited.labels(name).inc()

    return rate_limit_middleware(limits, public_endpoint, forwarded_header=rate.client_ip_header,
                                 on_limited=count)


async def shutdown_connectors(app: web.Application) -> None:
    """Before the server waits for open requests, close what would hold it (web sockets)."""
    if HUB in app:
        for connector in app[HUB].connectors.values():
            await connector.shutdown()


async def healthz(request: web.Request) -> web.Response:
    """The process is up and serving HTTP; says nothing about its dependencies."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the store answers (503 names what is down otherwise); degraded, still
    200, when only the bus, a channel's own connection or the media directory is down."""
    hub = request.app[HUB]
    checks: dict[str, str] = {}
    for name, ping in (("store", hub.db.ping), ("bus", hub.bus.ping)):
        try:
            await ping()
            checks[name] = "ok"
        except Exception as exc:  # each backend raises its own error types
            checks[name] = f"down: {exc}"
    hub.metrics.store_up.set(checks["store"] == "ok")
    hub.metrics.bus_up.set(checks["bus"] == "ok")
    # Without the store nothing can be acknowledged: out of rotation. Without the bus
    # (Redis) every message is still committed with its events in the outbox, which the
    # dispatcher sends once the bus is back; taking every hub out of rotation for it would
    # turn a delay of live events into an outage.
    ready = checks["store"] == "ok"
    # A channel's own connection (an IMAP mailbox) that is down degrades the hub but does
    # not take it out of rotation: every other channel still works.
    channels = {cid: h for cid, c in hub.connectors.items() if (h := c.health()) is not None}
    degraded = any(h.get("status") != "ok" for h in channels.values())
    # A media directory that refuses writes (disk full) only holds back messages with
    # attachments (their webhooks get 503 and are retried): degraded, not out of rotation.
    media = hub.media.health() if hub.media is not None else {"status": "ok"}
    hub.metrics.media_writable.set(media["status"] == "ok")
    degraded = degraded or media["status"] != "ok" or checks["bus"] != "ok"
    status = "not_ready" if not ready else "degraded" if degraded else "ready"
    body: dict[str, object] = {"status": status, "checks": checks}
    if media["status"] != "ok":
        body["media"] = media
    if channels:
        body["channels"] = channels
    return json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format. Scrapes cost no query: the figures that need one are
    refreshed by the metrics collector (omnihub/hub/monitoring/collector.py)."""
    hub = request.app[HUB]
    return web.Response(body=hub.metrics.render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
