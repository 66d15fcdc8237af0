"""What a (re)connecting widget must be shown: the messages it missed, read from the store.

The store, not a per-process buffer, is the source, so a reconnect to another process or
after a restart loses nothing. Ids are ULIDs (time-ordered), so "missed" is "id greater
than the last id the widget saw"; the widget also dedupes by id, so nothing shows twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omnihub.normalizer.schema import Message
from omnihub.store import Store

__all__ = ["Replay", "replay", "visible"]

PAGE = 100
MAX_PAGES = 50  # a customer with a long history elsewhere: stop paging after this many
RECENT = 50  # what a widget without any history of its own is shown


def visible(message: Message, channel_id: str) -> bool:
    """A visitor sees this channel's messages, never agents' private notes."""
    return message.channel_id == channel_id and not message.private


@dataclass(slots=True)
class Replay:
    missed: list[Message] = field(default_factory=list)  # oldest first
    changed: list[Message] = field(default_factory=list)  # already seen, since edited/recalled
    conversation_id: str | None = None  # of the newest message
    read_up_to: str | None = None  # agents have read the visitor's messages up to this id


async def replay(store: Store, customer_id: str, channel_id: str,
                 last_id: str | None) -> Replay:
    """Page the customer's history newest first back to `last_id` (or RECENT messages)."""
    result = Replay()
    recent = 0
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await store.customer_history(customer_id, limit=PAGE, cursor=cursor)
        for message in page.items:
            if not visible(message, channel_id):
                continue
            if result.conversation_id is None:
                result.conversation_id = message.conversation_id
            recent += 1
            if last_id is None or message.id > last_id:
                result.missed.append(message)
            elif recent <= RECENT and (message.edited_at or message.recalled_at):
                result.changed.append(message)
        oldest = page.items[-1].id if page.items else None
        enough = recent >= RECENT and (last_id is None or (oldest is not None and oldest <= last_id))
        if page.next_cursor is None or enough:
            break
        cursor = page.next_cursor
    if last_id is None:
        result.missed = result.missed[:RECENT]
    result.missed.reverse()
    result.changed.reverse()
    if result.conversation_id is not None:
        markers = await store.read_markers(result.conversation_id)
        result.read_up_to = max((m.message_id for m in markers), default=None)
    return result


async def owns_media(store: Store, customer_id: str, channel_id: str, sha256: str,
                     *, max_messages: int = 2000) -> Message | None:
    """The newest message of this visitor that carries the blob, if any (recent history)."""
    cursor: str | None = None
    seen = 0
    while seen < max_messages:
        page = await store.customer_history(customer_id, limit=PAGE, cursor=cursor)
        for message in page.items:
            if visible(message, channel_id) and not message.recalled_at and any(
                    getattr(getattr(p, "media", None), "sha256", None) == sha256
                    for p in message.parts):
                return message
        seen += len(page.items)
        if page.next_cursor is None:
            return None
        cursor = page.next_cursor
    return None
