"""The routing.yaml models: strict (unknown keys are errors) so that typos never pass silently.

The models only check shape and single values; references between sections (a rule
naming a group, a group naming an agent …) are checked in `checks.py`, and
`load.load_routing` runs both and reports every problem at its line.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from omnihub.router.durations import Duration

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MESSAGE_KINDS: tuple[str, ...] = (
    "text", "image", "audio", "video", "file", "location", "contact", "call",
)
SLA_METRICS: tuple[str, ...] = ("first_response", "next_response", "resolution")

Strategy = Literal["round_robin", "least_busy", "sticky", "manual"]
Role = Literal["agent", "senior", "supervisor"]
Metric = Literal["first_response", "next_response", "resolution"]
MessageKind = Literal["text", "image", "audio", "video", "file", "location", "contact", "call"]


class Model(BaseModel):
    """Base for routing models: unknown keys are errors, values are frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_list(value: Any) -> Any:
    """Let operators write `channel: sms` as well as `channel: [sms, email]`."""
    if value is None:
        return []
    return [value] if isinstance(value, (str, int, float, bool, date)) else value


def _check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name like 'Asia/Shanghai')")
    return name


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


TimeZoneName = Annotated[str, AfterValidator(_check_zone)]
NonBlank = Annotated[str, AfterValidator(_non_blank)]
OneOrMany = Annotated[list[NonBlank], BeforeValidator(_as_list)]

# ---------------------------------------------------------------- calendars

_CLOCK = re.compile(r"([01]?\d|2[0-4]):([0-5]\d)")


def _minutes(text: str, whole: str) -> int:
    match = _CLOCK.fullmatch(text.strip())
    if not match or (int(match[1]) == 24 and match[2] != "00"):
        raise ValueError(f"invalid time {text.strip()!r} in {whole!r}: use HH:MM, 00:00 to 24:00")
    return int(match[1]) * 60 + int(match[2])


def _parse_range(value: Any) -> tuple[int, int]:
    """`"09:00-18:00"` -> (540, 1080); an end before the start runs past midnight."""
    if not isinstance(value, str) or value.count("-") != 1:
        raise ValueError(f"expected a time range like '09:00-18:00', got {value!r}")
    start_text, end_text = value.split("-")
    start, end = _minutes(start_text, value), _minutes(end_text, value)
    if start == end or start == 1440:
        raise ValueError(
            f"empty time range {value!r}; for a whole day write '00:00-24:00'"
        )
    if end == 0:
        end = 1440  # "22:00-00:00" means until midnight
    return start, end


TimeRange = Annotated[tuple[int, int], BeforeValidator(_parse_range)]
DayHours = Annotated[list[TimeRange], BeforeValidator(_as_list)]


class WeeklyHours(Model):
    """Opening hours per weekday; a day left out is closed."""

    mon: DayHours = []
    tue: DayHours = []
    wed: DayHours = []
    thu: DayHours = []
    fri: DayHours = []
    sat: DayHours = []
    sun: DayHours = []

    def for_weekday(self, weekday: int) -> list[tuple[int, int]]:
        """Ranges of a weekday number as `date.weekday()` counts them (Monday = 0)."""
        return getattr(self, WEEKDAYS[weekday])


