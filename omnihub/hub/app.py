"""The aiohttp application: webhooks, the agent API, health and metrics under one server."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from omnihub.connectors.registry import connector_types
from omnihub.hub.http import error_middleware, json_response
from omnihub.hub.runtime import HUB, open_hub
from omnihub.hub.settings import HubSettings
from omnihub.hub.webhooks import receive_webhook
from omnihub.inbox.api import setup_api


def create_app(settings: HubSettings) -> web.Application:
    """Build the app; the hub itself starts with the app and stops with it (cleanup_ctx)."""
    app = web.Application(
        client_max_size=settings.limits.max_body_bytes,
        middlewares=[error_middleware],
    )

    async def hub_lifetime(app: web.Application) -> AsyncIterator[None]:
        async with open_hub(settings) as hub:
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


async def shutdown_connectors(app: web.Application) -> None:
    """Before the server waits for open requests, close what would hold it (web sockets)."""
    if HUB in app:
        for connector in app[HUB].connectors.values():
            await connector.shutdown()


async def healthz(request: web.Request) -> web.Response:
    """The process is up and serving HTTP; says nothing about its dependencies."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the store and the bus both answer; 503 names what is down."""
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
    ready = all(v == "ok" for v in checks.values())
    return json_response({"status": "ready" if ready else "not_ready", "checks": checks},
                         status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format; store-derived gauges are refreshed at scrape time."""
    from omnihub.store import outbox

    hub = request.app[HUB]
    try:
        depth = await outbox.outbox_depth(hub.db)
        hub.metrics.outbox_depth.set(depth.count)
        hub.metrics.outbox_oldest_age.set(depth.oldest_age_seconds or 0)
        hub.metrics.dead_letters.set(await outbox.dead_count(hub.db))
        hub.metrics.retrying_jobs.set(await outbox.retrying_count(hub.db))
        hub.metrics.store_up.set(1)
    except Exception:  # a scrape must still answer when the store is down
        hub.metrics.store_up.set(0)
    return web.Response(body=hub.metrics.render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
