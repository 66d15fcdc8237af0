"""Bearer-token authentication for the agent API (/api/v1)."""

from __future__ import annotations

from aiohttp import web

from omnihub.hub.http import Handler, json_error
from omnihub.hub.runtime import HUB
from omnihub.store.tokens import Principal, authenticate

PRINCIPAL = web.RequestKey("principal", Principal)
API_PREFIX = "/api/v1/"
PUBLIC_PATHS = frozenset({"/api/v1/openapi.json"})


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 unless the request carries a valid, unrevoked token; the principal is kept
    on the request for the permission checks of each endpoint."""
    if not request.path.startswith(API_PREFIX) or request.path in PUBLIC_PATHS:
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return json_error(401, "unauthorized", "send Authorization: Bearer <token>",
                          headers={"WWW-Authenticate": "Bearer"})
    principal = await authenticate(request.app[HUB].db, token.strip())
    if principal is None:
        return json_error(401, "unauthorized", "unknown or revoked token",
                          headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    request[PRINCIPAL] = principal
    return await handler(request)


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]
