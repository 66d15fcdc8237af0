"""The agent API's read path and replies: customers, history, conversations, messages.

Every listing is keyset-paged (`limit`, `cursor` -> `next_cursor`) so a deep page costs
what the first one does.
"""

from __future__ import annotations

import functools

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, ConfigDict, Field, model_validator

from omnihub.hub.http import Handler, json_error, json_response
from omnihub.hub.runtime import HUB
from omnihub.inbox.auth import API_PREFIX, bearer_auth, principal_of
from omnihub.inbox.canned import render_for
from omnihub.inbox.context import actor_of, visible_conversation
from omnihub.inbox.params import InvalidInput, json_body, query_limit
from omnihub.normalizer.schema import Part, TextPart
from omnihub.store import InvalidCursor, NotFound
from omnihub.store.canned import find_canned


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except InvalidInput as exc:
        return json_error(422, "invalid_input", exc.message, field=exc.field)
    except InvalidCursor as exc:
        return json_error(422, "invalid_input", str(exc), field="cursor")


def confined(prefix: str, *middlewares: Middleware) -> Middleware:
    """Run `middlewares` for paths under `prefix` only: a webhook pays one prefix check
    instead of four nested calls that would each let it pass."""

    @web.middleware
    async def confined_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(prefix):
            return await handler(request)
        for middleware in reversed(middlewares):
            handler = functools.partial(middleware, handler=handler)
        return await handler(request)

    return confined_middleware


def setup_api(app: web.Application) -> None:
    from omnihub.inbox import admin, conversations, events_stream, messages, openapi, routing_api
    from omnihub.inbox import alerts, canned, merges, stats, workbench
    from omnihub.inbox.context import inbox_errors, inbox_lifetime
    from omnihub.inbox.permissions import require_permissions

    app.middlewares.append(
        confined(API_PREFIX, bearer_auth, api_errors, require_permissions, inbox_errors))
    app.cleanup_ctx.append(inbox_lifetime)
    r = app.router
    r.add_get("/api/v1/customers", find_customer)
    r.add_get("/api/v1/customers/{id}", get_customer)
    r.add_get("/api/v1/customers/{id}/history", customer_history)
    r.add_get("/api/v1/conversations/{id}", get_conversation)
    r.add_get("/api/v1/conversations/{id}/messages", conversation_messages)
    r.add_post("/api/v1/conversations/{id}/messages", send_message)
    conversations.setup(app)  # the filtered listing and the operations
    messages.setup(app)
    events_stream.setup(app)
    admin.setup(app)
    routing_api.setup(app)
    canned.setup(app)
    stats.setup(app)
    alerts.setup(app)
    merges.setup(app)
    from omnihub.inbox import webhook_api
    webhook_api.setup(app)  # /api/v1/webhooks: endpoints added at run time
    from omnihub.profiles import http as profiles, shop_webhook, suggestions
    profiles.setup(app)  # customer attributes and orders
    suggestions.setup(app)
    shop_webhook.setup(app)  # POST /shop/webhook, signed, outside /api/v1
    from omnihub.kb import api as kb_api
    kb_api.setup(app)  # /api/v1/kb/: knowledge base, search, suggestions
    workbench.setup(app)  # /inbox/, the agents' page, and GET /api/v1/me
    openapi.setup(app)


def _not_found(what: str, ident: str) -> web.Response:
    return json_error(404, "not_found", f"no {what} with id {ident!r}")


async def find_customer(request: web.Request) -> web.Response:
    """`?identity=<kind>:<address>`, e.g. `email:ann@example.com` or `phone:+8613800138000`."""
    identity = request.query.get("identity", "")
    kind, sep, address = identity.partition(":")
    if not sep or not kind or not address:
        raise InvalidInput("identity", "expected <kind>:<address>, e.g. email:ann@example.com")
    try:
        customer = await request.app[HUB].store.find_customer(kind, address)
    except ValueError as exc:  # an address that can't be normalized
        raise InvalidInput("identity", str(exc)) from None
    if customer is None:
        return json_error(404, "not_found", "no customer with that identity")
    return json_response(customer)


async def get_customer(request: web.Request) -> web.Response:
    customer = await request.app[HUB].store.get_customer(request.match_info["id"])
    return json_response(customer) if customer else _not_found("customer", request.match_info["id"])


async def customer_history(request: web.Request) -> web.Response:
    store = request.app[HUB].store
    customer_id = request.match_info["id"]
    if await store.get_customer(customer_id) is None:
        return _not_found("customer", customer_id)
    page = await store.customer_history(customer_id, limit=query_limit(request),
                                        cursor=request.query.get("cursor"))
    return json_response(page)


async def get_conversation(request: web.Request) -> web.Response:
    return json_response(await visible_conversation(request))


async def conversation_messages(request: web.Request) -> web.Response:
    store = request.app[HUB].store
    conversation_id = request.match_info["id"]
    await visible_conversation(request)
    page = await store.conversation_messages(conversation_id, limit=query_limit(request),
                                             cursor=request.query.get("cursor"))
    return json_response(page)


class Reply(BaseModel):
    """An agent's answer: `text`, `parts` for attachments and richer content, or `canned`:
    a canned reply's shortcut (`/refund`), rendered for this conversation and sent as text."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, min_length=1, max_length=65536)
    parts: list[Part] | None = Field(default=None, min_length=1)
    canned: str | None = Field(default=None, min_length=1, max_length=64)
    private: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> Reply:
        if sum(x is not None for x in (self.text, self.parts, self.canned)) != 1:
            raise ValueError("give exactly one of `text`, `parts` or `canned`")
        return self


async def send_message(request: web.Request) -> web.Response:
    """Queue a reply for delivery on the customer's channel; `Idempotency-Key` makes a
    retried POST return the first message instead of sending twice."""
    hub = request.app[HUB]
    conversation_id = request.match_info["id"]
    reply = await json_body(request, Reply)
    await visible_conversation(request)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 128:
        raise InvalidInput("Idempotency-Key", "must be 1 to 128 characters")
    headers = None
    if reply.canned is not None:
        try:
            template = await find_canned(hub.db, reply.canned)
        except NotFound as exc:
            raise InvalidInput("canned", str(exc)) from None
        rendered = await render_for(request, template.body, conversation_id)
        if not rendered.text.strip():
            raise InvalidInput("canned", f"{reply.canned} renders to empty text here")
        reply.text = rendered.text
        headers = {"Omnihub-Canned-Warnings": ",".join(rendered.warnings)}
    parts = reply.parts or [TextPart(text=reply.text or "")]
    message, created = await hub.store.queue_reply(
        conversation_id, parts, author=f"agent:{principal_of(request).agent}",
        idempotency_key=key, private=reply.private, actor=actor_of(request))
    return json_response(message, status=201 if created else 200, headers=headers)
