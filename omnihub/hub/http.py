"""JSON responses and the error middleware: every failure is a JSON body, never a bare 500."""

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


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map aiohttp's HTTP errors to JSON and log (not leak) anything unexpected."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge as exc:
        return json_error(413, "payload_too_large", exc.text or "request body too large")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, exc.reason.lower().replace(" ", "_"), exc.text or exc.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal_error", "internal error; see the hub's log")
