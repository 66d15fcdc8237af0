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

Waiting calls are one queue, served oldest `order` first (the connector passes the
message id, a time-ordered ULID) among those whose chat has a place: a chat that waits
for its second takes none of the bot's places meanwhile, and once its second is up its
older reply goes ahead of newer replies to other chats. Without that, a busy chat's next
reply queued behind the replies that came after it, and its last ones trailed the rest
at well under one a second.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
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

    def wait(self, now: float) -> float:
        """0.0 if a call may start now, else how long until one may (math.inf: every place
        is held by a call still in flight). Counts nothing."""
        answered = self._answered
        while answered and answered[0] <= now - self.period:
            answered.popleft()
        if self.in_flight + len(answered) < self.limit:
            return 0.0
        if answered:
            return answered[0] + self.period - now
        return math.inf

    def try_start(self, now: float) -> float:
        """0.0 if a call may start now (it is counted from here), else how long to wait
        before asking again (math.inf: every place is held by a call still in flight)."""
        wait = self.wait(now)
        if wait == 0.0:
            self.in_flight += 1
        return wait

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


#: a waiting call: its order, its arrival (ties), its chat's window, woken when it may start
_Waiter = tuple[str, int, Window, asyncio.Future[None]]


class FloodLimiter:
    """One window for the bot and one per recently used chat (bounded LRU), and the calls
    waiting for them, served oldest `order` first as soon as both have a place."""

    def __init__(self, *, per_second: float, per_chat_per_second: float,
                 per_group_per_minute: float, max_chats: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._bot = window_for_rate(per_second)
        self._per_chat = per_chat_per_second
        self._per_group = per_group_per_minute
        self._max_chats = max_chats
        self._chats: OrderedDict[str, Window] = OrderedDict()
        self._waiting: list[_Waiter] = []  # sorted: oldest order first
        self._arrivals = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    @asynccontextmanager
    async def slot(self, chat_id: str, order: str = "") -> AsyncIterator[None]:
        """Hold a place in every limit for one call to `chat_id` while the block runs.
        Among waiting calls, the smallest `order` starts first (then the first to ask)."""
        chat = self._chat(chat_id)
        await self._acquire(chat, order)
        try:
            yield
        finally:
            self._release(chat)

    async def _acquire(self, chat: Window, order: str) -> None:
        if not self._waiting and self._start(chat, self._clock()):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        bisect.insort(self._waiting, (order, next(self._arrivals), chat, future))
        self._grant()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # started just as it was cancelled
                self._release(chat)
            raise

    def _start(self, chat: Window, now: float) -> bool:
        if self._bot.wait(now) > 0.0 or chat.wait(now) > 0.0:
            return False
        self._bot.try_start(now)
        chat.try_start(now)
        return True

    def _release(self, chat: Window) -> None:
        now = self._clock()  # one time for both: a chat's second and its bot place end together
        self._bot.finish(now)
        chat.finish(now)
        if self._waiting:
            self._grant()

    def _grant(self) -> None:
        """Start every waiting call that may start, oldest order first; then sleep until
        the next one may (a release wakes us earlier)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self._clock()
        later = math.inf
        kept: list[_Waiter] = []
        for index, waiter in enumerate(self._waiting):
            chat, future = waiter[2], waiter[3]
            if future.done():  # cancelled while waiting
                continue
            bot_wait = self._bot.wait(now)
            if bot_wait > 0.0:  # the bot is full: nobody else starts either
                later = min(later, bot_wait)
                kept += [w for w in self._waiting[index:] if not w[3].done()]
                break
            chat_wait = chat.wait(now)
            if chat_wait > 0.0:  # its chat is paced: it takes no bot place meanwhile
                later = min(later, chat_wait)
                kept.append(waiter)
                continue
            self._start(chat, now)
            future.set_result(None)
        self._waiting = kept
        if kept and not math.isinf(later):
            self._timer = asyncio.get_running_loop().call_later(later, self._grant)

    def _chat(self, chat_id: str) -> Window:
        window = self._chats.get(chat_id)
        if window is None:
            # Group and channel ids are negative; private chats are the user's own id.
            window = (window_for_rate(self._per_group / 60) if chat_id.startswith("-")
                      else window_for_rate(self._per_chat))
            self._chats[chat_id] = window
            if len(self._chats) > self._max_chats:
                # A call still holding a forgotten chat's place releases it on its own
                # window; only over max_chats chats within one period could this be early.
                self._chats.popitem(last=False)
        else:
            self._chats.move_to_end(chat_id)
        return window
