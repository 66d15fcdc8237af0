"""Message endpoints: edit and recall an agent's message, and agents' read markers.

The change is committed first; then, when the message had already gone out, the
channel's connector is asked to edit or delete it at the provider. A channel that can't
(NotSupported) or fails keeps the change in omnihub only, and the answer says so in
`channel_update`.
"""

from __future__ import annotations

import logging

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from omnihub.connectors.errors import NotSupported, SendError
from omnihub.hub.http import json_response
from omnihub.hub.runtime import HUB, Hub
from omnihub.inbox.context import actor_of, can, visible_conversation
from omnihub.inbox.params import json_body
from omnihub.inbox.permissions import Forbidden
from omnihub.normalizer.schema import Message, Part, TextPart
from omnihub.store import NotFound
from omnihub.store.message_ops import SENT, EditLimits

log = logging.getLogger("omnihub.inbox.messages")


class EditBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, min_length=1, max_length=65536)
    parts: list[Part] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_of(self) -> EditBody:
        if (self.text is None) == (self.parts is None):
            raise ValueError("give exactly one of `text` or `parts`")
        return self


class ReadBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(min_length=1, max_length=26)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_patch("/api/v1/messages/{id}", edit_message)
    r.add_post("/api/v1/messages/{id}/recall", recall_message)
    r.add_get("/api/v1/conversations/{id}/read", get_read_markers)
    r.add_put("/api/v1/conversations/{id}/read", put_read_marker)


def _limits(hub: Hub) -> EditLimits:
    inbox = hub.settings.inbox
    return EditLimits(window_seconds=inbox.edit_window_seconds, max_edits=inbox.max_edits)


async def _own_message(request: web.Request) -> Message:
    """The message, if it exists and is in a conversation the principal sees."""
    message_id = request.match_info["id"]
    message = await request.app[HUB].store.get_message(message_id)
    if message is None:
        raise NotFound(f"no message with id {message_id!r}")
    await visible_conversation(request, message.conversation_id)
    return message


def _author_check(request: web.Request):  # type: ignore[no-untyped-def]
    author = actor_of(request).author
    any_message = can(request, "messages.edit_any")

    def check(message: Message) -> None:
        if message.author != author and not any_message:
            raise Forbidden("only the author may change a message "
                            "(or someone with messages.edit_any)")
    return check


async def _tell_channel(hub: Hub, message: Message, before_status: str, kind: str) -> str:
    """Ask the connector to mirror the change at the provider; return what happened."""
    if message.private:
        return "not_needed"
    if before_status not in SENT:
        return "not_sent"
    connector = hub.connectors.get(message.channel_id)
    if connector is None or message.external_id is None:
        return "not_supported"
    target = await hub.store.sent_target(message, connector.pick_recipient)
    if target is None:
        return "not_supported"
    try:
        if kind == "edit":
            await connector.edit(target, message.external_id, list(message.parts))
        else:
            await connector.recall(target, message.external_id)
    except NotSupported:
        return "not_supported"
    except SendError as exc:
        log.warning("channel %s could not %s message %s: %s", message.channel_id, kind,
                    message.id, exc)
        return "failed"
    return "applied"


async def edit_message(request: web.Request) -> web.Response:
    body = await json_body(request, EditBody)
    hub = request.app[HUB]
    await _own_message(request)
    parts = body.parts or [TextPart(text=body.text or "")]
    message, before_status = await hub.store.edit_message(
        request.match_info["id"], parts, actor=actor_of(request), limits=_limits(hub),
        check=_author_check(request))
    outcome = await _tell_channel(hub, message, before_status, "edit")
    return json_response({"message": message, "channel_update": outcome})


async def recall_message(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    await _own_message(request)
    message, before_status = await hub.store.recall_message(
        request.match_info["id"], actor=actor_of(request), limits=_limits(hub),
        check=_author_check(request))
    outcome = await _tell_channel(hub, message, before_status, "recall")
    return json_response({"message": message, "channel_update": outcome})


async def get_read_markers(request: web.Request) -> web.Response:
    await visible_conversation(request)
    markers = await request.app[HUB].store.read_markers(request.match_info["id"])
    return json_response({"items": markers})


async def put_read_marker(request: web.Request) -> web.Response:
    """The calling agent has read the conversation up to `message_id` (never moves back)."""
    body = await json_body(request, ReadBody)
    await visible_conversation(request)
    marker = await request.app[HUB].store.set_read_marker(
        actor_of(request).agent, request.match_info["id"], body.message_id)
    return json_response(marker)
