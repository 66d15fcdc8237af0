"""Conversation endpoints: the filtered inbox listing and every operation on one conversation.

Each handler validates its body (422 naming the field), checks that the principal sees
the conversation (404/403), then calls one store operation, which writes the change, its
event and its audit entry in one transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from omnihub.hub.http import json_response
from omnihub.hub.runtime import HUB
from omnihub.inbox.auth import principal_of
from omnihub.inbox.context import (
    actor_of,
    can,
    may_act_on,
    scope_of,
    visibility_of,
    visible_conversation,
)
from omnihub.inbox.params import InvalidInput, UtcTime, json_body, query_choice, query_limit
from omnihub.inbox.permissions import Forbidden
from omnihub.normalizer.schema import AUTOMATED_TAG_PREFIX, Conversation, TextPart
from omnihub.router.manual_escalation import ladder_for
from omnihub.store.conversation_search import ConversationFilter
from omnihub.store.csat import SURVEY_KEY
from omnihub.store.replies import SYSTEM_AUTHOR

STATUSES = ("open", "pending", "snoozed", "resolved", "closed")
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssignBody(Body):
    """`assignee: null` hands the conversation back to its group's queue."""

    assignee: Name | None


class TransferBody(Body):
    group: Name | None = None
    assignee: Name | None = None
    reason: Reason

    @model_validator(mode="after")
    def _somewhere(self) -> TransferBody:
        if self.group is None and self.assignee is None:
            raise ValueError("give a `group`, an `assignee`, or both")
        return self


class EscalateBody(Body):
    """The next step of routing.yaml's escalation ladder is applied (its transfer, priority
    change, notify list; router/manual_escalation.py); `group`/`priority` override the step's."""

    reason: Reason
    priority: int | None = Field(default=None, ge=0, le=1000)
    group: Name | None = None


class UpdateBody(Body):
    priority: int = Field(default=0, ge=0, le=1000)  # absent: unchanged; null is refused
    category: Name | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    add_tags: list[Tag] = Field(default_factory=list, max_length=50)
    remove_tags: list[Tag] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _something(self) -> UpdateBody:
        if not self.model_fields_set:
            raise ValueError("give at least one of priority, category, tags, add_tags, remove_tags")
        return self


class SnoozeBody(Body):
    until: UtcTime


class EmptyBody(Body):
    """Resolve, close and reopen take no fields; an empty body or `{}` is fine."""


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/conversations", list_conversations)
    r.add_post("/api/v1/conversations/{id}/assign", assign)
    r.add_post("/api/v1/conversations/{id}/transfer", transfer)
    r.add_post("/api/v1/conversations/{id}/escalate", escalate)
    r.add_patch("/api/v1/conversations/{id}", update)
    r.add_post("/api/v1/conversations/{id}/resolve", resolve)
    r.add_post("/api/v1/conversations/{id}/close", close)
    r.add_post("/api/v1/conversations/{id}/reopen", reopen)
    r.add_post("/api/v1/conversations/{id}/snooze", snooze)
    r.add_get("/api/v1/conversations/{id}/watchers", watchers)
    r.add_put("/api/v1/conversations/{id}/watchers/{agent}", watch)
    r.add_delete("/api/v1/conversations/{id}/watchers/{agent}", unwatch)


