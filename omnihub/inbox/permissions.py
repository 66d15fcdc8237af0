"""Roles and permissions of the agent API: one table of data, enforced by one middleware.

Every /api/v1 route names an action in ROUTES, every action a minimum role in
PERMISSIONS; a route missing from ROUTES is refused (403) for everyone, and a test walks
the router to make sure no route is missing. Roles are ordered agent < senior <
supervisor < admin: a role may do everything the roles before it may.

What a principal may *see* is its Scope: supervisors and admins see every conversation;
agents and seniors see the conversations of their groups (from routing.yaml), the ones
assigned to them, the ones they watch, and the ones not routed to any group yet. With no
routing.yaml every agent is in one implicit group and sees every conversation.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from aiohttp import web

from omnihub.hub.http import Handler, json_error
from omnihub.inbox.auth import API_PREFIX, PUBLIC_PATHS, principal_of
from omnihub.router.config import RoutingConfig
from omnihub.store.tokens import ROLES, Principal

__all__ = ["PERMISSIONS", "ROUTES", "Forbidden", "Scope", "action_of", "require",
           "require_permissions", "scope_for"]

# action -> the least privileged role allowed to perform it.
PERMISSIONS: dict[str, str] = {
    "customers.read": "agent",
    "customers.merge": "supervisor",  # merge two customer records, and undo a merge
    "customers.write": "supervisor",  # attributes and orders, as the shop pushes them
    "conversations.read": "agent",
    "conversations.reply": "agent",  # replies and private notes
    "conversations.assign": "agent",  # take one for yourself, or hand back your own
    "conversations.reassign": "supervisor",  # assign anyone's, to anyone
    "conversations.transfer": "agent",
    "conversations.escalate": "agent",
    "conversations.handle_escalated": "senior",  # act on an escalated conversation
    "conversations.update": "agent",  # priority, category, tags
    "conversations.resolve": "agent",
    "conversations.close": "agent",
    "conversations.reopen": "agent",
    "conversations.snooze": "agent",
    "conversations.watch": "agent",
    "messages.edit": "agent",  # own messages, within the edit window
    "messages.edit_any": "supervisor",
    "messages.read_marker": "agent",
    "events.stream": "agent",
    "audit.read": "supervisor",
    "routing.read": "supervisor",  # the routing version in force and the last refused edit
    "agents.read": "agent",
    "agents.availability": "agent",  # your own; anyone's needs agents.manage
    "agents.manage": "supervisor",
    "tokens.manage": "admin",
    "canned.read": "agent",  # list, read and render canned replies
    "canned.manage": "admin",
    "webhooks.manage": "admin",  # outbound webhook endpoints added through the API
    "stats.read": "supervisor",
    "kb.read": "agent",  # knowledge base: list, read, search, versions, export
    "kb.manage": "supervisor",  # edit, import, review the bot's suggestions
    "alerts.read": "supervisor",  # the alert rules of hub.yaml and their state
}

# (method, route path) -> action. HEAD is checked as GET.
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/customers"): "customers.read",
    ("GET", "/api/v1/customers/{id}"): "customers.read",
    ("GET", "/api/v1/customers/{id}/history"): "customers.read",
    ("POST", "/api/v1/customers/{id}/merge"): "customers.merge",
    ("POST", "/api/v1/merges/{id}/undo"): "customers.merge",
    ("PUT", "/api/v1/customers/{id}/attributes"): "customers.write",
    ("GET", "/api/v1/customers/{id}/orders"): "customers.read",
    ("POST", "/api/v1/customers/{id}/orders"): "customers.write",
    ("GET", "/api/v1/conversations/{id}/suggestions"): "conversations.read",
    ("GET", "/api/v1/conversations"): "conversations.read",
    ("GET", "/api/v1/conversations/{id}"): "conversations.read",
    ("GET", "/api/v1/conversations/{id}/messages"): "conversations.read",
    ("POST", "/api/v1/conversations/{id}/messages"): "conversations.reply",
    ("POST", "/api/v1/conversations/{id}/assign"): "conversations.assign",
    ("POST", "/api/v1/conversations/{id}/transfer"): "conversations.transfer",
    ("POST", "/api/v1/conversations/{id}/escalate"): "conversations.escalate",
    ("PATCH", "/api/v1/conversations/{id}"): "conversations.update",
    ("POST", "/api/v1/conversations/{id}/resolve"): "conversations.resolve",
    ("POST", "/api/v1/conversations/{id}/close"): "conversations.close",
    ("POST", "/api/v1/conversations/{id}/reopen"): "conversations.reopen",
    ("POST", "/api/v1/conversations/{id}/snooze"): "conversations.snooze",
    ("GET", "/api/v1/conversations/{id}/watchers"): "conversations.read",
    ("PUT", "/api/v1/conversations/{id}/watchers/{agent}"): "conversations.watch",
    ("DELETE", "/api/v1/conversations/{id}/watchers/{agent}"): "conversations.watch",
    ("GET", "/api/v1/conversations/{id}/read"): "conversations.read",
    ("PUT", "/api/v1/conversations/{id}/read"): "messages.read_marker",
    ("PATCH", "/api/v1/messages/{id}"): "messages.edit",
    ("POST", "/api/v1/messages/{id}/recall"): "messages.edit",
    ("GET", "/api/v1/events"): "events.stream",
    ("GET", "/api/v1/audit"): "audit.read",
    ("GET", "/api/v1/routing"): "routing.read",
    ("GET", "/api/v1/agents"): "agents.read",
    ("GET", "/api/v1/me"): "agents.read",
    ("PUT", "/api/v1/agents/{id}/availability"): "agents.availability",
    ("GET", "/api/v1/tokens"): "tokens.manage",
    ("POST", "/api/v1/tokens"): "tokens.manage",
    ("DELETE", "/api/v1/tokens/{id}"): "tokens.manage",
    ("GET", "/api/v1/canned-replies"): "canned.read",
    ("POST", "/api/v1/canned-replies"): "canned.manage",
    ("GET", "/api/v1/canned-replies/{id}"): "canned.read",
    ("PATCH", "/api/v1/canned-replies/{id}"): "canned.manage",
    ("DELETE", "/api/v1/canned-replies/{id}"): "canned.manage",
    ("GET", "/api/v1/webhooks"): "webhooks.manage",
    ("POST", "/api/v1/webhooks"): "webhooks.manage",
    ("GET", "/api/v1/webhooks/{id}"): "webhooks.manage",
    ("PATCH", "/api/v1/webhooks/{id}"): "webhooks.manage",
    ("DELETE", "/api/v1/webhooks/{id}"): "webhooks.manage",
    ("GET", "/api/v1/canned-replies/{id}/render"): "canned.read",
    ("GET", "/api/v1/stats"): "stats.read",
    ("GET", "/api/v1/kb/entries"): "kb.read",
    ("POST", "/api/v1/kb/entries"): "kb.manage",
    ("GET", "/api/v1/kb/entries/{id}"): "kb.read",
    ("PATCH", "/api/v1/kb/entries/{id}"): "kb.manage",
    ("DELETE", "/api/v1/kb/entries/{id}"): "kb.manage",
    ("GET", "/api/v1/kb/entries/{id}/versions"): "kb.read",
    ("GET", "/api/v1/kb/search"): "kb.read",
    ("POST", "/api/v1/kb/import"): "kb.manage",
    ("GET", "/api/v1/kb/export"): "kb.read",
    ("GET", "/api/v1/kb/suggestions"): "kb.manage",
    ("POST", "/api/v1/kb/suggestions/{id}/accept"): "kb.manage",
    ("POST", "/api/v1/kb/suggestions/{id}/reject"): "kb.manage",
    ("GET", "/api/v1/alerts"): "alerts.read",
}


class Forbidden(Exception):
    """The principal may not do this; rendered as 403 naming the missing permission."""


def allowed(role: str, action: str) -> bool:
    return ROLES.index(role) >= ROLES.index(PERMISSIONS[action])


def require(principal: Principal, action: str) -> None:
    """Raise Forbidden unless the principal's role grants `action`."""
    if not allowed(principal.role, action):
        raise Forbidden(f"{action} needs role {PERMISSIONS[action]} or higher "
                        f"(you are {principal.role})")


def action_of(request: web.Request) -> str | None:
    """The action of the matched route, or None for a route not in the table."""
    route = request.match_info.route
    resource = route.resource
    if resource is None:
        return None
    method = "GET" if route.method == "HEAD" else route.method
    return ROUTES.get((method, resource.canonical))


@web.middleware
async def require_permissions(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 unless the route is in the table and the principal's role grants its action."""
    if not request.path.startswith(API_PREFIX) or request.path in PUBLIC_PATHS:
        return await handler(request)
    if request.match_info.http_exception is not None:  # no such route: its 404/405
        return await handler(request)
    action = action_of(request)
    if action is None:
        return json_error(403, "forbidden", "this route has no permission entry")
    try:
        require(principal_of(request), action)
        return await handler(request)
    except Forbidden as exc:
        return json_error(403, "forbidden", str(exc))


@dataclass(frozen=True, slots=True)
class Scope:
    """Which conversations a principal sees: all of them, or those of some groups."""

    agent: str
    groups: frozenset[str] | None  # None: every group

    @property
    def unrestricted(self) -> bool:
        return self.groups is None

    def sees(self, group: str | None, assignee: str | None,
             watchers: Collection[str] = ()) -> bool:
        """Visibility from a conversation's group, assignee and watchers."""
        return (self.groups is None or group is None or group in self.groups
                or assignee == self.agent or self.agent in watchers)


def scope_for(principal: Principal, routing: RoutingConfig | None) -> Scope:
    """The groups an agent works in come from routing.yaml; without it, one implicit group."""
    if principal.has_role("supervisor") or routing is None:
        return Scope(principal.agent, None)
    groups = {g for g in routing.groups if principal.agent in routing.groups[g].agents}
    for agent in routing.agents:
        if agent.id == principal.agent:
            groups.update(agent.groups)
    return Scope(principal.agent, frozenset(groups))
