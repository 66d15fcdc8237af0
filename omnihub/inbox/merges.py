"""Merging two customer records into one, and undoing it.

The same person often reaches a shop as two customers (a web chat visitor who later
writes by e-mail). Identities are never merged automatically (see README "Decisions"), so
supervisors merge by hand; every merge records what it moved and can be undone exactly.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from omnihub.hub.http import json_error, json_response
from omnihub.hub.runtime import HUB
from omnihub.inbox.context import actor_of
from omnihub.inbox.params import json_body
from omnihub.store import NotFound
from omnihub.store.errors import MergeError


class MergeRequest(BaseModel):
    """`POST /customers/{id}/merge`: fold customer {id} into `into`."""

    model_config = ConfigDict(extra="forbid")

    into: str = Field(min_length=1, max_length=26)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/customers/{id}/merge", merge_customer)
    app.router.add_post("/api/v1/merges/{id}/undo", undo_merge)


async def merge_customer(request: web.Request) -> web.Response:
    """Move the customer's identities, conversations and history to `into`; 201 with the
    merge id (keep it to undo) and the surviving customer."""
    hub = request.app[HUB]
    source_id = request.match_info["id"]
    body = await json_body(request, MergeRequest)
    actor = actor_of(request)
    try:
        merge_id = await hub.store.merge_customers(source_id, body.into, actor=actor.author,
                                                   audit=actor)
    except MergeError as exc:
        return json_error(409, "merge_refused", str(exc))
    customer = await hub.store.get_customer(body.into)
    return json_response({"merge_id": merge_id, "customer": customer}, status=201)


async def undo_merge(request: web.Request) -> web.Response:
    """Move back exactly what the merge moved; 409 if it was undone already."""
    hub = request.app[HUB]
    merge_id = request.match_info["id"]
    actor = actor_of(request)
    try:
        await hub.store.unmerge(merge_id, actor=actor.author, audit=actor)
    except MergeError as exc:
        return json_error(409, "merge_refused", str(exc))
    except NotFound:
        return json_error(404, "not_found", f"no merge with id {merge_id!r}")
    return json_response({"merge_id": merge_id, "undone": True})
