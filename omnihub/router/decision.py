"""The router's input and output as plain data, so the store and the API can keep them as is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class RouteInput:
    """What the router looks at in an inbound message, built by the caller from the schema."""

    channel_type: str
    text: str = ""
    channel_id: str | None = None
    kinds: frozenset[str] = frozenset({"text"})
    customer_tags: frozenset[str] = frozenset()
    customer_attributes: Mapping[str, Any] = field(default_factory=dict)
    language: str | None = None


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """One line of `route --explain`: a rule, whether it matched, and why."""

    index: int
    name: str
    matched: bool
    reason: str


@dataclass(slots=True)
class Decision:
    """Where a conversation goes and by when it must be answered (treat it as read-only;
    it is not frozen only because frozen dataclasses are 5x slower to build).

    `hold_until` is set when the message arrived off hours and is kept as a left message:
    it waits in the queue until the group's next opening. Due times are counted in the
    group's business time (or wall-clock time when off_hours.pause_clock is false);
    `next_response_due` is the deadline for a message that continues a conversation.
    """

    category: str | None
    group: str | None
    priority: int
    tags: tuple[str, ...]
    auto_reply: str | None
    off_hours: bool
    hold_until: datetime | None
    calendar: str
    first_response_due: datetime | None
    next_response_due: datetime | None
    resolution_due: datetime | None
    matched_rules: tuple[int, ...]
    trace: tuple[RuleTrace, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (datetimes as ISO 8601 strings) for the API and the log."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        return data
