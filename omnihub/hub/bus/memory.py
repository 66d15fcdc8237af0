"""The in-process bus (the default): consumer groups are queues inside this process.

Nothing here outlives the process, so "accepted" has to mean more than "queued": an
envelope is settled only once every subscribed group has handled it (a consumer that
fails records a durable retry job and returns, which counts as handled). The dispatcher
marks outbox rows dispatched as they settle; a crash re-dispatches the rest.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import deque
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

from omnihub.hub.bus.base import Bus, BusClosed, Envelope, Handler, Listener
from omnihub.hub.bus.fanout import Fanout

log = logging.getLogger("omnihub.bus")


class _Settlement:
    """Completes once every (envelope, group) delivery of one submitted batch is handled."""

    def __init__(self, outstanding: int) -> None:
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.outstanding = outstanding
        if outstanding == 0:
            self.future.set_result(None)

    def one_done(self) -> None:
        self.outstanding -= 1
        if self.outstanding == 0 and not self.future.done():
            self.future.set_result(None)

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)
            self.future.exception()  # nobody may be waiting any more: don't log it as lost


_Queue = asyncio.Queue[tuple[Envelope, _Settlement]]


@dataclass
class _Group:
    """One consumer group: FIFOs shared by its consumers (each subscribe adds one per lane).

    A group with several lanes handles envelopes of different keys (conversations) at the
    same time and those of one key in order: an envelope's lane is chosen by its key.
    """

    lanes: list[_Queue] = field(default_factory=lambda: [asyncio.Queue()])
    handlers: list[tuple[Handler, _Queue]] = field(default_factory=list)
    workers: list[asyncio.Task[None]] = field(default_factory=list)

    def lane_of(self, envelope: Envelope) -> _Queue:
        if len(self.lanes) == 1:
            return self.lanes[0]
        return self.lanes[zlib.crc32((envelope.key or envelope.id).encode()) % len(self.lanes)]


class MemoryBus(Bus):
    """Consumer groups and live listeners inside one process."""

    spans_processes = False

    def __init__(self, *, retry_delay: float = 0.5, max_retry_delay: float = 30.0,
                 listener_queue: int = 10_000) -> None:
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self._topics: dict[str, dict[str, _Group]] = {}
        self._fanout = Fanout(maxsize=listener_queue)
        self._pending: set[_Settlement] = set()
        # seqs already given to live listeners by feed_live, so submit doesn't repeat them
        self._fed: set[int] = set()
        self._fed_order: deque[int] = deque()
        self._fed_limit = listener_queue
        self._started = False
        self._closed = False

    async def start(self) -> None:
        self._started = True
        for groups in self._topics.values():
            for group in groups.values():
                for handler, lane in group.handlers[len(group.workers):]:
                    group.workers.append(asyncio.create_task(self._work(lane, handler)))

    async def close(self) -> None:
        self._closed = True
        workers = [w for groups in self._topics.values() for g in groups.values()
                   for w in g.workers]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for settlement in list(self._pending):
            settlement.fail(BusClosed("in-process bus closed before delivery finished"))
        self._pending.clear()
        self._fanout.close()

    async def ping(self) -> None:
        if self._closed:
            raise BusClosed("in-process bus is closed")

    def subscribe(self, topic: str, group: str, handler: Handler, *, lanes: int = 1) -> None:
        entry = self._topics.setdefault(topic, {}).get(group)
        if entry is None:
            entry = self._topics[topic][group] = _Group(
                lanes=[asyncio.Queue() for _ in range(max(1, lanes))])
        for lane in entry.lanes:
            entry.handlers.append((handler, lane))
            if self._started and not self._closed:
                entry.workers.append(asyncio.create_task(self._work(lane, handler)))

    def listen(self, topic: str) -> Listener:
        listener = self._fanout.add(topic)
        listener.mark_ready()
        return listener

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        await (await self.submit(envelopes))

    async def submit(self, envelopes: Sequence[Envelope]) -> Awaitable[None]:
        """Queue the envelopes for every group; the awaitable settles when all have handled them."""
        if self._closed:
            raise BusClosed("in-process bus is closed")
        deliveries = [(env, group) for env in envelopes
                      for group in self._topics.get(env.topic, {}).values()]
        settlement = _Settlement(len(deliveries))
        if deliveries:
            self._pending.add(settlement)
            settlement.future.add_done_callback(lambda _f: self._pending.discard(settlement))
        for env, group in deliveries:
            group.lane_of(env).put_nowait((env, settlement))
        fed = self._fed
        for env in envelopes:
            if env.seq in fed:
                fed.discard(env.seq)
            else:
                self._fanout.feed(env)
        return settlement.future

    def feed_live(self, envelopes: Sequence[Envelope]) -> None:
        """Live listeners (SSE, web chat sockets) get committed envelopes at once: how far
        the consumer groups have got (an outbound webhook receiver that is slow or down)
        never delays an agent's screen. Remembered by seq until submit skips them."""
        if self._closed:
            return
        for env in envelopes:
            if env.seq in self._fed:
                continue
            self._fanout.feed(env)
            self._fed.add(env.seq)
            self._fed_order.append(env.seq)
        while len(self._fed_order) > self._fed_limit:  # forget the oldest: at worst a repeat
            self._fed.discard(self._fed_order.popleft())

    async def _work(self, lane: _Queue, handler: Handler) -> None:
        """One consumer: handle envelopes in order, retrying one that raises until it passes."""
        while True:
            envelope, settlement = await lane.get()
            delay = self.retry_delay
            while True:
                try:
                    await handler(envelope)
                    break
                except Exception:
                    log.exception("consumer failed on %s %s; retrying in %.1fs",
                                  envelope.topic, envelope.id, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_retry_delay)
            settlement.one_done()
