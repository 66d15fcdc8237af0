"""Canned replies over the API: admins manage them, everyone reads and renders them.

A body's variables are checked on save (422 naming the unknown one); rendering fills
them from the conversation's customer and the calling agent (inbox/templating.py), and
a value that is missing becomes empty text plus a warning, never a failed reply.
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from omnihub.hub.http import json_error, json_response
from omnihub.hub.runtime import HUB
from omnihub.inbox.context import actor_of, visible_conversation
from omnihub.inbox.params import InvalidInput, json_body
from omnihub.store import canned
from omnihub.store.canned import ShortcutTaken
from omnihub.inbox.templating import RenderContext, Rendered, UnknownVariable, render, variables_of

Shortcut = Annotated[str, StringConstraints(pattern=r"^/[a-z0-9][a-z0-9_-]{0,62}$")]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=16384)]


class NewCanned(BaseModel):
    """`shortcut` like `/refund` (lowercase letters, digits, - and _)."""

    model_config = ConfigDict(extra="forbid")

    shortcut: Shortcut
    body: Text
    title: Title | None = None


class CannedChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shortcut: Shortcut | None = None
    body: Text | None = None
    title: Title | None = None

    @model_validator(mode="after")
    def _something(self) -> CannedChange:
        if not self.model_fields_set:
            raise ValueError("give at least one of shortcut, body, title")
        if "shortcut" in self.model_fields_set and self.shortcut is None:
            raise ValueError("shortcut can't be null")
        if "body" in self.model_fields_set and self.body is None:
            raise ValueError("body can't be null")
        return self


class RenderedReply(BaseModel):
    text: str
    warnings: list[str] = Field(description="variables that had no value and were left empty")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/canned-replies", list_replies)
    r.add_post("/api/v1/canned-replies", create_reply)
    r.add_get("/api/v1/canned-replies/{id}", get_reply)
    r.add_patch("/api/v1/canned-replies/{id}", update_reply)
    r.add_delete("/api/v1/canned-replies/{id}", delete_reply)
    r.add_get("/api/v1/canned-replies/{id}/render", preview)


def _checked(body: str) -> None:
    try:
        variables_of(body)
    except UnknownVariable as exc:
        raise InvalidInput("body", str(exc)) from None


def _taken(exc: ShortcutTaken) -> web.Response:
    return json_error(409, "shortcut_taken", str(exc), field="shortcut")


async def list_replies(request: web.Request) -> web.Response:
    """`?prefix=/ref` narrows to the shortcuts an agent is typing."""
    prefix = request.query.get("prefix")
    if prefix is not None and not 1 <= len(prefix) <= 64:
        raise InvalidInput("prefix", "must be 1 to 64 characters")
    items = await canned.list_canned(request.app[HUB].db, prefix=prefix)
    return json_response({"items": items})


async def create_reply(request: web.Request) -> web.Response:
    body = await json_body(request, NewCanned)
    _checked(body.body)
    try:
        reply = await canned.create_canned(request.app[HUB].db, shortcut=body.shortcut,
                                           body=body.body, title=body.title,
                                           actor=actor_of(request))
    except ShortcutTaken as exc:
        return _taken(exc)
    return json_response(reply, status=201)


async def get_reply(request: web.Request) -> web.Response:
    return json_response(await canned.get_canned(request.app[HUB].db, request.match_info["id"]))


async def update_reply(request: web.Request) -> web.Response:
    body = await json_body(request, CannedChange)
    if body.body is not None:
        _checked(body.body)
    fields = body.model_dump(exclude_unset=True)
    try:
        reply = await canned.update_canned(request.app[HUB].db, request.match_info["id"],
                                           fields, actor=actor_of(request))
    except ShortcutTaken as exc:
        return _taken(exc)
    return json_response(reply)


async def delete_reply(request: web.Request) -> web.Response:
    await canned.delete_canned(request.app[HUB].db, request.match_info["id"],
                               actor=actor_of(request))
    return web.Response(status=204)


async def render_for(request: web.Request, body: str, conversation_id: str) -> Rendered:
    """Fill `body` for a conversation the caller sees, as the calling agent."""
    conversation = await visible_conversation(request, conversation_id)
    customer = await request.app[HUB].store.get_customer(conversation.customer_id)
    return render(body, RenderContext(customer, conversation.id, actor_of(request).agent))


async def preview(request: web.Request) -> web.Response:
    """`?conversation=<id>`: the text a reply with this canned reply would send there."""
    conversation_id = request.query.get("conversation")
    if not conversation_id or len(conversation_id) > 26:
        raise InvalidInput("conversation", "give the id of a conversation (26 characters)")
    reply = await canned.get_canned(request.app[HUB].db, request.match_info["id"])
    rendered = await render_for(request, reply.body, conversation_id)
    return json_response(RenderedReply(text=rendered.text, warnings=rendered.warnings))
