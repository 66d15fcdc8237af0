"""Local fan-out of a topic to live listeners: bounded queues that drop a slow reader."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from omnihub.hub.bus.base import Envelope, Listener, ListenerLagged

_CLOSED = object()


class QueueListener(Listener):
    """A listener fed by its bus; a reader that lets `maxsize` envelopes pile up is dropped."""

    def __init__(self, *, maxsize: int, on_close: Callable[[QueueListener], None]) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=maxsize)
        self._on_close = on_close
        self._ready = asyncio.Event()
        self._lagged = False
        self._closed = False

    def feed(self, envelope: Envelope) -> None:
        """Queue one envelope without waiting: the bus never blocks on a slow reader."""
        if self._closed or self._lagged:
            return
        try:
            self._queue.put_nowait(envelope)
        except asyncio.QueueFull:
            self._lagged = True
            self._on_close(self)

    def mark_ready(self) -> None:
        self._ready.set()

    def end(self) -> None:
        """End iteration (the bus is closing)."""
        if self._closed:
            return
        self._closed = True
        self._on_close(self)
        if self._queue.full():  # make room for the end marker
            self._queue.get_nowait()
        self._queue.put_nowait(_CLOSED)
        self._ready.set()

    async def ready(self) -> None:
        await self._ready.wait()

    async def __anext__(self) -> Envelope:
        if self._queue.empty() and self._lagged:
            raise ListenerLagged("live listener fell behind; replay from the event log")
        item = await self._queue.get()
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)
            raise StopAsyncIteration
        assert isinstance(item, Envelope)
        return item

    async def aclose(self) -> None:
        self.end()


class Fanout:
    """The live listeners of each topic in this process."""

    def __init__(self, *, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self.listeners: dict[str, set[QueueListener]] = {}

    def add(self, topic: str) -> QueueListener:
        """Register a new listener of `topic`."""
        listener = QueueListener(maxsize=self.maxsize,
                                 on_close=lambda lst: self._discard(topic, lst))
        self.listeners.setdefault(topic, set()).add(listener)
        return listener

    def _discard(self, topic: str, listener: QueueListener) -> None:
        group = self.listeners.get(topic)
        if group is not None:
            group.discard(listener)
            if not group:
                del self.listeners[topic]

    def feed(self, envelope: Envelope) -> None:
        for listener in list(self.listeners.get(envelope.topic, ())):
            listener.feed(envelope)

    def close(self) -> None:
        for group in list(self.listeners.values()):
            for listener in list(group):
                listener.end()
        self.listeners.clear()
