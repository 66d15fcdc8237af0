"""`GET /api/v1/stats`: the backlog now and a time range's response times, SLA and CSAT.

What each number means is documented in omnihub/store/stats.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from omnihub.hub.http import json_response
from omnihub.hub.runtime import HUB
from omnihub.inbox.params import InvalidInput, in_utc
from omnihub.store.stats import StatsQuery, inbox_stats
from omnihub.store.routing_stats import compare_versions, with_versions

DEFAULT_RANGE = timedelta(days=7)
MAX_RANGE = timedelta(days=366)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/stats", get_stats)


def _time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(name, "must be an ISO 8601 time, e.g. 2026-11-01T00:00:00Z") from None
    if value.tzinfo is None:
        raise InvalidInput(name, "must carry a UTC offset, e.g. Z or +08:00")
    try:
        return in_utc(value)
    except ValueError as exc:
        raise InvalidInput(name, str(exc)) from None


def _name(request: web.Request, name: str) -> str | None:
    raw = request.query.get(name)
    if raw is not None and not 1 <= len(raw) <= 80:
        raise InvalidInput(name, "must be 1 to 80 characters")
    return raw


async def get_stats(request: web.Request) -> web.Response:
    """`from`/`to` (default: the last 7 days, at most 366), `group` and `agent` narrow it."""
    end = _time(request, "to") or datetime.now(UTC)
    start = _time(request, "from") or end - DEFAULT_RANGE
    if start >= end:
        raise InvalidInput("from", "must be before `to`")
    if end - start > MAX_RANGE:
        raise InvalidInput("from", "the range may span at most 366 days")
    query = StatsQuery(start, end, group=_name(request, "group"), agent=_name(request, "agent"))
    hub = request.app[HUB]
    stats = await inbox_stats(hub.db, query)
    labels = {}  # which version is which, for the staged rollout's comparison
    if hub.routing.current.sha256 is not None:
        labels[hub.routing.current.sha256] = "stable"
    canary = None if hub.canary is None else hub.canary.current
    if canary is not None and canary.version.sha256 is not None:
        labels[canary.version.sha256] = "canary"
    versions = await compare_versions(hub.db, query, labels, now=stats.now)
    return json_response(with_versions(stats, versions))
