"""Rule conditions compiled to small checks: each says why it failed, or None when it holds."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omnihub.router.calendar import BusinessCalendar, is_open
from omnihub.router.decision import RouteInput
from omnihub.router.textindex import fold

_COMPARISON = re.compile(r"(>=|<=|!=|==|>|<)\s*(.+)")
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
    "==": operator.eq, "!=": operator.ne,
}


class Context:
    """Per-message facts computed once and shared by every rule's checks."""

    __slots__ = ("message", "now", "hits", "_tags", "_open")

    def __init__(self, message: RouteInput, now: datetime, hits: set[int]) -> None:
        self.message = message
        self.now = now
        self.hits = hits
        self._tags: frozenset[str] | None = None
        self._open: dict[str, bool] = {}

    @property
    def tags(self) -> frozenset[str]:
        """The customer's tags, folded; computed for the first rule that asks."""
        if self._tags is None:
            self._tags = frozenset(fold(t) for t in self.message.customer_tags)
        return self._tags

    def is_open(self, calendar: BusinessCalendar) -> bool:
        if calendar.name not in self._open:
            self._open[calendar.name] = is_open(calendar, self.now)
        return self._open[calendar.name]


Check = Callable[[Context], "str | None"]


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled condition: `test` gives the reason it fails (None: it holds); `holds` says
    in words what held, for explain."""

    test: Check
    holds: Callable[[Context], str]


def _static(text: str) -> Callable[[Context], str]:
    return lambda ctx: text


def _listing(values: Any) -> str:
    return ", ".join(str(v) for v in values)


def channel_condition(types: list[str]) -> Condition:
    allowed = frozenset(types)
    return Condition(lambda ctx: None if ctx.message.channel_type in allowed else (
        f"channel {ctx.message.channel_type} is not {_listing(types)}"),
        lambda ctx: f"channel is {ctx.message.channel_type}")


def channel_id_condition(ids: list[str]) -> Condition:
    allowed = frozenset(ids)
    return Condition(lambda ctx: None if ctx.message.channel_id in allowed else (
        f"channel id {ctx.message.channel_id} is not {_listing(ids)}"),
        lambda ctx: f"channel id is {ctx.message.channel_id}")


def kind_condition(kinds: list[str]) -> Condition:
    wanted = frozenset(kinds)
    return Condition(lambda ctx: None if ctx.message.kinds & wanted else (
        f"message kinds {_listing(sorted(ctx.message.kinds)) or 'none'} include none of {_listing(kinds)}"),
        lambda ctx: f"message has {_listing(sorted(ctx.message.kinds & wanted))}")


def _language_matches(actual: str, wanted: str) -> bool:
    """`zh` matches `zh`, `zh-CN` and `zh_Hans`; `zh-TW` matches only itself."""
    actual, wanted = actual.lower().replace("_", "-"), wanted.lower().replace("_", "-")
    return actual == wanted or ("-" not in wanted and actual.split("-")[0] == wanted)


def language_condition(languages: list[str]) -> Condition:
    def check(ctx: Context) -> str | None:
        actual = ctx.message.language
        if actual and any(_language_matches(actual, w) for w in languages):
            return None
        return f"language {actual or 'unknown'} is not {_listing(languages)}"
    return Condition(check, lambda ctx: f"language is {ctx.message.language}")


def tags_condition(any_of: list[str], all_of: list[str], none_of: list[str]) -> Condition:
    any_set, all_set, none_set = (frozenset(fold(t) for t in tags) for tags in (any_of, all_of, none_of))

    def check(ctx: Context) -> str | None:
        if any_set and not ctx.tags & any_set:
            return f"customer has none of the tags {_listing(any_of)}"
        if all_set and not all_set <= ctx.tags:
            missing = [t for t in all_of if fold(t) not in ctx.tags]
            return f"customer lacks the tags {_listing(missing)}"
        if none_set and ctx.tags & none_set:
            return f"customer has an excluded tag ({_listing(sorted(ctx.tags & none_set))})"
        return None
    def holds(ctx: Context) -> str:
        found = sorted(ctx.tags & (any_set | all_set))
        return f"customer tagged {_listing(found)}" if found else "customer has no excluded tag"
    return Condition(check, holds)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected or (isinstance(actual, str) and actual.lower() == str(expected).lower())
    if isinstance(expected, str) and isinstance(actual, str):
        return fold(actual) == fold(expected)
    left, right = _number(actual), _number(expected)
    if left is not None and right is not None:
        return left == right
    return bool(actual == expected)


def attribute_predicate(spec: Any) -> Callable[[Any], bool]:
    """`true`, `gold`, `[gold, platinum]`, `">= 3"`: the test for one attribute's value."""
    if isinstance(spec, list):
        options = [attribute_predicate(item) for item in spec]
        return lambda actual: any(option(actual) for option in options)
    if isinstance(spec, dict):
        raise ValueError("an attribute condition is a value, a list of values or a comparison like '>= 3'")
    if isinstance(spec, str) and (match := _COMPARISON.fullmatch(spec.strip())):
        symbol, operand = match[1], match[2].strip()
        compare, bound = _OPERATORS[symbol], _number(operand)
        if bound is None:
            if symbol not in ("==", "!="):
                raise ValueError(f"comparison {spec!r} needs a number after {symbol}")
            return lambda actual: _equal(actual, operand) is (symbol == "==")

        def numeric(actual: Any) -> bool:
            value = _number(actual)
            return value is not None and compare(value, bound)
        return numeric
    return lambda actual: _equal(actual, spec)


