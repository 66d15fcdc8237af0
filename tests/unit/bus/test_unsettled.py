"""What a Redis bus keeps to publish again after Redis lost its data (bus/unsettled.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from omnihub.hub.bus.base import Envelope
from omnihub.hub.bus.unsettled import Unsettled, parse_id, settled_below


def env(seq: int) -> Envelope:
    return Envelope(seq=seq, id=f"e-{seq}", topic="event", type="t", key=None, payload={},
                    created_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_ids_compare_as_numbers_not_text() -> None:
    assert parse_id(b"1700000000000-10") > parse_id("1700000000000-9")
    assert parse_id(b"1700000000001-0") > parse_id(b"1700000000000-99")


def test_the_bound_is_the_first_entry_any_group_still_owes() -> None:
    # a group with pending entries owes its first pending one; one without, the entry
    # after the last it was given
    assert settled_below([((5, 0), None)]) == (5, 1)
    assert settled_below([((5, 0), (3, 2)), ((9, 0), None)]) == (3, 2)
    assert settled_below([((2, 7), None), ((9, 0), (4, 0))]) == (2, 8)
    assert settled_below([]) is None


def test_settling_forgets_only_what_every_group_handled() -> None:
    kept = Unsettled()
    for n in range(1, 6):
        kept.add("s", f"{n}-0", env(n))
    kept.add("other", "1-0", env(99))
    kept.settle("s", (3, 0))
    assert [e.seq for _id, e in kept.streams["s"]] == [3, 4, 5]
    kept.settle("other", None)  # a stream without groups owes nothing
    assert "other" not in kept.streams and kept.count == 3


def test_taken_entries_come_back_ahead_of_newer_ones_when_publishing_again_fails() -> None:
    kept = Unsettled()
    kept.add("s", "1-0", env(1))
    kept.add("s", "2-0", env(2))
    taken = kept.take_all()
    assert kept.count == 0 and not kept.streams
    kept.add("s", "10-0", env(3))  # published meanwhile
    kept.restore(taken)
    assert [e.seq for _id, e in kept.streams["s"]] == [1, 2, 3] and kept.count == 3


def test_over_the_limit_the_oldest_are_let_go() -> None:
    kept = Unsettled(limit=3)
    for n in range(1, 6):
        kept.add("s", f"{n}-0", env(n))
    assert [e.seq for _id, e in kept.streams["s"]] == [3, 4, 5]
    assert kept.count == 3 and kept.let_go == 2
