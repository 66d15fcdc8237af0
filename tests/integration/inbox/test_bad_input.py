"""Requests that once earned a 500: each is now a 422 that names the offending field."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Desk


async def _assert_rejected(desk: Desk, method: str, path: str, field: str, **kw: Any) -> None:
    resp = await desk.call(method, path, "admin", **kw)
    assert resp.status == 422, (resp.status, await resp.text())
    assert (await resp.json())["error"]["field"] == field


@pytest.mark.parametrize("field", ["priority", "tags"])
async def test_update_refuses_null_for_a_required_column(desk: Desk, field: str) -> None:
    path = f"/api/v1/conversations/{desk.conversation_id}"
    await _assert_rejected(desk, "PATCH", path, field, json={field: None})
    conversation = await desk.ok("GET", path, "admin")
    assert conversation["priority"] is not None and conversation["tags"] is not None


@pytest.mark.parametrize("priority", ["99999999999999999999999", "-1", "1001"])
async def test_listing_refuses_a_priority_out_of_range(desk: Desk, priority: str) -> None:
    await _assert_rejected(desk, "GET", "/api/v1/conversations", "priority",
                           params={"priority": priority})


@pytest.mark.parametrize("until", ["9999-12-31T23:59:59-14:00", "9500-01-01T00:00:00Z"])
async def test_snooze_refuses_a_time_beyond_the_storable_range(desk: Desk, until: str) -> None:
    path = f"/api/v1/conversations/{desk.conversation_id}"
    await _assert_rejected(desk, "POST", f"{path}/snooze", "until", json={"until": until})
    assert (await desk.ok("GET", path, "admin"))["status"] != "snoozed"


@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
async def test_stats_refuse_a_time_beyond_the_storable_range(desk: Desk, name: str, value: str) -> None:
    await _assert_rejected(desk, "GET", "/api/v1/stats", name, params={name: value})


@pytest.mark.parametrize("where", ["query", "header"])
async def test_events_refuse_a_resume_point_beyond_any_seq(desk: Desk, where: str) -> None:
    huge = "99999999999999999999999"
    if where == "query":
        resp = await desk.hub.http.get("/api/v1/events", params={"after": huge},
                                       headers=desk.auth["admin"])
    else:
        resp = await desk.hub.http.get("/api/v1/events",
                                       headers={**desk.auth["admin"], "Last-Event-ID": huge})
    assert resp.status == 422, (resp.status, resp.headers.get("Content-Type"))
    field = "after" if where == "query" else "Last-Event-ID"
    assert (await resp.json())["error"]["field"] == field