class HolidayRange(Model):
    """Closed from `from` to `to`, both days included."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: date = Field(alias="from")
    end: date = Field(alias="to")
    name: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> HolidayRange:
        if self.end < self.start:
            raise ValueError(f"holiday range ends ({self.end}) before it starts ({self.start})")
        return self


def _parse_holiday(value: Any) -> Any:
    """Accept `2026-01-01`, `"2026-10-01..2026-10-07"` or a `{from, to, name}` mapping."""
    if isinstance(value, date):
        return {"from": value, "to": value}
    if isinstance(value, str):
        first, sep, last = value.partition("..")
        try:
            start = date.fromisoformat(first.strip())
            end = date.fromisoformat(last.strip()) if sep else start
        except ValueError:
            raise ValueError(
                f"invalid holiday {value!r}: use a date 2026-01-01 or a range "
                "2026-10-01..2026-10-07"
            ) from None
        return {"from": start, "to": end}
    if isinstance(value, dict) and "date" in value:
        rest = {k: v for k, v in value.items() if k != "date"}
        return {"from": value["date"], "to": value["date"], **rest}
    return value


Holiday = Annotated[HolidayRange, BeforeValidator(_parse_holiday)]


class CalendarConfig(Model):
    """Business hours of a team: weekly hours minus holidays, in one time zone."""

    timezone: TimeZoneName | None = None
    hours: WeeklyHours = WeeklyHours()
    holidays: list[Holiday] = []


# ---------------------------------------------------------------- channels, groups, agents


class ChannelConfig(Model):
    """How urgent a channel is and how fast it must be answered."""

    priority: int = 0
    first_response: Duration | None = None
    next_response: Duration | None = None
    resolution: Duration | None = None

    def target(self, metric: str) -> timedelta | None:
        """The target of one SLA metric (first_response, next_response, resolution)."""
        value: timedelta | None = getattr(self, metric)
        return value


class GroupConfig(Model):
    """A skill group: who works in it, when, and how work is handed out."""

    agents: list[NonBlank] = []
    skills: list[NonBlank] = []
    calendar: str | None = None
    strategy: Strategy = "round_robin"
    capacity: int = Field(default=5, ge=1)


class AgentConfig(Model):
    """One agent; `capacity` overrides the capacity of the agent's groups."""

    id: NonBlank
    name: str | None = None
    role: Role = "agent"
    skills: list[NonBlank] = []
    groups: list[NonBlank] = []
    capacity: int | None = Field(default=None, ge=1)


# ---------------------------------------------------------------- rules


class TextMatch(Model):
    """Keywords looked for anywhere in the text, ignoring case."""

    any: list[NonBlank] = []
    all: list[NonBlank] = []


def _text_shorthand(value: Any) -> Any:
    """`text: [退款, refund]` is short for `text: {any: [退款, refund]}`."""
    if isinstance(value, (str, list)):
        return {"any": _as_list(value)}
    return value


class TagMatch(Model):
    """Conditions on the customer's tags."""

    any: list[NonBlank] = []
    all: list[NonBlank] = []
    none: list[NonBlank] = []


def _tags_shorthand(value: Any) -> Any:
    """`tags: [vip, wholesale]` is short for `tags: {any: [vip, wholesale]}`."""
    if isinstance(value, (str, list)):
        return {"any": _as_list(value)}
    return value


class When(Model):
    """Conditions of a rule; all given conditions must hold, a missing one always holds."""

    channel: OneOrMany = []
    channel_id: OneOrMany = []
    text: Annotated[TextMatch | None, BeforeValidator(_text_shorthand)] = None
    regex: OneOrMany = []
    tags: Annotated[TagMatch | None, BeforeValidator(_tags_shorthand)] = None
    attributes: dict[str, Any] = {}
    hours: Literal["inside", "outside"] | None = None
    calendar: str | None = None
    kind: Annotated[list[MessageKind], BeforeValidator(_as_list)] = []
    language: OneOrMany = []

    def has_text_conditions(self) -> bool:
        return bool(self.text and (self.text.any or self.text.all)) or bool(self.regex)

    def is_empty(self) -> bool:
        """True for a catch-all: no condition at all (`calendar` alone tests nothing)."""
        return not any(getattr(self, name) for name in type(self).model_fields if name != "calendar")


_BUMP = re.compile(r"[+-]\s*\d+")


class PriorityChange(Model):
    """Either set the priority (`priority: 80`) or move it (`priority: "+2"`)."""

    value: int
    relative: bool

    def apply(self, current: int) -> int:
        return current + self.value if self.relative else self.value

    def __str__(self) -> str:
        return f"{self.value:+d}" if self.relative else str(self.value)


