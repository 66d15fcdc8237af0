"""The outbox dispatcher: committed outbox rows onto the bus, in seq order, at least once.

A row is marked dispatched only after the bus has accepted it so that it reaches every
consumer group even if this process dies now: after XADD on Redis, after every group has
handled it (or parked a retry job) on the in-process bus. A crash in between re-sends
the unmarked rows on restart; consumers dedupe by event id. Later batches are submitted
while earlier ones settle, so a slow consumer does not turn into one round trip per row.

Seq order is allocation order; on PostgreSQL/MySQL a transaction can commit a lower seq
after a higher one became visible. The dispatcher reads past its in-flight rows with a
cursor, and rescans from the start whenever it has caught up (and at least every
`rescan_interval`), so such a late row is sent late but never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable
from typing import Protocol, cast

from omnihub.hub.bus.base import Bus
from omnihub.store.db import Database
from omnihub.store.outbox import fetch_undispatched, mark_dispatched

log = logging.getLogger("omnihub.dispatcher")

LEASE_NAME = "outbox-dispatcher"


class OutboxDispatcher:
    """Moves the outbox to the bus; with `use_lease`, one dispatcher per cluster runs at a time."""

    def __init__(self, db: Database, bus: Bus, *, batch: int = 500, poll_interval: float = 0.5,
                 max_in_flight: int = 8, rescan_interval: float = 5.0,
                 use_lease: bool = True, lease_ttl: float = 15.0,
                 holder: str | None = None, error_backoff: float = 1.0) -> None:
        self.db = db
        self.bus = bus
        self.batch = batch
        self.poll_interval = poll_interval
        self.max_in_flight = max_in_flight
        self.rescan_interval = rescan_interval
        self.lease_ttl = lease_ttl
        self.error_backoff = error_backoff
        self.holder = holder or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._leases = _lease_module() if use_lease else None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dispatched = 0  # rows marked dispatched by this instance (for metrics and tests)
        self.leading = asyncio.Event()  # set while this instance holds the dispatcher lease

    def notify(self) -> None:
        """New outbox rows were committed: look now instead of at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="outbox-dispatcher")

    async def stop(self) -> None:
        """Stop at once; rows submitted but not yet settled are simply re-sent next time."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """Dispatch forever: take the lease (if leases exist), dispatch while holding it."""
        while True:
            token: int | None = None
            try:
                if self._leases is not None:
                    token = await self._leases.acquire(self.db, LEASE_NAME, self.holder,
                                                       self.lease_ttl)
                    if token is None:
                        await self._sleep(self.lease_ttl / 3)
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
        in_flight: asyncio.Queue[tuple[list[int], Awaitable[None]]] = asyncio.Queue(
            self.max_in_flight)
        async with asyncio.TaskGroup() as tasks:
            marker = tasks.create_task(self._mark_settled(in_flight))
            try:
                await self._submit_forever(in_flight, token)
            finally:
                marker.cancel()

    async def _submit_forever(self, in_flight: asyncio.Queue[tuple[list[int], Awaitable[None]]],
                              token: int | None) -> None:
        loop = asyncio.get_running_loop()
        cursor = 0
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
            self._wake.clear()
            rows = await fetch_undispatched(self.db, self.batch, after=cursor)
            if rows:
                settled = await self.bus.submit(rows)
                cursor = rows[-1].seq
                await in_flight.put(([row.seq for row in rows], settled))
            full = len(rows) == self.batch
            if full and loop.time() - last_rescan < self.rescan_interval:
                continue
            await in_flight.join()  # caught up (or rescan due): settle, then start over
            cursor, last_rescan = 0, loop.time()
            if not full:
                await self._sleep(self.poll_interval)

    async def _mark_settled(
            self, in_flight: asyncio.Queue[tuple[list[int], Awaitable[None]]]) -> None:
        while True:
            seqs, settled = await in_flight.get()
            try:
                await settled
                await mark_dispatched(self.db, seqs)
                self.dispatched += len(seqs)
            finally:
                in_flight.task_done()

    async def _sleep(self, seconds: float) -> None:
        """Wait for `notify()` or the poll interval, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)


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
