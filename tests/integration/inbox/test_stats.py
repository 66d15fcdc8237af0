"""GET /api/v1/stats over a hand-made set of conversations with known timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from omnihub.store.stats import percentile
from omnihub.store.tables import conversations

from .conftest import Desk, open_desk

H = timedelta(hours=1)
S = timedelta(seconds=1)


def _spec(now: datetime) -> dict[str, dict[str, Any]]:
    """Seven conversations; every column the numbers depend on is set explicitly."""
    return {
        # open, assigned, first-response deadline passed unanswered: overdue, SLA missed
        "A": dict(skill_group="sales", assignee="ann", status="open", created_at=now - 2 * H,
                  first_response_due=now - H),
        # answered in 60 s, before its deadline
        "B": dict(skill_group="sales", assignee=None, status="open", created_at=now - 3 * H,
                  first_response_at=now - 3 * H + 60 * S, first_response_due=now - 2 * H),
        # answered in 120 s, after its 100 s deadline
        "C": dict(skill_group="support", assignee="bob", status="pending",
                  created_at=now - 5 * H, first_response_at=now - 5 * H + 120 * S,
                  first_response_due=now - 5 * H + 100 * S),
        # answered in 300 s (deadline 600 s), resolved after 1800 s, then closed, rated 5
        "D": dict(skill_group="support", assignee="bob", status="closed",
                  created_at=now - 24 * H, first_response_at=now - 24 * H + 300 * S,
                  first_response_due=now - 24 * H + 600 * S,
                  resolved_at=now - 24 * H + 1800 * S, closed_at=now - 24 * H + 3600 * S,
                  csat=5),
        # answered in 30 s, closed without resolving after 7200 s, rated 3
        "E": dict(skill_group="sales", assignee="ann", status="closed", created_at=now - 48 * H,
                  first_response_at=now - 48 * H + 30 * S, closed_at=now - 48 * H + 7200 * S,
                  csat=3),
        # a month old and still open: in the backlog, outside the default range
        "F": dict(skill_group="sales", assignee="ann", status="open", created_at=now - 720 * H,
                  first_response_at=now - 720 * H + 5 * S, csat=1),
        # just arrived, deadline ahead: SLA not counted yet
        "G": dict(skill_group=None, assignee=None, status="open", created_at=now - 600 * S,
                  first_response_due=now + H),
    }


async def _seed(desk: Desk) -> dict[str, str]:
    now = datetime.now(UTC)
    ids = {"G": desk.conversation_id}
    for name in "ABCDEF":
        ids[name] = await desk.new_conversation(f"m-{name}", f"c-{name}")
    blank = dict(first_response_at=None, first_response_due=None, next_response_due=None,
                 resolution_due=None, waiting_since=None, resolved_at=None, closed_at=None,
                 csat=None)
    async with desk.hub.hub.db.write() as conn:
        for name, values in _spec(now).items():
            if values["status"] == "closed":
                values = {**values, "open_key": None}
            await conn.execute(sa.update(conversations).where(
                conversations.c.id == ids[name]).values(**{**blank, **values}))
    return ids


def _backlog(unresolved: int, open: int, unassigned: int, overdue: int) -> dict[str, int]:
    return {"unresolved": unresolved, "open": open, "unassigned": unassigned, "overdue": overdue}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mysql"])
async def test_stats_of_a_known_set(make_store_url, make_hub, backend: str) -> None:  # type: ignore[no-untyped-def]
    desk = await open_desk(await make_hub(await make_store_url(backend)))
    await _seed(desk)
    stats = await desk.ok("GET", "/api/v1/stats", "supervisor")
    assert stats["backlog"] == _backlog(5, 4, 2, 1)
    assert stats["backlog_by_group"] == [
        {"group": "sales", **_backlog(3, 3, 1, 1)}, {"group": "support", **_backlog(1, 0, 0, 0)},
        {"group": None, **_backlog(1, 1, 1, 0)}]
    assert stats["backlog_by_agent"] == [
        {"agent": "ann", **_backlog(2, 2, 0, 1)}, {"agent": "bob", **_backlog(1, 0, 0, 0)},
        {"agent": None, **_backlog(2, 2, 2, 0)}]
    assert stats["conversations"] == 6
    # first responses 30, 60, 120, 300 s; resolutions 1800 and 7200 s
    assert stats["first_response"] == pytest.approx(
        {"count": 4, "median_seconds": 90.0, "p90_seconds": 246.0}, abs=0.01)
    assert stats["resolution"] == pytest.approx(
        {"count": 2, "median_seconds": 4500.0, "p90_seconds": 6660.0}, abs=0.01)
    assert stats["first_response_sla"] == {"met": 2, "missed": 2, "hit_rate": 0.5}
    assert stats["csat"] == {"count": 2, "average": 4.0}


async def test_stats_narrowed_by_group_agent_and_range(desk: Desk) -> None:
    await _seed(desk)
    sales = await desk.ok("GET", "/api/v1/stats", "admin", params={"group": "sales"})
    assert sales["conversations"] == 3 and sales["backlog"] == _backlog(3, 3, 1, 1)
    assert sales["csat"] == {"count": 1, "average": 3.0}
    ann = await desk.ok("GET", "/api/v1/stats", "supervisor", params={"agent": "ann"})
    assert ann["conversations"] == 2 and ann["backlog"] == _backlog(2, 2, 0, 1)
    now = datetime.now(UTC)
    month = await desk.ok("GET", "/api/v1/stats", "supervisor", params={
        "from": (now - 31 * 24 * H).isoformat(), "to": (now - 29 * 24 * H).isoformat()})
    assert month["conversations"] == 1 and month["csat"] == {"count": 1, "average": 1.0}
    assert month["first_response"]["median_seconds"] == pytest.approx(5.0)
    assert month["backlog"] == _backlog(5, 4, 2, 1)  # the backlog is always "now"


async def test_stats_access_and_bad_input(desk: Desk) -> None:
    for role in ("agent", "senior"):
        assert (await desk.call("GET", "/api/v1/stats", role)).status == 403
    for params, field in (({"from": "yesterday"}, "from"), ({"to": "2026-01-01T00:00:00"}, "to"),
                          ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
                          ({"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
                          ({"group": "x" * 81}, "group")):
        resp = await desk.call("GET", "/api/v1/stats", "supervisor", params=params)
        assert resp.status == 422, params
        assert (await resp.json())["error"]["field"] == field
    empty = await desk.ok("GET", "/api/v1/stats", "supervisor", params={
        "from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"})
    assert empty["conversations"] == 0 and empty["first_response"]["median_seconds"] is None
    assert empty["first_response_sla"]["hit_rate"] is None and empty["csat"]["average"] is None


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([10.0, 20.0], 0.9) == pytest.approx(19.0)
