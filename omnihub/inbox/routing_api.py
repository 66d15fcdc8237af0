"""Routing in the agent API: the routing version in force, agents' availability and load.

An agent sets its own availability; a supervisor anyone's. Coming online hands out the
queues of the agent's groups at once (the `agent.availability` event does it too, for
changes made elsewhere; handing out twice assigns nothing twice).
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from omnihub.hub.http import json_response
from omnihub.hub.runtime import HUB
from omnihub.inbox.context import actor_of, can
from omnihub.inbox.conversations import Body
from omnihub.inbox.params import InvalidInput, json_body
from omnihub.inbox.permissions import Forbidden
from omnihub.inbox.auth import principal_of
from omnihub.store import agents as agent_store

__all__ = ["setup"]


class AvailabilityBody(Body):
    availability: Literal["online", "away", "offline"]


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/routing", routing_version)
    r.add_get("/api/v1/agents", list_agents)
    r.add_put("/api/v1/agents/{id}/availability", set_availability)


async def routing_version(request: web.Request) -> web.Response:
    """The routing.yaml version in force (hash, path, loaded_at) and the last refused edit;
    during a staged rollout also `canary`: the candidate, its share and its refused edit."""
    hub = request.app[HUB]
    canary = None if hub.canary is None else hub.canary.to_dict()
    return json_response({**hub.routing.to_dict(), "canary": canary})


async def list_agents(request: web.Request) -> web.Response:
    """Every agent of routing.yaml (and any other with a stored availability): role,
    groups, availability, capacity per group and open conversations."""
    hub = request.app[HUB]
    router = hub.routing.router
    configured = router.config.agents if router is not None else []
    status = await agent_store.availability_of(hub.db)
    loads = await agent_store.open_loads(hub.db)
    ids = [a.id for a in configured] + sorted(set(status) - {a.id for a in configured})
    by_id = {a.id: a for a in configured}
    agents = []
    for agent in ids:
        config = by_id.get(agent)
        groups = sorted(g for g, group in router.groups.items()
                        if agent in group.agents) if router is not None else []
        capacity = {g: (config.capacity if config and config.capacity else router.groups[g].capacity)
                    for g in groups} if router is not None else {}
        state = status.get(agent)
        agents.append({
            "id": agent, "name": config.name if config else None,
            "role": config.role if config else None, "groups": groups,
            "availability": state.availability if state else "offline",
            "availability_since": state.updated_at.isoformat() if state and state.updated_at else None,
            "capacity": capacity, "open_conversations": loads.get(agent, 0),
        })
    return json_response({"agents": agents})


async def set_availability(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    agent = request.match_info["id"]
    if not 1 <= len(agent) <= 80:
        raise InvalidInput("id", "must be 1 to 80 characters")
    body = await json_body(request, AvailabilityBody)
    if agent != principal_of(request).agent and not can(request, "agents.manage"):
        raise Forbidden("setting another agent's availability needs agents.manage (supervisor)")
    status, changed = await agent_store.set_availability(
        hub.db, agent, body.availability, actor=actor_of(request), on_commit=hub.store.on_commit)
    assigned = []
    if status.availability == "online":
        router = hub.routing.router
        groups = [g for g, group in router.groups.items() if agent in group.agents] if router else []
        assigned = await hub.assigner.serve(groups)
    return json_response({
        "agent": agent, "availability": status.availability, "changed": changed,
        "assigned": [{"conversation_id": a.conversation_id, "agent": a.agent} for a in assigned],
    })
