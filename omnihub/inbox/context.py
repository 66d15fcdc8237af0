"""Per-app and per-request state of the agent API: routing groups, scope, actor, errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from omnihub.hub.http import Handler, json_error
from omnihub.hub.runtime import HUB
from omnihub.inbox.auth import principal_of
from omnihub.inbox.params import InvalidInput
from omnihub.inbox.permissions import Forbidden, Scope, allowed, require, scope_for
from omnihub.normalizer.schema import Conversation
from omnihub.router.config import RoutingConfig
from omnihub.router.runtime import RoutingState
from omnihub.store import NotFound
from omnihub.store.audit import Actor
from omnihub.store.conversation_ops import InvalidTransition, OpenConversationExists
from omnihub.store.conversation_search import Visibility

log = logging.getLogger("omnihub.inbox")


@dataclass
class Inbox:
    """The agent API's view of the routing file: the version in force (hot-reloaded)."""

    routing_state: RoutingState

    @property
    def routing(self) -> RoutingConfig | None:
        return self.routing_state.config


INBOX = web.AppKey("inbox", Inbox)
SCOPE = web.RequestKey("scope", Scope)


async def inbox_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Read groups and agents from the hub's routing state, which follows every reload."""
    app[INBOX] = Inbox(app[HUB].routing)
    yield


def scope_of(request: web.Request) -> Scope:
    scope = request.get(SCOPE)
    if scope is None:
        scope = scope_for(principal_of(request), request.app[INBOX].routing)
        request[SCOPE] = scope
    return scope


def visibility_of(scope: Scope) -> Visibility | None:
    """The store's visibility filter for a scope; None for one that sees everything."""
    return None if scope.groups is None else Visibility(scope.agent, scope.groups)


def actor_of(request: web.Request) -> Actor:
    principal = principal_of(request)
    return Actor(principal.agent, principal.role)


async def visible_conversation(request: web.Request, conversation_id: str | None = None
                               ) -> Conversation:
    """The conversation of the route, if it exists (404) and the principal sees it (403)."""
    hub = request.app[HUB]
    conversation_id = conversation_id or request.match_info["id"]
    conversation = await hub.store.get_conversation(conversation_id)
    if conversation is None:
        raise NotFound(f"no conversation with id {conversation_id!r}")
    visibility = visibility_of(scope_of(request))
    if visibility is not None and not await hub.store.can_see(conversation_id, visibility):
        raise Forbidden(f"conversation {conversation_id} is not in your groups")
    return conversation


def may_act_on(request: web.Request):  # type: ignore[no-untyped-def]
    """The in-transaction check of every operation: escalated ones need a senior."""
    principal = principal_of(request)

    def check(conversation: Conversation) -> None:
        if conversation.escalation_level > 0:
            require(principal, "conversations.handle_escalated")
    return check


def can(request: web.Request, action: str) -> bool:
    return allowed(principal_of(request).role, action)


@web.middleware
async def inbox_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Typed errors of the inbox and the store, each to its status with a JSON body."""
    try:
        return await handler(request)
    except InvalidInput as exc:
        return json_error(422, "invalid_input", exc.message, field=exc.field)
    except Forbidden as exc:
        return json_error(403, "forbidden", str(exc))
    except NotFound as exc:
        return json_error(404, "not_found", str(exc))
    except OpenConversationExists as exc:
        return json_error(409, "open_conversation_exists", str(exc), other_id=exc.other_id)
    except InvalidTransition as exc:
        return json_error(409, "invalid_transition", str(exc))
