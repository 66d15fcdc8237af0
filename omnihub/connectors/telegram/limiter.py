"""Telegram's flood limits, kept on our side so that a burst of replies is paced, not refused.

About 30 messages a second per bot, one a second per chat, 20 a minute per group
(https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this). A
429 with `retry_after` still happens when several hub processes share one bot; that one
goes back to the durable retry.
"""

from __future__ import annotations

from collections import OrderedDict

from aiolimiter import AsyncLimiter

__all__ = ["FloodLimiter"]


class FloodLimiter:
    """One leaky bucket for the bot and one per recently used chat (bounded LRU)."""

    def __init__(self, *, per_second: float, per_chat_per_second: float,
                 per_group_per_minute: float, max_chats: int = 10_000) -> None:
        self._bot = AsyncLimiter(per_second, 1)
        self._per_chat = per_chat_per_second
        self._per_group = per_group_per_minute
        self._max_chats = max_chats
        self._chats: OrderedDict[str, AsyncLimiter] = OrderedDict()

    async def wait(self, chat_id: str) -> None:
        """Return when one more message to `chat_id` is within every limit."""
        await self._chat(chat_id).acquire()
        await self._bot.acquire()

    def _chat(self, chat_id: str) -> AsyncLimiter:
        limiter = self._chats.get(chat_id)
        if limiter is None:
            # Group and channel ids are negative; private chats are the user's own id.
            limiter = (AsyncLimiter(self._per_group, 60) if chat_id.startswith("-")
                       else AsyncLimiter(self._per_chat, 1))
            self._chats[chat_id] = limiter
            if len(self._chats) > self._max_chats:
                self._chats.popitem(last=False)
        else:
            self._chats.move_to_end(chat_id)
        return limiter
