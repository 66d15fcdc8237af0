"""chat_hours: which calendar the web chat keeps, and the notice it shows when closed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from omnihub.connectors.webchat.hours import DEFAULT_NOTICE, chat_hours
from omnihub.connectors.webchat.protocol import LeaveMessage, ProtocolError, parse_client_frame
from omnihub.router.config import RoutingConfig
from omnihub.router.engine import CompiledRouter

WEEKDAYS = {day: "09:00-17:00" for day in ("mon", "tue", "wed", "thu", "fri")}
SATURDAY = datetime(2026, 3, 7, 11, 0, tzinfo=UTC)
MONDAY = datetime(2026, 3, 9, 9, 30, tzinfo=UTC)


def router(**over: Any) -> CompiledRouter:
    config = {
        "timezone": "Europe/Berlin",
        "calendars": {"office": {"hours": WEEKDAYS},
                      "late": {"hours": {d: "12:00-23:00" for d in ("sat", "sun")}}},
        "groups": {"web": {"agents": ["ann"], "calendar": "office"},
                   "weekend": {"agents": ["ann"], "calendar": "late"}},
        "agents": [{"id": "ann"}],
        "rules": [{"name": "web", "when": {"channel": ["webchat"]}, "then": {"group": "web"}}],
        "off_hours": {"auto_reply": "Back at {opens_at}."},
        **over,
    }
    return CompiledRouter(RoutingConfig.model_validate(config))


def test_no_routing_means_always_open() -> None:
    assert chat_hours(None, "web", SATURDAY).open


def test_the_web_chat_groups_calendar_decides() -> None:
    closed = chat_hours(router(), "web", SATURDAY)
    assert not closed.open
    assert closed.opens_at == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    assert closed.notice == "Back at 2026-03-09 09:00."  # local time of the calendar
    assert chat_hours(router(), "web", MONDAY).open


def test_a_rule_for_this_channel_id_picks_another_group() -> None:
    rules = [{"name": "shop-b", "when": {"channel_id": ["shop-b"]}, "then": {"group": "weekend"}},
             {"name": "web", "when": {"channel": ["webchat"]}, "then": {"group": "web"}}]
    assert chat_hours(router(rules=rules), "shop-b", SATURDAY).open
    assert not chat_hours(router(rules=rules), "web", SATURDAY).open


def test_without_a_group_the_default_calendar_decides() -> None:
    hours = chat_hours(router(rules=[], default_calendar="office"), "web", SATURDAY)
    assert not hours.open
    assert chat_hours(router(rules=[]), "web", SATURDAY).open  # no default: always open


def test_without_an_auto_reply_a_default_notice_is_shown() -> None:
    hours = chat_hours(router(off_hours={"leave_message": True}), "web", SATURDAY)
    assert hours.notice == DEFAULT_NOTICE.replace("{opens_at}", "2026-03-09 09:00")


def test_the_frame_form_of_the_hours() -> None:
    assert chat_hours(router(), "web", SATURDAY).to_frame() == {
        "open": False, "opens_at": "2026-03-09T08:00:00+00:00", "notice": "Back at 2026-03-09 09:00."}


def test_a_leave_message_frame_needs_every_field() -> None:
    frame = parse_client_frame(b'{"type":"leave_message","client_id":"abcdefgh","name":"N",'
                               b'"contact":"n@example.com","text":"hi"}')
    assert isinstance(frame, LeaveMessage) and frame.contact == "n@example.com"
    with pytest.raises(ProtocolError, match="contact"):
        parse_client_frame(b'{"type":"leave_message","client_id":"abcdefgh","name":"N","text":"hi"}')
