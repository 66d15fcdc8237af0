"""The middleware every request passes first: its request id, its latency in the metrics,
and every failure answered as JSON.

Three concerns in one frame: as three nested middlewares they cost every request three
coroutines, three partials and a context manager, on the path every webhook takes.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from omnihub.hub.http import Handler, http_error, json_error
from omnihub.hub.monitoring.http import observe_request
from omnihub.hub.request_id import HEADER, accepted, reset_request_id, set_request_id

__all__ = ["edge_middleware"]

log = logging.getLogger("omnihub.http")


@web.middleware
async def edge_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind the request id (the caller's `X-Request-Id` when sane) and answer it back; time
    the request with the status it really got; map errors to JSON and log (not leak)
    anything unexpected."""
    request_id = accepted(request.headers.get(HEADER))
    token = set_request_id(request_id)
    started = time.perf_counter()
    status = 500
    try:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:  # a redirect: aiohttp sends it as it is
                status = exc.status
                raise
            response = http_error(exc)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            response = json_error(500, "internal_error", "internal error; see the hub's log")
        status = response.status
        if not response.prepared:  # a stream (SSE) has sent its headers already
            response.headers[HEADER] = request_id
        return response
    finally:
        observe_request(request, status, time.perf_counter() - started)
        reset_request_id(token)