def _parse_priority(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("priority must be a number like 50 or a change like '+2'")
    if isinstance(value, int):
        return {"value": value, "relative": False}
    if isinstance(value, str):
        text = value.strip()
        if _BUMP.fullmatch(text):
            return {"value": int(text.replace(" ", "")), "relative": True}
        if text.isdigit():
            return {"value": int(text), "relative": False}
        raise ValueError(
            f"invalid priority {value!r}: use a number like 50, or '+2' / '-1' to change it"
        )
    return value


Priority = Annotated[PriorityChange, BeforeValidator(_parse_priority)]


class Then(Model):
    """What a matching rule does; `stop: false` lets later rules add to the decision."""

    category: NonBlank | None = None
    group: NonBlank | None = None
    priority: Priority | None = None
    tags: OneOrMany = []
    auto_reply: NonBlank | None = None
    stop: bool = True


class RuleConfig(Model):
    name: NonBlank | None = None
    when: When = When()
    then: Then = Then()


# ---------------------------------------------------------------- off hours, escalation


class OffHoursConfig(Model):
    """What happens when a message arrives while its group is closed."""

    auto_reply: NonBlank | None = None
    leave_message: bool = True
    pause_clock: bool = True


_THRESHOLD = re.compile(r"(?:(\d+(?:\.\d+)?)\s*x\s+)?([a-z_]+)")


class Threshold(Model):
    """`2x first_response`: fires when the first-response deadline is missed by twice its target."""

    metric: Metric
    multiplier: float = Field(default=1.0, ge=1.0)

    def __str__(self) -> str:
        factor = f"{self.multiplier:g}x " if self.multiplier != 1 else ""
        return f"{factor}{self.metric}"


def _parse_threshold(value: Any) -> Any:
    if isinstance(value, str):
        match = _THRESHOLD.fullmatch(value.strip().lower())
        if not match or match[2] not in SLA_METRICS:
            raise ValueError(
                f"invalid 'after' {value!r}: write a deadline ({', '.join(SLA_METRICS)}), "
                "optionally with a multiplier, e.g. 'first_response' or '2x first_response'"
            )
        return {"metric": match[2], "multiplier": float(match[1] or 1)}
    return value


NOTIFY_WORDS: tuple[str, ...] = ("assignee", "group")


def _check_notify(value: str) -> str:
    kind, sep, rest = value.partition(":")
    if value in NOTIFY_WORDS or (sep and kind in ("agent", "role") and rest):
        return value
    raise ValueError(
        f"invalid notify target {value!r}: use 'assignee', 'group', 'role:<role>' "
        "or 'agent:<id>'"
    )


class EscalationStep(Model):
    """One step of the escalation ladder, run once when its threshold passes."""

    name: NonBlank | None = None
    after: Annotated[Threshold, BeforeValidator(_parse_threshold)]
    groups: OneOrMany = []
    notify: Annotated[list[Annotated[str, AfterValidator(_check_notify)]], BeforeValidator(_as_list)] = []
    transfer_to: NonBlank | None = None
    priority: Priority | None = None


# ---------------------------------------------------------------- the file


class RoutingConfig(Model):
    """The whole routing.yaml."""

    timezone: TimeZoneName = "UTC"
    default_calendar: str | None = None
    calendars: dict[str, CalendarConfig] = {}
    channels: dict[str, ChannelConfig] = {}
    groups: dict[str, GroupConfig] = {}
    agents: list[AgentConfig] = []
    rules: list[RuleConfig] = []
    off_hours: OffHoursConfig = OffHoursConfig()
    escalation: list[EscalationStep] = []

    def rule_name(self, index: int) -> str:
        return self.rules[index].name or f"rule {index + 1}"

    def members(self, group: str) -> list[str]:
        """Agents of a group: listed under the group or naming it, in first-seen order."""
        listed = list(self.groups[group].agents) if group in self.groups else []
        listed += [a.id for a in self.agents if group in a.groups and a.id not in listed]
        return listed
