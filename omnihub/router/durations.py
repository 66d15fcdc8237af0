"""Durations as operators write them (`30s`, `2m`, `4h`, `2d`, `1h30m`), parsed strictly."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?\s*[smhdw]\s*)+")


class DurationError(ValueError):
    """A duration string that does not follow the `<number><unit>` form."""


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Turn `"1h30m"` into a timedelta; bare numbers are rejected because units matter."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise DurationError(
            f"a duration needs a unit, e.g. '30s', '2m', '4h', '2d' (got {value!r})"
        )
    text = value.strip().lower()
    if not text or not _WHOLE.fullmatch(text):
        raise DurationError(
            f"invalid duration {value!r}: use a number and a unit s, m, h, d or w, "
            "e.g. '30s', '2m', '4h', '2d', '1h30m'"
        )
    seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
    if seconds <= 0:
        raise DurationError(f"a duration must be longer than zero (got {value!r})")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Render a timedelta back in the compact form used in routing.yaml."""
    remaining = int(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _validate(value: Any) -> timedelta:
    return parse_duration(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_validate),
    PlainSerializer(format_duration, return_type=str),
]