def _flag(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise InvalidInput(name, "must be true or false")


def _int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(name, "must be an integer") from None
    if not 0 <= value <= 1000:
        raise InvalidInput(name, "must be between 0 and 1000")
    return value


def _text(request: web.Request, name: str, max_length: int = 200) -> str | None:
    raw = request.query.get(name)
    if raw is not None and not 1 <= len(raw) <= max_length:
        raise InvalidInput(name, f"must be 1 to {max_length} characters")
    return raw


async def list_conversations(request: web.Request) -> web.Response:
    """Filters: status, group, assignee (`me` for yourself), channel, category, priority (at
    least), overdue, unassigned, q (text in the messages); keyset-paged."""
    assignee = _text(request, "assignee", 80)
    if assignee == "me":
        assignee = principal_of(request).agent
    filters = ConversationFilter(
        status=query_choice(request, "status", STATUSES), group=_text(request, "group", 64),
        assignee=assignee, channel_id=_text(request, "channel", 64),
        category=_text(request, "category", 64), priority=_int(request, "priority"),
        overdue=_flag(request, "overdue"), unassigned=_flag(request, "unassigned"),
        text=_text(request, "q"))
    page = await request.app[HUB].store.search_conversations(
        filters, visibility=visibility_of(scope_of(request)), limit=query_limit(request),
        cursor=request.query.get("cursor"))
    return json_response(page)


async def _body(request: web.Request, model: type[Body]) -> Any:
    """An operation's body; one with no fields accepts an empty request body."""
    if not model.model_fields and not await request.read():
        return model()
    return await json_body(request, model)


async def assign(request: web.Request) -> web.Response:
    """An agent takes an unassigned conversation or hands back its own; reassigning
    anyone else's needs conversations.reassign (supervisor)."""
    body = await _body(request, AssignBody)
    await visible_conversation(request)
    me = principal_of(request).agent
    escalation = may_act_on(request)
    free_to_reassign = can(request, "conversations.reassign")

    def check(conversation: Conversation) -> None:
        escalation(conversation)
        own = body.assignee in (None, me) and conversation.assignee in (None, me)
        if not own and not free_to_reassign:
            raise Forbidden("assigning to others or taking another agent's conversation "
                            "needs conversations.reassign (supervisor)")

    conversation = await request.app[HUB].store.assign(
        request.match_info["id"], body.assignee, actor=actor_of(request), check=check)
    return json_response(conversation)


def _known_group(request: web.Request, group: str | None) -> None:
    """A group the routing in force doesn't know would strand the conversation: 422."""
    routing = request.app[HUB].routing.config
    if group is not None and routing is not None and group not in routing.groups:
        raise InvalidInput("group", f"no group {group!r} in routing.yaml")


def _known_agent(request: web.Request, agent: str | None) -> None:
    """Likewise an agent routing.yaml doesn't list could never see the conversation: 422."""
    routing = request.app[HUB].routing.config
    if agent is not None and routing is not None and agent not in {a.id for a in routing.agents}:
        raise InvalidInput("assignee", f"no agent {agent!r} in routing.yaml")


async def transfer(request: web.Request) -> web.Response:
    body = await _body(request, TransferBody)
    await visible_conversation(request)
    _known_group(request, body.group)
    _known_agent(request, body.assignee)
    conversation = await request.app[HUB].store.transfer(
        request.match_info["id"], group=body.group, assignee=body.assignee, reason=body.reason,
        actor=actor_of(request), check=may_act_on(request))
    return json_response(conversation)


async def escalate(request: web.Request) -> web.Response:
    """Anyone who works a conversation may escalate it; past the ladder's last step, 409."""
    body = await _body(request, EscalateBody)
    await visible_conversation(request)
    _known_group(request, body.group)
    hub = request.app[HUB]
    ladder = await ladder_for(hub.routing, hub.store.db, request.match_info["id"])
    conversation = await hub.store.escalate(
        request.match_info["id"], reason=body.reason, priority=body.priority, group=body.group,
        actor=actor_of(request), check=may_act_on(request), ladder=ladder)
    return json_response(conversation)


async def update(request: web.Request) -> web.Response:
    body = await _body(request, UpdateBody)
    await visible_conversation(request)
    fields = body.model_dump(include={"priority", "category", "tags"}, exclude_unset=True)
    conversation = await request.app[HUB].store.update_conversation(
        request.match_info["id"], fields, add_tags=body.add_tags, remove_tags=body.remove_tags,
        actor=actor_of(request), check=may_act_on(request))
    return json_response(conversation)


async def resolve(request: web.Request) -> web.Response:
    await _body(request, EmptyBody)
    await visible_conversation(request)
    conversation = await request.app[HUB].store.resolve(
        request.match_info["id"], actor=actor_of(request), check=may_act_on(request))
    return json_response(conversation)


async def close(request: web.Request) -> web.Response:
    """Close; with `inbox.csat.enabled` the satisfaction survey then goes to the customer
    (once per conversation: its idempotency key is the survey's, store/csat.py)."""
    await _body(request, EmptyBody)
    await visible_conversation(request)
    hub = request.app[HUB]
    conversation = await hub.store.close_conversation(
        request.match_info["id"], actor=actor_of(request), check=may_act_on(request))
    survey = hub.settings.inbox.csat
    automated = any(tag.startswith(AUTOMATED_TAG_PREFIX) for tag in conversation.tags)
    if survey.enabled and not automated:  # no survey to an auto-responder: no mail loop
        await hub.store.queue_reply(conversation.id, [TextPart(text=survey.question)],
                                    author=SYSTEM_AUTHOR, idempotency_key=SURVEY_KEY)
    return json_response(conversation)


async def reopen(request: web.Request) -> web.Response:
    await _body(request, EmptyBody)
    await visible_conversation(request)
    conversation = await request.app[HUB].store.reopen(
        request.match_info["id"], actor=actor_of(request), check=may_act_on(request))
    return json_response(conversation)


async def snooze(request: web.Request) -> web.Response:
    body = await _body(request, SnoozeBody)
    if body.until <= datetime.now(UTC):
        raise InvalidInput("until", "must be in the future")
    await visible_conversation(request)
    conversation = await request.app[HUB].store.snooze(
        request.match_info["id"], body.until, actor=actor_of(request), check=may_act_on(request))
    return json_response(conversation)


async def watchers(request: web.Request) -> web.Response:
    await visible_conversation(request)
    return json_response({"watchers": await request.app[HUB].store.list_watchers(
        request.match_info["id"])})


async def _set_watching(request: web.Request, watching: bool) -> web.Response:
    """Whoever sees a conversation may invite a colleague from another department to
    watch it; anyone may stop watching."""
    agent = request.match_info["agent"]
    if not 1 <= len(agent) <= 80:
        raise InvalidInput("agent", "must be 1 to 80 characters")
    if watching or agent != principal_of(request).agent:
        await visible_conversation(request)
    after = await request.app[HUB].store.set_watching(
        request.match_info["id"], agent, watching, actor=actor_of(request))
    return json_response({"watchers": after})


async def watch(request: web.Request) -> web.Response:
    return await _set_watching(request, True)


async def unwatch(request: web.Request) -> web.Response:
    return await _set_watching(request, False)
