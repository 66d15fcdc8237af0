"""What a Redis bus process published that some consumer group may not have handled yet.

The outbox marks a row dispatched once XADD returns, so a Redis that restarts without
persistence (or is flushed) takes with it every entry no group had handled: the outbox
would never send them again. The publishing process therefore keeps each envelope it
added, by stream and entry id, until every group of that stream has acknowledged past it,
and adds the ones still kept again when it finds Redis emptied (bus/redis_streams.py).

Kept in memory, bounded: the publisher dying in the same instant as Redis still loses the
difference, as does a backlog beyond `limit` (the oldest are let go, with a warning).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable

from omnihub.hub.bus.base import Envelope

log = logging.getLogger("omnihub.bus")

EntryId = tuple[int, int]


def parse_id(raw: bytes | str) -> EntryId:
    """`b"1700000000000-3"` as a comparable tuple."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def settled_below(groups: Iterable[tuple[EntryId, EntryId | None]]) -> EntryId | None:
    """The first entry id some group still owes, from each group's (last delivered id,
    first pending id or None). None: the stream has no group, nothing is owed."""
    bound: EntryId | None = None
    for last_delivered, first_pending in groups:
        owed = first_pending if first_pending is not None else (last_delivered[0],
                                                                last_delivered[1] + 1)
        bound = owed if bound is None else min(bound, owed)
    return bound


class Unsettled:
    """Per stream, the envelopes added and not yet acknowledged by every group, in order."""

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self.streams: dict[str, deque[tuple[EntryId, Envelope]]] = {}
        self.count = 0
        self.let_go = 0  # envelopes dropped over `limit` (lost if Redis loses its data now)

    def add(self, stream: str, raw_id: bytes | str, envelope: Envelope) -> None:
        self.streams.setdefault(stream, deque()).append((parse_id(raw_id), envelope))
        self.count += 1
        if self.count > self.limit:
            self._let_go_oldest()

    def settle(self, stream: str, below: EntryId | None) -> None:
        """Every group has handled the entries before `below` (None: all of them)."""
        kept = self.streams.get(stream)
        while kept and (below is None or kept[0][0] < below):
            kept.popleft()
            self.count -= 1
        if not kept:
            self.streams.pop(stream, None)

    def take_all(self) -> dict[str, deque[tuple[EntryId, Envelope]]]:
        """Everything kept, per stream in publishing order, and forget it (to add again)."""
        taken, self.streams, self.count = self.streams, {}, 0
        return taken

    def restore(self, taken: dict[str, deque[tuple[EntryId, Envelope]]]) -> None:
        """Put back what `take_all` gave (adding it again failed), ahead of anything newer."""
        for stream, kept in taken.items():
            newer = self.streams.get(stream, deque())
            kept.extend(newer)
            self.streams[stream] = kept
            self.count += len(kept) - len(newer)

    def _let_go_oldest(self) -> None:
        largest = max(self.streams, key=lambda s: len(self.streams[s]))
        self.streams[largest].popleft()
        self.count -= 1
        if self.let_go % 10_000 == 0:
            log.warning("bus: more than %d events not yet handled by every group; the oldest "
                        "are no longer kept for a Redis that loses its data", self.limit)
        self.let_go += 1
