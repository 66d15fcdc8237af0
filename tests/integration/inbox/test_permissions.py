"""Every /api/v1 route, every role: allowed or denied exactly as the permission table says."""

from __future__ import annotations

from typing import Any

import pytest

from omnihub.inbox.auth import PUBLIC_PATHS
from omnihub.inbox.permissions import PERMISSIONS, ROUTES, allowed
from omnihub.store.tokens import ROLES, create_token, list_tokens

from .conftest import Desk


def api_routes(desk: Desk) -> set[tuple[str, str]]:
    found = set()
    for route in desk.hub.app.router.routes():
        if route.resource is None or route.method == "HEAD":
            continue
        path = route.resource.canonical
        if path.startswith("/api/v1/") and path not in PUBLIC_PATHS:
            found.add((route.method, path))
    return found


async def test_every_route_has_a_permission_entry_and_no_entry_is_stale(desk: Desk) -> None:
    routes = api_routes(desk)
    assert routes - set(ROUTES) == set(), "routes without a permission entry"
    assert set(ROUTES) - routes == set(), "permission entries for routes that do not exist"
    assert set(ROUTES.values()) <= set(PERMISSIONS)
    assert set(PERMISSIONS.values()) <= set(ROLES)


async def _request_for(desk: Desk, method: str, path: str, role: str) -> dict[str, Any]:
    """A request that is valid for the route, so only the permission decides 403."""
    hub = desk.hub.hub
    conv = desk.conversation_id
    message = (await hub.store.conversation_messages(conv, limit=1)).items[0]
    customer = message.customer_id
    agent = {"agent": "ann", "senior": "sam", "supervisor": "sue", "admin": "ada"}[role]
    if path.startswith("/api/v1/tokens/"):
        await create_token(hub.db, f"spare-{role}", "agent")
        ident = next(t.id for t in await list_tokens(hub.db) if t.agent == f"spare-{role}")
    elif path.startswith("/api/v1/messages/"):
        sent = await desk.ok("POST", f"/api/v1/conversations/{conv}/messages", role,
                             json={"text": "a note", "private": True})
        ident = sent["id"]
    elif path.startswith("/api/v1/customers/"):
        ident = customer
    else:
        ident = conv
    url = path.replace("{id}", ident).replace("{agent}", agent)
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/v1/conversations/{id}/messages"): {"text": "hi"},
        ("POST", "/api/v1/conversations/{id}/assign"): {"assignee": agent},
        ("POST", "/api/v1/conversations/{id}/transfer"): {"group": "sales", "reason": "r"},
        ("POST", "/api/v1/conversations/{id}/escalate"): {"reason": "angry"},
        ("PATCH", "/api/v1/conversations/{id}"): {"priority": 5},
        ("POST", "/api/v1/conversations/{id}/snooze"): {"until": "2999-01-01T00:00:00Z"},
        ("PUT", "/api/v1/conversations/{id}/read"): {"message_id": message.id},
        ("PATCH", "/api/v1/messages/{id}"): {"text": "edited"},
        ("POST", "/api/v1/tokens"): {"agent": "new", "role": "agent"},
    }
    params = {"identity": "api:c-1"} if path == "/api/v1/customers" else {}
    if path == "/api/v1/events":
        params = {"after": "0"}
    kw: dict[str, Any] = {"params": params}
    if (method, path) in bodies:
        kw["json"] = bodies[(method, path)]
    return {"url": url, **kw}


@pytest.mark.parametrize("role", ROLES)
async def test_every_route_allows_or_denies_each_role_as_the_table_says(
        desk: Desk, role: str) -> None:
    # Escalation last: an escalated conversation is for seniors, which is its own rule.
    routes = sorted(api_routes(desk), key=lambda r: (r[1].endswith("/escalate"), r))
    checked = 0
    for method, path in routes:
        request = await _request_for(desk, method, path, role)
        resp = await desk.call(method, request.pop("url"), role, **request)
        status = resp.status
        resp.close()
        expected_allowed = allowed(role, ROUTES[(method, path)])
        if expected_allowed:
            assert status not in (401, 403, 500), (role, method, path, status)
        else:
            assert status == 403, (role, method, path, status)
        checked += 1
    assert checked == len(ROUTES)


async def test_wrong_or_missing_token_is_401_everywhere(desk: Desk) -> None:
    for method, path in api_routes(desk):
        url = path.replace("{id}", "x").replace("{agent}", "x")
        bad = await desk.hub.http.request(method, url,
                                          headers={"Authorization": "Bearer oh_wrong"})
        assert bad.status == 401, (method, path)
        none = await desk.hub.http.request(method, url)
        assert none.status == 401, (method, path)
