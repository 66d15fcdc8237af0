"""HTTP latency per route: labelled by the route's template, never the raw path.

`/api/v1/conversations/{id}` is one series however many conversations there are, and a
path that matches no route is `unmatched`, so a scanner probing random URLs cannot grow
the registry without bound.
"""

from __future__ import annotations

import logging

from aiohttp import web

from omnihub.hub.runtime import HUB

log = logging.getLogger("omnihub.http")

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_label(request: web.Request) -> str:
    """The canonical path of the matched resource (`/webhooks/{channel_id}`)."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else UNMATCHED


def observe_request(request: web.Request, status: int, elapsed: float) -> None:
    """Count one answered request in the latency histogram (by method, route, status)
    and log one access line at debug level."""
    route = route_label(request)
    method = request.method if request.method in _METHODS else "OTHER"
    hub = request.app.get(HUB)
    if hub is not None:
        hub.metrics.http_latency.labels(method, route, str(status)).observe(elapsed)
    log.debug("%s %s -> %d in %.1f ms", method, route, status, elapsed * 1000)
