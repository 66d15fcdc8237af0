"""The knowledge base over the agent API: agents read and search it; supervisors and
admins edit it, import and export it, and review what the bot learned from agents.

Routes are under /api/v1/kb/; their permissions are `kb.read` and `kb.manage` in
omnihub/inbox/permissions.py.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from omnihub.hub.http import json_response
from omnihub.hub.runtime import HUB
from omnihub.inbox.context import actor_of
from omnihub.inbox.params import InvalidInput, json_body, query_choice, query_limit
from omnihub.kb import learning
from omnihub.kb import store as kb_store
from omnihub.kb.io import KbFileError, dump_entries, import_entries
from omnihub.kb.learning import Acceptance
from omnihub.kb.models import Entry, EntryChange, EntryIn, ScoredEntry
from omnihub.kb.search import search_entries

__all__ = ["Acceptance", "Entry", "EntryChange", "EntryIn", "ImportBody", "ImportResult",
           "SearchResult", "setup"]

FORMATS = ("yaml", "csv")
_LANG = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$"


class ImportBody(BaseModel):
    """A knowledge-base file's text (as `omnihub kb export` writes it) and its format."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["yaml", "csv"]
    content: Annotated[str, StringConstraints(min_length=1, max_length=5_000_000)]


class ImportResult(BaseModel):
    created: int
    updated: int
    unchanged: int


class SearchResult(BaseModel):
    items: list[ScoredEntry] = Field(description="best first")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/kb/entries", list_entries)
    r.add_post("/api/v1/kb/entries", create_entry)
    r.add_get("/api/v1/kb/entries/{id}", get_entry)
    r.add_patch("/api/v1/kb/entries/{id}", update_entry)
    r.add_delete("/api/v1/kb/entries/{id}", delete_entry)
    r.add_get("/api/v1/kb/entries/{id}/versions", versions)
    r.add_get("/api/v1/kb/search", search)
    r.add_post("/api/v1/kb/import", import_file)
    r.add_get("/api/v1/kb/export", export_file)
    r.add_get("/api/v1/kb/suggestions", list_suggestions)
    r.add_post("/api/v1/kb/suggestions/{id}/accept", accept)
    r.add_post("/api/v1/kb/suggestions/{id}/reject", reject)


def _language(request: web.Request) -> str | None:
    value = request.query.get("language")
    if value is not None and not re.match(_LANG, value):
        raise InvalidInput("language", "must be a language code such as zh or en")
    return value


def _id(request: web.Request) -> str:
    value = request.match_info["id"]
    if len(value) > 64:
        raise InvalidInput("id", "is too long")
    return value


async def list_entries(request: web.Request) -> web.Response:
    """`?tag=`, `?language=`, `?limit=`, `?cursor=` (the last id of the previous page)."""
    limit = query_limit(request, default=100, maximum=500)
    cursor = request.query.get("cursor")
    if cursor is not None and not 1 <= len(cursor) <= 26:
        raise InvalidInput("cursor", "must be an entry id")
    tag = request.query.get("tag")
    if tag is not None and not 1 <= len(tag) <= 64:
        raise InvalidInput("tag", "must be 1 to 64 characters")
    items = await kb_store.list_entries(request.app[HUB].db, tag=tag,
                                        language=_language(request), limit=limit + 1,
                                        after=cursor)
    more = len(items) > limit
    items = items[:limit]
    return json_response({"items": items, "next_cursor": items[-1].id if more else None})


async def create_entry(request: web.Request) -> web.Response:
    body = await json_body(request, EntryIn)
    entry = await kb_store.create_entry(request.app[HUB].db, body, actor=actor_of(request))
    return json_response(entry, status=201)


async def get_entry(request: web.Request) -> web.Response:
    return json_response(await kb_store.get_entry(request.app[HUB].db, _id(request)))


async def update_entry(request: web.Request) -> web.Response:
    body = await json_body(request, EntryChange)
    if not body.model_fields_set:
        raise InvalidInput("(body)", "give at least one field to change")
    for name in ("question", "answer", "paraphrases", "tags", "variants", "links"):
        if name in body.model_fields_set and getattr(body, name) is None:
            raise InvalidInput(name, "can't be null")
    entry = await kb_store.update_entry(request.app[HUB].db, _id(request), body,
                                        actor=actor_of(request))
    return json_response(entry)


async def delete_entry(request: web.Request) -> web.Response:
    await kb_store.delete_entry(request.app[HUB].db, _id(request), actor=actor_of(request))
    return web.Response(status=204)


async def versions(request: web.Request) -> web.Response:
    items = await kb_store.entry_versions(request.app[HUB].db, _id(request))
    return json_response({"items": items})


async def search(request: web.Request) -> web.Response:
    """`?q=` a few words or the customer's question; `?language=`, `?channel=`, `?limit=`."""
    query = request.query.get("q", "").strip()
    if not 1 <= len(query) <= 1000:
        raise InvalidInput("q", "give 1 to 1000 characters to search for")
    channel = request.query.get("channel")
    if channel is not None and not 1 <= len(channel) <= 64:
        raise InvalidInput("channel", "must be 1 to 64 characters")
    limit = query_limit(request, default=5, maximum=20)
    hits = await search_entries(request.app[HUB].db, query, language=_language(request),
                                channel=channel, limit=limit)
    return json_response(SearchResult(items=hits))


async def import_file(request: web.Request) -> web.Response:
    body = await json_body(request, ImportBody)
    try:
        report = await import_entries(request.app[HUB].db, body.content, body.format,
                                      actor=actor_of(request))
    except KbFileError as exc:
        raise InvalidInput("content", str(exc)) from None
    return json_response(ImportResult(**report.as_dict()))


async def export_file(request: web.Request) -> web.Response:
    """`?format=yaml` (default) or `csv`: every entry, in the body that import takes."""
    fmt = query_choice(request, "format", FORMATS) or "yaml"
    entries = await kb_store.list_entries(request.app[HUB].db)
    return json_response(ImportBody(format=fmt, content=dump_entries(entries, fmt)))  # type: ignore[arg-type]


async def list_suggestions(request: web.Request) -> web.Response:
    """`?min_support=` (default 2): clusters of at least that many handed-over questions."""
    raw = request.query.get("min_support", "2")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise InvalidInput("min_support", "must be an integer from 1 to 1000")
    items = await learning.suggestions(request.app[HUB].db, min_support=int(raw))
    return json_response({"items": items})


async def accept(request: web.Request) -> web.Response:
    body = await json_body(request, learning.Acceptance) if await request.read() \
        else learning.Acceptance()
    entry = await learning.accept_suggestion(request.app[HUB].db, _id(request), body,
                                             actor=actor_of(request))
    return json_response(entry)


async def reject(request: web.Request) -> web.Response:
    await learning.reject_suggestion(request.app[HUB].db, _id(request))
    return web.Response(status=204)
