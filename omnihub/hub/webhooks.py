"""`POST /webhooks/{channel_id}`: verify, parse, normalize, commit, and only then answer 2xx.

Durable before ack (DESIGN invariant 1): the response is sent after `Store.ingest` has
committed, so a crash at any point makes the provider retry, and idempotent ingest
(invariant 2) makes the retry harmless.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from aiohttp import web

from omnihub.connectors.base import WebhookRequest
from omnihub.connectors.errors import ConnectorError, UnsupportedEvent
from omnihub.hub.http import json_error, json_response
from omnihub.hub.intake import IntakeRefused, take_in
from omnihub.hub.runtime import HUB, Hub
from omnihub.normalizer.media import MediaUnwritable

log = logging.getLogger("omnihub.webhooks")


async def receive_webhook(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    channel_id = request.match_info["channel_id"]
    connector = hub.connectors.get(channel_id)
    if connector is None:
        hub.metrics.webhook_rejected.labels("unknown", "unknown_channel").inc()
        return json_error(404, "unknown_channel", f"no channel with id {channel_id!r}")
    started = time.perf_counter()
    body = await request.read()  # over the size limit: 413 from the error middleware
    webhook = WebhookRequest(
        method=request.method,
        url=hub.settings.server.public_url.rstrip("/") + request.path_qs,
        headers=request.headers,
        query=request.query,
        body=body,
        content_type=request.content_type,
        received_at=datetime.now(UTC),
    )
    try:
        parsed = await connector.parse_webhook(webhook)
    except MediaUnwritable as exc:
        return _media_unwritable(hub, channel_id, exc)
    except UnsupportedEvent as exc:
        hub.metrics.webhook_ignored.labels(channel_id, exc.message[:64]).inc()
        log.info("channel %s: ignored event: %s", channel_id, exc.message)
        return json_response({"ok": True, "ignored": exc.message})
    except ConnectorError as exc:
        hub.metrics.webhook_rejected.labels(channel_id, exc.code).inc()
        log.warning("channel %s: rejected webhook (%s): %s", channel_id, exc.code, exc.message)
        return json_error(exc.status, exc.code, exc.message)
    if parsed.ignored:
        hub.metrics.webhook_ignored.labels(channel_id, parsed.ignored[:64]).inc()
    try:
        taken = await take_in(hub, channel_id, parsed)
    except IntakeRefused as exc:
        return json_error(exc.status, exc.code, exc.message, headers=exc.headers or None)
    except MediaUnwritable as exc:
        return _media_unwritable(hub, channel_id, exc)
    hub.metrics.ingest_latency.labels(channel_id).observe(time.perf_counter() - started)
    if parsed.response is not None:
        return parsed.response
    body: dict[str, object] = {"ok": True, "messages": taken.stored}
    if parsed.updates:
        body["updated"] = taken.updated
    if parsed.statuses:
        body["receipts"] = taken.receipts
    return json_response(body)


def _media_unwritable(hub: Hub, channel_id: str, exc: MediaUnwritable) -> web.Response:
    """An attachment that can't be written (disk full): nothing was stored, so answer 503
    and let the provider send the message again; /readyz shows the media directory down."""
    hub.metrics.webhook_rejected.labels(channel_id, "media_unwritable").inc()
    log.error("channel %s: %s; answered 503 so the provider retries", channel_id, exc)
    return json_error(503, "media_unwritable", "attachments can't be stored right now; retry later",
                      headers={"Retry-After": "30"})
