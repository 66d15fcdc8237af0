"""Telegram's flood limits, kept on our side so that a burst of replies is paced, not refused.

About 30 messages a second per bot, one a second per chat, 20 a minute per group
(https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this). A
429 with `retry_after` still happens when several hub processes share one bot; that one
goes back to the durable retry.

Each limit is a window of `limit` calls per `period`, and a call holds its place from the
moment it starts until `period` after its answer came back. Telegram counts a message
when it arrives, somewhere between those two moments, so however late the event loop
gets round to a call, or however long the request takes, no `period`-long window on
Telegram's side can see more than `limit` of them. Counting from the start alone (a
token bucket) lets a delayed request land right behind the next one and be refused. The
price is one round trip per period: ~99.5% of the allowed rate at a 5 ms round trip.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

__all__ = ["FloodLimiter", "Window", "window_for_rate"]


@dataclass
class Window:
    """At most `limit` calls in flight or answered within the last `period` seconds. Pure:
    the caller passes the time."""

    limit: int
    period: float
    in_flight: int = 0
    _answered: deque[float] = field(default_factory=deque)  # answer times, oldest first

    def try_start(self, now: float) -> float:
        """0.0 if a call may start now (it is counted from here), else how long to wait
        before asking again (math.inf: every place is held by a call still in flight)."""
        answered = self._answered
        while answered and answered[0] <= now - self.period:
            answered.popleft()
        if self.in_flight + len(answered) < self.limit:
            self.in_flight += 1
            return 0.0
        if answered:
            return answered[0] + self.period - now
        return math.inf

    def finish(self, now: float) -> None:
        """The call started with try_start() got its answer (or failed) at `now`."""
        self.in_flight -= 1
        self._answered.append(now)


def window_for_rate(per_second: float) -> Window:
    """A window for a rate: whole calls per the period that rate gives them
    (30/s -> 30 per 1 s; 1/s -> 1 per 1 s; 1.5/s -> 1 per 0.67 s; a group's 20/min -> 1 per
    3 s, never a burst of 20 into one group)."""
    limit = max(1, int(per_second))
    return Window(limit, limit / per_second)


class _Pacer:
    """A Window used from asyncio: wait for a place, hold it while the call runs."""

    def __init__(self, window: Window, clock: Callable[[], float]) -> None:
        self.window = window
        self.clock = clock
        self._answered = asyncio.Event()

    async def acquire(self) -> None:
        while True:
            wait = self.window.try_start(self.clock())
            if wait == 0.0:
                return
            if math.isinf(wait):
                self._answered.clear()
                await self._answered.wait()
            else:
                await asyncio.sleep(wait)

    def release(self) -> None:
        self.window.finish(self.clock())
        self._answered.set()


class FloodLimiter:
    """One window for the bot and one per recently used chat (bounded LRU)."""

    def __init__(self, *, per_second: float, per_chat_per_second: float,
                 per_group_per_minute: float, max_chats: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._bot = _Pacer(window_for_rate(per_second), clock)
        self._per_chat = per_chat_per_second
        self._per_group = per_group_per_minute
        self._max_chats = max_chats
        self._chats: OrderedDict[str, _Pacer] = OrderedDict()

    @asynccontextmanager
    async def slot(self, chat_id: str) -> AsyncIterator[None]:
        """Hold a place in every limit for one call to `chat_id` while the block runs."""
        chat = self._chat(chat_id)
        await chat.acquire()
        try:
            await self._bot.acquire()
        except BaseException:
            chat.release()
            raise
        try:
            yield
        finally:
            self._bot.release()
            chat.release()

    def _chat(self, chat_id: str) -> _Pacer:
        pacer = self._chats.get(chat_id)
        if pacer is None:
            # Group and channel ids are negative; private chats are the user's own id.
            window = (window_for_rate(self._per_group / 60) if chat_id.startswith("-")
                      else window_for_rate(self._per_chat))
            pacer = self._chats[chat_id] = _Pacer(window, self._clock)
            if len(self._chats) > self._max_chats:
                # A call still holding a forgotten chat's place releases it on its own
                # pacer; only over max_chats chats within one period could this be early.
                self._chats.popitem(last=False)
        else:
            self._chats.move_to_end(chat_id)
        return pacer
