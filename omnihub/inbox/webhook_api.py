"""`/api/v1/webhooks`: admins add, change and remove outbound webhook endpoints at run time.

Endpoints in hub.yaml (`inbox.webhooks`) stay where they are and are listed read-only
(`source: "config"`, no id); the ones made here live in the database and are delivered
to the same way: signed, from the durable outbox, at least once, in order per
conversation. The secret is shown once, when the endpoint is created: give one
(16+ characters) or let the hub generate it.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from omnihub.hub.http import json_response
from omnihub.hub.runtime import HUB, Hub
from omnihub.hub.settings import EventPattern, HttpUrlText
from omnihub.inbox.context import actor_of
from omnihub.inbox.params import json_body
from omnihub.store import webhook_subscriptions as subscriptions
from omnihub.store.webhook_subscriptions import StoredSubscription

Secret = Annotated[str, StringConstraints(min_length=16, max_length=256)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
Events = Annotated[list[EventPattern], Field(min_length=1, max_length=100)]


class NewWebhook(BaseModel):
    """`events` like `["message.*", "conversation.assigned"]`; default every event."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrlText
    events: Events = Field(default_factory=lambda: ["*"])
    secret: Secret | None = None
    description: Description | None = None


class WebhookChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrlText | None = None
    events: Events | None = None
    secret: Secret | None = None
    description: Description | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> WebhookChange:
        if not self.model_fields_set:
            raise ValueError("give at least one of url, events, secret, description, active")
        for name in ("url", "events", "secret", "active"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} can't be null")
        return self


class CreatedWebhook(StoredSubscription):
    secret: str = Field(description="the signing secret; shown only in this answer")


class ConfiguredWebhook(BaseModel):
    source: Literal["config"] = "config"
    url: str
    events: list[str]


class WebhookList(BaseModel):
    items: list[StoredSubscription]
    configured: list[ConfiguredWebhook] = Field(
        description="endpoints from hub.yaml (inbox.webhooks): changed there, not here")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/webhooks", list_webhooks)
    r.add_post("/api/v1/webhooks", create_webhook)
    r.add_get("/api/v1/webhooks/{id}", get_webhook)
    r.add_patch("/api/v1/webhooks/{id}", update_webhook)
    r.add_delete("/api/v1/webhooks/{id}", delete_webhook)


async def _applied(hub: Hub) -> None:
    """Take the change into this process's senders now (others follow on their refresh)."""
    if hub.webhooks is not None:
        await hub.webhooks.sync()


async def list_webhooks(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    stored = await subscriptions.list_subscriptions(hub.db, hub.store.cipher)
    configured = [ConfiguredWebhook(url=w.url, events=w.events)
                  for w in hub.settings.inbox.webhooks]
    return json_response(WebhookList(items=[s for s, _secret in stored], configured=configured))


async def create_webhook(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    body = await json_body(request, NewWebhook)
    secret = body.secret or secrets.token_urlsafe(32)
    created = await subscriptions.create_subscription(
        hub.db, hub.store.cipher, url=body.url, secret=secret, events=body.events,
        description=body.description, actor=actor_of(request))
    await _applied(hub)
    return json_response(CreatedWebhook(**created.model_dump(), secret=secret), status=201)


async def get_webhook(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    return json_response(await subscriptions.get_subscription(hub.db, request.match_info["id"]))


async def update_webhook(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    body = await json_body(request, WebhookChange)
    changed = await subscriptions.update_subscription(
        hub.db, hub.store.cipher, request.match_info["id"], body.model_dump(exclude_unset=True),
        actor=actor_of(request))
    await _applied(hub)
    return json_response(changed)


async def delete_webhook(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    await subscriptions.delete_subscription(hub.db, request.match_info["id"],
                                            actor=actor_of(request))
    await _applied(hub)
    return web.Response(status=204)
