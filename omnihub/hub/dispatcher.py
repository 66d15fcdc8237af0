"""The outbox dispatcher: committed outbox rows onto the bus, in seq order, at least once.

A row is marked dispatched only after the bus has accepted it so that it reaches every
consumer group even if this process dies now: after XADD on Redis, after every group has
handled it (or parked a retry job) on the in-process bus. A crash in between re-sends
the unmarked rows on restart; consumers dedupe by event id. Later batches are submitted
while earlier ones settle, so a slow consumer does not turn into one round trip per row.

Seq order is allocation order; on PostgreSQL/MySQL a transaction can commit a lower seq
after a higher one became visible. The dispatcher reads past its in-flight rows with a
cursor, and rescans from the start whenever it has been idle for a poll interval (and at
least every `rescan_interval`), so such a late row is sent late but never skipped. A
rescan skips the rows still in flight (submitted, not yet marked) instead of waiting for
them to settle: on the in-process bus a row settles only when every consumer has handled
it, and a reply paced at Telegram's one message per second per chat would otherwise hold
back routing and webhooks for every other conversation.

Fast path: the ingest writer hands over the rows it has just committed (`offer`), and
the dispatcher sends them without reading them back, as long as their seqs continue the
cursor without a gap. A gap means rows committed elsewhere (another writer, another
process, a seq a rolled-back transaction used), and the dispatcher reads the table
after its cursor instead, so the offered rows never overtake rows it has not seen.
Offered rows are only a hint: the table (each row's `outbox_pending` mark) stays the
truth, so nothing offered and lost in a crash is lost for the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Protocol, cast

from omnihub.hub.background import cancel_and_wait
from omnihub.hub.bus.base import Bus, Envelope
from omnihub.store.db import Database
from omnihub.store.leases import process_holder
from omnihub.store.outbox import fetch_undispatched, mark_dispatched

log = logging.getLogger("omnihub.dispatcher")

LEASE_NAME = "outbox-dispatcher"

Marker = Callable[[Sequence[int]], Awaitable[None]]
_InFlight = asyncio.Queue[tuple[list[int], Awaitable[None]]]


class OutboxDispatcher:
    """Moves the outbox to the bus; with `use_lease`, one dispatcher per cluster runs at a time."""

    def __init__(self, db: Database, bus: Bus, *, batch: int = 500, poll_interval: float = 0.5,
                 max_in_flight: int = 256, rescan_interval: float = 5.0,
                 use_lease: bool = True, lease_ttl: float = 15.0,
                 holder: str | None = None, error_backoff: float = 1.0,
                 marker: Marker | None = None, max_offered: int = 10_000) -> None:
        self.db = db
        self.bus = bus
        self.batch = batch
        self.poll_interval = poll_interval
        self.max_in_flight = max_in_flight
        self.rescan_interval = rescan_interval
        self.lease_ttl = lease_ttl
        self.error_backoff = error_backoff
        self.holder = holder or process_holder()
        self._leases = _lease_module() if use_lease else None
        # How settled rows are marked dispatched; the hub routes this through the ingest
        # writer, so marks ride along in its next transaction instead of a commit of their own.
        self.marker: Marker = marker or partial(mark_dispatched, db)
        self.max_offered = max_offered
        self._offered: deque[Envelope] = deque()
        self._scan = True  # rows may wait in the table after the cursor
        self._in_flight: set[int] = set()  # seqs submitted and not yet marked dispatched
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dispatched = 0  # rows marked dispatched by this instance (for metrics and tests)
        self.leading = asyncio.Event()  # set while this instance holds the dispatcher lease

    def notify(self) -> None:
        """New outbox rows were committed: look now instead of at the next poll. Rows
        committed here while another process leads: wake that one (`Bus.nudge`)."""
        if not self.leading.is_set():
            self.bus.nudge()
        self._scan = True
        self._wake.set()

    def _nudged(self) -> None:
        """Another process committed outbox rows: the leader looks now; the others have
        nothing to send, and keep to their own pace of trying for the lease."""
        if self.leading.is_set():
            self._scan = True
            self._wake.set()

    def offer(self, envelopes: Sequence[Envelope]) -> None:
        """Rows this process has just committed, in seq order: send them without a read.

        Live listeners get them at once (`Bus.feed_live`): the consumer groups settle at
        the pace of the slowest one, and an agent's screen must not wait for it."""
        self.bus.feed_live(envelopes)
        if not self.leading.is_set() or len(self._offered) + len(envelopes) > self.max_offered:
            self.notify()  # not ours to send now, or too far behind: the table has them
            return
        self._offered.extend(envelopes)
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self.bus.on_nudge(self._nudged)
            self._task = asyncio.create_task(self.run(), name="outbox-dispatcher")

    async def stop(self) -> None:
        """Stop at once; rows submitted but not yet settled are simply re-sent next time."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)

    async def run(self) -> None:
        """Dispatch forever: take the lease (if leases exist), dispatch while holding it."""
        while True:
            token: int | None = None
            try:
                if self._leases is not None:
                    token = await self._leases.acquire(self.db, LEASE_NAME, self.holder,
                                                       self.lease_ttl)
                    if token is None:
                        # Another process leads. Not `_sleep`: a follower's notify() is for
                        # the leader (a nudge), and waking on it would turn every commit
                        # here into another lease write (and spin while nothing clears it).
                        await asyncio.sleep(self.lease_ttl / 3)
                        continue
                self.leading.set()
                await self._lead(token)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox dispatcher failed; restarting in %.1fs", self.error_backoff)
                await asyncio.sleep(self.error_backoff)
            finally:
                self.leading.clear()
                if token is not None and self._leases is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._leases.release(self.db, LEASE_NAME,
                                                                  self.holder, token))

    async def _lead(self, token: int | None) -> None:
        """Submit batches while a marker task settles and marks them, until the lease is lost."""
        in_flight: _InFlight = asyncio.Queue(self.max_in_flight)
        async with asyncio.TaskGroup() as tasks:
            marker = tasks.create_task(self._mark_settled(in_flight))
            try:
                await self._submit_forever(in_flight, token)
            finally:
                marker.cancel()

    async def _submit_forever(self, in_flight: _InFlight, token: int | None) -> None:
        loop = asyncio.get_running_loop()
        cursor = 0
        self._offered.clear()
        self._in_flight.clear()
        self._scan = True
        last_rescan = last_renew = loop.time()
        while True:
            if token is not None and loop.time() - last_renew >= self.lease_ttl / 3:
                assert self._leases is not None
                if not await self._leases.renew(self.db, LEASE_NAME, self.holder, token,
                                                self.lease_ttl):
                    log.warning("outbox dispatcher lost its lease; standing by")
                    await in_flight.join()
                    return
                last_renew = loop.time()
            if loop.time() - last_rescan >= self.rescan_interval:
                cursor, last_rescan, self._scan = 0, loop.time(), True  # from the first row
            self._wake.clear()
            rows = self._take_offered(cursor)
            if not rows and self._scan:
                self._scan = False
                # In flight when the read starts: a row marked while it runs can still be
                # in its snapshot, and must not go out twice.
                in_flight_before = set(self._in_flight)
                fetched = await fetch_undispatched(self.db, self.batch, after=cursor)
                if len(fetched) == self.batch:  # more may follow (a notify() meanwhile stays set)
                    self._scan = True
                if fetched:
                    cursor = fetched[-1].seq
                rows = [row for row in fetched
                        if row.seq not in in_flight_before and row.seq not in self._in_flight]
                if not rows and fetched:
                    continue  # all of them still in flight: read on after them
            if rows:
                settled = await self.bus.submit(rows)
                cursor = max(cursor, rows[-1].seq)
                seqs = [row.seq for row in rows]
                self._in_flight.update(seqs)
                await in_flight.put((seqs, settled))
                continue
            if not await self._sleep(self.poll_interval) and not self._in_flight:
                # Quiet for a poll interval: rescan. (With rows still in flight, the
                # rescan interval's turn comes soon enough, without re-reading them all.)
                cursor, last_rescan, self._scan = 0, loop.time(), True

    def _take_offered(self, cursor: int) -> list[Envelope]:
        """Offered rows that continue `cursor` without a gap; a gap asks for a scan instead."""
        offered = self._offered
        rows: list[Envelope] = []
        while offered and len(rows) < self.batch:
            envelope = offered[0]
            if envelope.seq <= cursor:
                offered.popleft()  # the scan has sent it already
            elif envelope.seq == cursor + 1:
                rows.append(offered.popleft())
                cursor = envelope.seq
            else:
                self._scan = True
                break
        return rows

    async def _mark_settled(self, in_flight: _InFlight) -> None:
        """Mark batches once the bus has settled them, all that have piled up in one go."""
        while True:
            taken = [await in_flight.get()]
            while not in_flight.empty():
                taken.append(in_flight.get_nowait())
            try:
                for _seqs, settled in taken:
                    await settled
                seqs = [seq for batch, _settled in taken for seq in batch]
                await self.marker(seqs)
                self.dispatched += len(seqs)
                self._in_flight.difference_update(seqs)  # marked: a rescan won't see them
            finally:
                for _ in taken:
                    in_flight.task_done()

    async def _sleep(self, seconds: float) -> bool:
        """Wait for `notify()`/`offer()` or the poll interval; True if woken."""
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            return False
        return True


class _Leases(Protocol):
    """The part of omnihub.store.leases the dispatcher uses."""

    async def acquire(self, db: Database, name: str, holder: str,
                      ttl_seconds: float) -> int | None: ...

    async def renew(self, db: Database, name: str, holder: str, token: int,
                    ttl_seconds: float) -> bool: ...

    async def release(self, db: Database, name: str, holder: str, token: int) -> bool: ...


def _lease_module() -> _Leases | None:
    """The store's lease functions if this build has them; None means a single dispatcher."""
    try:
        from omnihub.store import leases
    except ImportError:
        return None
    return cast(_Leases, leases)


__all__ = ["LEASE_NAME", "OutboxDispatcher"]
