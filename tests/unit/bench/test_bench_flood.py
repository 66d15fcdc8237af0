"""The Telegram stand-in's flood policy and the outbound bench's arithmetic."""

from __future__ import annotations

import pytest

from omnihub.hub.bench.flood import (
    FloodPolicy,
    allowed_seconds,
    busiest_second,
    tightest_chat_gap,
)
from omnihub.hub.bench.outbound import Workload, per_second_counts


def test_one_message_a_second_per_chat() -> None:
    policy = FloodPolicy(tolerance=0.0)
    assert policy.admit("1", 10.0) is None
    assert policy.admit("1", 10.5) == 1  # refused: retry after a whole second
    assert policy.admit("2", 10.5) is None  # another chat is not held back
    assert policy.admit("1", 11.0) is None
    assert (policy.refused_chat, policy.refused_bot) == (1, 0)
    assert [chat for chat, _ in policy.accepted] == ["1", "2", "1"]


def test_thirty_a_second_per_bot_in_any_window() -> None:
    policy = FloodPolicy(tolerance=0.0)
    for n in range(30):
        assert policy.admit(str(n), 5.0 + n * 0.01) is None
    assert policy.admit("x", 5.5) == 1  # 31st within one second
    assert policy.refused_bot == 1
    assert policy.admit("x", 6.0) is None  # the first one has left the window
    assert policy.admit("y", 6.005) == 1  # but the second one has not


def test_a_refused_message_does_not_count() -> None:
    policy = FloodPolicy(tolerance=0.0)
    policy.admit("1", 0.0)
    policy.admit("1", 0.2)  # refused
    assert policy.admit("1", 1.0) is None  # one second after the accepted one


def test_tolerance_forgives_jitter_but_no_more() -> None:
    policy = FloodPolicy(tolerance=0.02)
    policy.admit("1", 0.0)
    assert policy.admit("1", 0.985) is None
    assert policy.admit("1", 1.9) == 1


def test_allowed_seconds_is_the_bot_rate_or_the_hottest_chat() -> None:
    assert allowed_seconds([1] * 301) == pytest.approx(10.0)  # 300 gaps at 30/s
    assert allowed_seconds([1] * 30 + [21]) == pytest.approx(20.0)  # hottest chat: 20 gaps
    assert allowed_seconds([]) == 0.0


def test_tightest_gap_and_busiest_second() -> None:
    accepted = [("a", 0.0), ("b", 0.1), ("a", 1.2), ("b", 1.05), ("a", 2.3)]
    assert tightest_chat_gap(accepted) == pytest.approx(0.95)
    assert tightest_chat_gap([("a", 0.0), ("b", 0.1)]) is None
    assert busiest_second([0.0, 0.5, 0.99, 1.0, 1.5]) == 3  # (0.5, 1.5] holds 0.99, 1.0, 1.5
    assert busiest_second([]) == 0


def test_workload_is_a_seeded_shuffle_of_hot_and_cold_chats() -> None:
    work = Workload.shuffled(["h1", "h2"], ["c1", "c2", "c3"], hot_replies=4)
    assert sorted(work.replies) == ["c1", "c2", "c3"] + ["h1"] * 4 + ["h2"] * 4
    assert work == Workload.shuffled(["h1", "h2"], ["c1", "c2", "c3"], hot_replies=4)


def test_per_second_counts() -> None:
    assert per_second_counts([10.0, 10.2, 11.5, 12.9]) == [2, 1, 1]
    assert per_second_counts([]) == []
