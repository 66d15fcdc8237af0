"""Sortable identifiers: ULIDs keep creation order, so ``ORDER BY id`` is time order."""

from __future__ import annotations

from ulid import ULID


def new_id() -> str:
    """Return a new 26-character ULID string (lexicographically time-ordered)."""
    return str(ULID())
