"""Business-time arithmetic: when a team is open, and deadlines counted in open time only.

Every function is pure and takes aware datetimes; results are aware UTC datetimes. Open
hours are wall-clock times in the calendar's own zone (zoneinfo), so a 09:00-18:00 day
is 9 real hours even on a daylight-saving day, and a 00:00-24:00 day on the last Sunday
of March in Berlin is 23. A shift that runs past midnight ("22:00-06:00") belongs to the
day it starts on: a holiday closes the shifts that start on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from omnihub.router.config import CalendarConfig

_ONE_DAY = timedelta(days=1)
# A calendar closed for longer than this from a given moment is treated as never open.
MAX_CLOSED_DAYS = 3700


class CalendarClosedError(ValueError):
    """The calendar has no opening within MAX_CLOSED_DAYS of the moment asked about."""


@dataclass(frozen=True)
class BusinessCalendar:
    """Compiled business hours: weekly ranges in minutes plus holiday dates, in one zone.

    `zone=None` is the always-open calendar used by groups that name no calendar.
    """

    name: str
    zone: ZoneInfo | None
    weekly: tuple[tuple[tuple[int, int], ...], ...] = ((),) * 7
    holidays: frozenset[date] = field(default_factory=frozenset)

    @property
    def always_open(self) -> bool:
        return self.zone is None

    @classmethod
    def from_config(cls, name: str, config: CalendarConfig, default_zone: str) -> BusinessCalendar:
        """Compile a calendar section; an end before the start runs into the next day."""
        weekly = tuple(
            tuple(sorted((s, e if e > s else e + 1440) for s, e in config.hours.for_weekday(day)))
            for day in range(7)
        )
        holidays = frozenset(
            h.start + timedelta(days=i)
            for h in config.holidays
            for i in range((h.end - h.start).days + 1)
        )
        return cls(name, ZoneInfo(config.timezone or default_zone), weekly, holidays)

    def never_open(self) -> bool:
        """True when no weekday has any hours (holidays aside)."""
        return not self.always_open and not any(self.weekly)


ALWAYS_OPEN = BusinessCalendar(name="24/7", zone=None)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"an aware datetime is needed, got naive {at.isoformat()}")
    return at.astimezone(UTC)


def _wall(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock minute; minute may exceed 1440 (the next day)."""
    extra_days, minute = divmod(minute, 1440)
    local = datetime.combine(day + timedelta(days=extra_days), time(minute // 60, minute % 60))
    return local.replace(tzinfo=zone).astimezone(UTC)


@lru_cache(maxsize=8192)
def _shifts_starting(calendar: BusinessCalendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    """Open intervals (UTC) of the shifts that start on a local date."""
    if day in calendar.holidays:
        return ()
    assert calendar.zone is not None
    return tuple(
        (_wall(day, start, calendar.zone), _wall(day, end, calendar.zone))
        for start, end in calendar.weekly[day.weekday()]
    )


def open_intervals(calendar: BusinessCalendar, at: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Disjoint open intervals in time order, from the one containing or following `at`."""
    at = _utc(at)
    if calendar.always_open:
        yield at, datetime.max.replace(tzinfo=UTC)
        return
    assert calendar.zone is not None
    day = at.astimezone(calendar.zone).date() - _ONE_DAY  # its late shift may cover `at`
    covered_until = at
    closed_days = 0
    while closed_days <= MAX_CLOSED_DAYS:
        found = False
        for start, end in _shifts_starting(calendar, day):
            start = max(start, covered_until)
            if end > start:
                found = True
                covered_until = end
                yield start, end
        closed_days = 0 if found else closed_days + 1
        day += _ONE_DAY
    raise CalendarClosedError(
        f"calendar {calendar.name!r} has no opening in the {MAX_CLOSED_DAYS} days after {at.isoformat()}"
    )


def is_open(calendar: BusinessCalendar, at: datetime) -> bool:
    """Whether the calendar is open at this instant (opening time included, closing excluded)."""
    if calendar.always_open:
        return True
    start, _ = next(open_intervals(calendar, at))
    return start <= _utc(at)


def next_opening(calendar: BusinessCalendar, at: datetime) -> datetime:
    """The first instant at or after `at` when the calendar is open."""
    start, _ = next(open_intervals(calendar, at))
    return start


def next_closing(calendar: BusinessCalendar, at: datetime) -> datetime | None:
    """When the current (or next) open interval ends; None for the always-open calendar."""
    if calendar.always_open:
        return None
    _, end = next(open_intervals(calendar, at))
    return end


def add_business_time(calendar: BusinessCalendar, start: datetime, duration: timedelta) -> datetime:
    """The instant when `duration` of open time has passed since `start` (a due time)."""
    if duration < timedelta(0):
        raise ValueError("duration must not be negative")
    if calendar.always_open:
        return _utc(start) + duration
    remaining = duration
    for opens, closes in open_intervals(calendar, start):
        if opens + remaining <= closes:
            return opens + remaining
        remaining -= closes - opens
    raise AssertionError("open_intervals ends only by raising")  # pragma: no cover


def business_seconds_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Open seconds between two instants; negative when `end` is before `start`."""
    start, end = _utc(start), _utc(end)
    if end < start:
        return -business_seconds_between(calendar, end, start)
    if calendar.always_open:
        return (end - start).total_seconds()
    total = 0.0
    for opens, closes in open_intervals(calendar, start):
        if opens >= end:
            break
        total += (min(closes, end) - opens).total_seconds()
    return total
