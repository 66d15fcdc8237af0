"""Business-time arithmetic, table-driven from data/calendar_cases.yaml."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from omnihub.router import (
    ALWAYS_OPEN, BusinessCalendar, add_business_time, business_seconds_between, is_open,
    next_opening,
)
from omnihub.router.calendar import CalendarClosedError
from omnihub.router.config import CalendarConfig
from omnihub.router.durations import DurationError, format_duration, parse_duration

from .conftest import instant, load_cases

TABLE = load_cases("calendar_cases.yaml")
CALENDARS = {
    name: BusinessCalendar.from_config(name, CalendarConfig.model_validate(spec), "UTC")
    for name, spec in TABLE["calendars"].items()
}
CASES = TABLE["cases"]


def run(case: dict[str, Any]) -> Any:
    calendar, at = CALENDARS[case["calendar"]], instant(case["at"])
    if case["op"] == "is_open":
        return is_open(calendar, at)
    if case["op"] == "next_opening":
        return next_opening(calendar, at)
    if case["op"] == "add":
        return add_business_time(calendar, at, parse_duration(case["duration"]))
    return business_seconds_between(calendar, at, instant(case["until"]))


@pytest.mark.parametrize("case", CASES, ids=[f"{c['calendar']}-{c['op']}-{c['at']}" for c in CASES])
def test_calendar_case(case: dict[str, Any]) -> None:
    expected = case["expect"]
    if case["op"] in ("add", "next_opening"):
        expected = instant(expected)
    assert run(case) == expected


@pytest.fixture
def server_in_tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pretend the server's local zone is Asia/Tokyo: results must not change."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("case", CASES[:12], ids=lambda c: f"{c['calendar']}-{c['op']}")
def test_results_do_not_depend_on_the_server_zone(case: dict[str, Any], server_in_tokyo: None) -> None:
    expected = case["expect"]
    if case["op"] in ("add", "next_opening"):
        expected = instant(expected)
    assert run(case) == expected


def test_results_are_utc() -> None:
    due = add_business_time(CALENDARS["berlin-days"], instant("2026-03-27T16:00+01:00"), timedelta(hours=2))
    assert due.utcoffset() == timedelta(0)


def test_always_open_calendar_adds_wall_clock_time() -> None:
    at = instant("2026-03-29T01:30+01:00")
    assert is_open(ALWAYS_OPEN, at)
    assert add_business_time(ALWAYS_OPEN, at, timedelta(hours=2)) == at + timedelta(hours=2)
    assert business_seconds_between(ALWAYS_OPEN, at, at + timedelta(minutes=1)) == 60


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_open(CALENDARS["split"], datetime(2026, 3, 2, 10))


def test_a_calendar_closed_for_years_raises_instead_of_looping() -> None:
    config = CalendarConfig.model_validate({"hours": {"mon": "09:00-10:00"},
                                            "holidays": ["2026-01-01..2040-12-31"]})
    calendar = BusinessCalendar.from_config("closed", config, "UTC")
    with pytest.raises(CalendarClosedError, match="no opening"):
        next_opening(calendar, instant("2026-03-02T00:00+00:00"))


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("2m", 120), ("4h", 14400), ("2d", 172800), ("1h30m", 5400), ("1w", 604800),
    ("1.5h", 5400), (" 10 M ", 600),
])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("bad", ["", "10", "1x", "h", "0s", "-5m", "1h 30", 30, True])
def test_bad_durations_say_what_is_expected(bad: Any) -> None:
    with pytest.raises(DurationError, match="unit|duration"):
        parse_duration(bad)


def test_duration_round_trip() -> None:
    assert format_duration(parse_duration("1d2h3m4s")) == "1d2h3m4s"