def attributes_condition(specs: Mapping[str, Any]) -> Condition:
    predicates = [(key, spec, attribute_predicate(spec)) for key, spec in specs.items()]

    def check(ctx: Context) -> str | None:
        attributes = ctx.message.customer_attributes
        for key, spec, predicate in predicates:
            if key not in attributes:
                return f"customer attribute {key} is not set"
            if not predicate(attributes[key]):
                return f"customer attribute {key}={attributes[key]!r} does not satisfy {spec!r}"
        return None

    def holds(ctx: Context) -> str:
        values = ctx.message.customer_attributes
        return "customer " + ", ".join(f"{key}={values[key]!r}" for key, _, _ in predicates)
    return Condition(check, holds)


def hours_condition(wanted: str, calendar: BusinessCalendar) -> Condition:
    want_open = wanted == "inside"

    def check(ctx: Context) -> str | None:
        if ctx.is_open(calendar) is want_open:
            return None
        state = "open" if not want_open else "closed"
        return f"calendar {calendar.name} is {state} at {ctx.now.isoformat()}"
    return Condition(check, _static(f"{wanted} hours of calendar {calendar.name}"))


def keywords_condition(any_ids: dict[int, str], all_ids: dict[int, str]) -> Condition:
    """Keyword conditions, answered from the literal hits of the whole message."""
    def check(ctx: Context) -> str | None:
        if any_ids and not any(i in ctx.hits for i in any_ids):
            return f"text contains none of {_listing(any_ids.values())}"
        missing = [word for i, word in all_ids.items() if i not in ctx.hits]
        if missing:
            return f"text lacks {_listing(missing)}"
        return None

    def holds(ctx: Context) -> str:
        words = {**any_ids, **all_ids}
        return "text contains " + _listing(w for i, w in words.items() if i in ctx.hits)
    return Condition(check, holds)


def regex_condition(patterns: list[tuple[str, re.Pattern[str]]]) -> Condition:
    def check(ctx: Context) -> str | None:
        for _, compiled in patterns:
            if compiled.search(ctx.message.text):
                return None
        return f"text matches no pattern of {_listing(p for p, _ in patterns)}"

    def holds(ctx: Context) -> str:
        for pattern, compiled in patterns:
            if found := compiled.search(ctx.message.text):
                return f"text matches {pattern} ({found[0]!r})"
        return "text matches"  # pragma: no cover - only called after the test passed
    return Condition(check, holds)
