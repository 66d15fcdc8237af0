"""Telegram's flood limits as a provider enforces them, and the best rate they allow. Pure.

Telegram documents "about 30 messages per second" per bot and "no more than one message
per second" per chat (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this)
without saying how it counts. The stand-in reads both strictly: at most 30 accepted in
any one-second window, and at least one second between two messages to one chat. A
message beyond either is refused with 429 and `retry_after`, as Telegram refuses it.
Arrival times carry the jitter of two event loops and the loopback, which no sender can
control, so a message may arrive up to `tolerance` early before it counts as over; the
tightest gap actually seen is reported next to the verdict.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

BOT_PER_SECOND = 30.0
CHAT_PER_SECOND = 1.0
TOLERANCE = 0.02  # seconds


@dataclass
class FloodPolicy:
    """Admits or refuses each message by the time it arrives (seconds, any monotonic clock)."""

    per_second: float = BOT_PER_SECOND
    per_chat_per_second: float = CHAT_PER_SECOND
    tolerance: float = TOLERANCE
    accepted: list[tuple[str, float]] = field(default_factory=list)
    refused_bot: int = 0
    refused_chat: int = 0
    _window: deque[float] = field(default_factory=deque)
    _last: dict[str, float] = field(default_factory=dict)

    def admit(self, chat_id: str, now: float) -> int | None:
        """None if the message is within the limits (and count it), else the whole
        seconds to wait, as Telegram's `retry_after` says it."""
        gap = 1.0 / self.per_chat_per_second
        last = self._last.get(chat_id)
        if last is not None and now - last < gap - self.tolerance:
            self.refused_chat += 1
            return max(1, math.ceil(last + gap - now))
        window = self._window
        while window and window[0] <= now - 1.0 + self.tolerance:
            window.popleft()
        if len(window) >= self.per_second:
            self.refused_bot += 1
            return max(1, math.ceil(window[0] + 1.0 - now))
        window.append(now)
        self._last[chat_id] = now
        self.accepted.append((chat_id, now))
        return None

    @property
    def refused(self) -> int:
        return self.refused_bot + self.refused_chat


def allowed_seconds(per_chat_counts: Iterable[int], per_second: float = BOT_PER_SECOND,
                    per_chat_per_second: float = CHAT_PER_SECOND) -> float:
    """The shortest time from the first to the last of these messages within the limits:
    the bot's rate over all of them, or the busiest chat's one-a-second, whichever is
    longer. A sender that keeps the allowed rate all the way takes exactly this long."""
    counts = [c for c in per_chat_counts if c > 0]
    if not counts:
        return 0.0
    total = sum(counts)
    return max((total - 1) / per_second, (max(counts) - 1) / per_chat_per_second)


def tightest_chat_gap(accepted: Sequence[tuple[str, float]]) -> float | None:
    """The shortest time between two accepted messages to one chat (None: no chat got two)."""
    last: dict[str, float] = {}
    tightest: float | None = None
    for chat_id, at in sorted(accepted, key=lambda item: item[1]):
        if chat_id in last:
            gap = at - last[chat_id]
            tightest = gap if tightest is None else min(tightest, gap)
        last[chat_id] = at
    return tightest


def busiest_second(times: Sequence[float]) -> int:
    """The most messages accepted within any one-second window (half-open)."""
    ordered = sorted(times)
    busiest = 0
    start = 0
    for end, at in enumerate(ordered):
        while ordered[start] <= at - 1.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest
