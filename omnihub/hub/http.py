"""JSON responses, and aiohttp's HTTP errors as JSON (the edge middleware, hub/edge.py, answers
every failure with a JSON body, never a bare 500)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

log = logging.getLogger("omnihub.http")


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = orjson.dumps(data, default=_default)
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def json_error(status: int, code: str, message: str, *,
               headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    return json_response({"error": {"code": code, "message": message, **extra}},
                         status=status, headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def http_error(exc: web.HTTPException) -> web.Response:
    """aiohttp's HTTP errors (no such route, method not allowed, body over the size limit)
    as the hub's JSON error body."""
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return json_error(413, "payload_too_large", exc.text or "request body too large")
    return json_error(exc.status, exc.reason.lower().replace(" ", "_"), exc.text or exc.reason)
