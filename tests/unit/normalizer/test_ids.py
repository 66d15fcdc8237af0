"""new_id: ULID-compatible, time-sortable, strictly increasing within one process."""

from __future__ import annotations

import time

from ulid import ULID

from omnihub.normalizer.ids import new_id

CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_ids_are_26_crockford_characters_that_parse_as_ulids_of_now() -> None:
    before = time.time()
    value = new_id()
    after = time.time()
    assert len(value) == 26 and set(value) <= CROCKFORD
    parsed = ULID.from_str(value)
    assert str(parsed) == value
    assert before - 0.002 <= parsed.timestamp <= after + 0.002


def test_ids_made_in_one_burst_are_unique_and_sort_in_creation_order() -> None:
    ids = [new_id() for _ in range(50_000)]  # many share a millisecond
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_later_ids_sort_after_earlier_ones_across_milliseconds() -> None:
    first = new_id()
    time.sleep(0.003)
    assert new_id() > first
    assert ULID.from_str(new_id()).timestamp > ULID.from_str(first).timestamp
