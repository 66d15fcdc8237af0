"""Whether the web chat's team is open right now, as the widget shows it. Pure.

"The team" is the group a web chat conversation is routed to by default: routing.yaml's
rules run on an empty message from this channel (so a rule like `channel: webchat ->
group: presales` counts), and that group's calendar decides; with no group it is the
default calendar, and without routing.yaml the chat is always open. Closed, the widget
shows the off_hours auto_reply (its `{opens_at}` filled in) and a leave-a-message form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from omnihub.router.calendar import CalendarClosedError, next_opening
from omnihub.router.decision import RouteInput
from omnihub.router.engine import OPENS_AT, CompiledRouter

__all__ = ["DEFAULT_NOTICE", "ChatHours", "chat_hours"]

DEFAULT_NOTICE = "We're away right now and back at {opens_at}. Leave us a message and we'll get back to you."


@dataclass(frozen=True, slots=True)
class ChatHours:
    """Open or closed; when closed, the next opening and the notice to show."""

    open: bool
    opens_at: datetime | None = None
    notice: str | None = None

    def to_frame(self) -> dict[str, Any]:
        """The `hours` object of the welcome frame."""
        return {"open": self.open,
                "opens_at": None if self.opens_at is None else self.opens_at.isoformat(),
                "notice": self.notice}


ALWAYS_OPEN = ChatHours(open=True)


def chat_hours(router: CompiledRouter | None, channel_id: str, now: datetime) -> ChatHours:
    """The web chat channel's hours at `now` under the routing version in force."""
    if router is None:
        return ALWAYS_OPEN
    decision = router.route(RouteInput(channel_type="webchat", channel_id=channel_id, text=""),
                            now=now)
    if not decision.off_hours:
        return ALWAYS_OPEN
    calendar = router.calendar_for(decision.group)
    try:
        opens: datetime | None = next_opening(calendar, now)
    except CalendarClosedError:
        opens = None
    local = "" if opens is None else \
        opens.astimezone(calendar.zone or UTC).strftime("%Y-%m-%d %H:%M")
    template = router.config.off_hours.auto_reply or DEFAULT_NOTICE
    if opens is None:
        template = template.replace(OPENS_AT, "a later date")
    return ChatHours(open=False, opens_at=opens, notice=template.replace(OPENS_AT, local))
