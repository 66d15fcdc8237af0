"""Administration over the API: tokens (admin) and the audit log (supervisor)."""

from __future__ import annotations

from typing import Annotated, Literal

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints

from omnihub.hub.http import json_response
from omnihub.hub.runtime import HUB
from omnihub.inbox.context import actor_of
from omnihub.inbox.params import InvalidInput, json_body, query_limit
from omnihub.store import NotFound
from omnihub.store.audit import write_audit
from omnihub.store.tables import api_tokens
from omnihub.store.tokens import create_token, hash_token, list_tokens, revoke_token


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    role: Literal["agent", "senior", "supervisor", "admin"]


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/tokens", get_tokens)
    r.add_post("/api/v1/tokens", post_token)
    r.add_delete("/api/v1/tokens/{id}", delete_token)
    r.add_get("/api/v1/audit", get_audit)


async def get_tokens(request: web.Request) -> web.Response:
    tokens = await list_tokens(request.app[HUB].db)
    return json_response({"items": [
        {"id": t.id, "agent": t.agent, "role": t.role, "created_at": t.created_at.isoformat(),
         "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None} for t in tokens]})


async def post_token(request: web.Request) -> web.Response:
    """The token is in this response only; the hub keeps its hash."""
    body = await json_body(request, NewToken)
    db = request.app[HUB].db
    token = await create_token(db, body.agent, body.role)
    async with db.write() as conn:  # its own transaction: tokens.py owns the token's
        token_id = (await conn.execute(sa.select(api_tokens.c.id).where(
            api_tokens.c.token_hash == hash_token(token)))).scalar_one()
        await write_audit(conn, actor_of(request), "token.create", "token", token_id,
                          before=None, after={"agent": body.agent, "role": body.role})
    return json_response({"id": token_id, "agent": body.agent, "role": body.role,
                          "token": token}, status=201)


async def delete_token(request: web.Request) -> web.Response:
    db = request.app[HUB].db
    token_id = request.match_info["id"]
    if not await revoke_token(db, token_id):
        raise NotFound(f"no live token with id {token_id!r}")
    async with db.write() as conn:
        await write_audit(conn, actor_of(request), "token.revoke", "token", token_id,
                          before={"revoked": False}, after={"revoked": True})
    return web.Response(status=204)


async def get_audit(request: web.Request) -> web.Response:
    """`?target=<id>` and `?actor=<agent>` narrow it; newest first, keyset-paged."""
    target, actor = request.query.get("target"), request.query.get("actor")
    for name, value in (("target", target), ("actor", actor)):
        if value is not None and not 1 <= len(value) <= 80:
            raise InvalidInput(name, "must be 1 to 80 characters")
    page = await request.app[HUB].store.list_audit(
        target_id=target, actor=actor, limit=query_limit(request),
        cursor=request.query.get("cursor"))
    return json_response(page)
