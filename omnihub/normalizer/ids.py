"""Sortable identifiers: ULIDs keep creation order, so ``ORDER BY id`` is time order.

Made here rather than with python-ulid, which costs ~6 µs per id (and ingest makes 3-4
per message): 48 bits of Unix milliseconds and 80 random bits, as 26 characters of
Crockford base32 (10 for the time, 16 for the rest). Within one millisecond the random
part counts up (the ULID spec's monotonic mode), so one process's ids sort in creation
order even inside a millisecond and even if the clock steps back.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_id"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)  # 10 bits -> 2 characters
_TIME_SHIFTS = tuple(range(40, -1, -10))  # 50 bits: the 48-bit time, two leading zeros
_RANDOM_SHIFTS = tuple(range(70, -1, -10))  # 80 bits
_RANDOM_MAX = (1 << 80) - 1
_lock = threading.Lock()
_last_ms = -1
_last_random = 0
_time_text = ""


def _base32(value: int, shifts: tuple[int, ...]) -> str:
    return "".join([_PAIRS[(value >> shift) & 0x3FF] for shift in shifts])


def new_id() -> str:
    """Return a new 26-character ULID string (lexicographically time-ordered)."""
    global _last_ms, _last_random, _time_text
    now_ms = time.time_ns() // 1_000_000
    with _lock:
        if now_ms > _last_ms:
            _last_ms, _last_random = now_ms, int.from_bytes(os.urandom(10))
            _time_text = _base32(now_ms, _TIME_SHIFTS)
        elif _last_random < _RANDOM_MAX:
            _last_random += 1
        else:  # 2**80 ids in one millisecond: borrow the next one
            _last_ms, _last_random = _last_ms + 1, 0
            _time_text = _base32(_last_ms, _TIME_SHIFTS)
        return _time_text + _base32(_last_random, _RANDOM_SHIFTS)
