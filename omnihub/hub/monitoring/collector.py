"""The metrics collector: the figures that cost a query, refreshed on a timer.

A scrape of /metrics only renders the registry; the backlog per group, the outbox depth
and age, dead letters and retrying jobs, the store and Redis round trips and the e-mail
poll lag are refreshed here every `monitoring.collect_seconds`, so a scraper polling
every second (or several of them) costs the database nothing extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from omnihub.hub.background import in_background
from omnihub.hub.bus import Bus
from omnihub.hub.metrics import UNROUTED, Metrics
from omnihub.store import outbox
from omnihub.store.backlog import backlog_by_group
from omnihub.store.db import Database

__all__ = ["MetricsCollector"]

log = logging.getLogger("omnihub.metrics")


class MetricsCollector:
    def __init__(self, db: Database, bus: Bus, metrics: Metrics, *,
                 interval: float = 15.0) -> None:
        self.db = db
        self.bus = bus
        self.metrics = metrics
        self.interval = interval
        self.redis = type(bus).__name__ == "RedisStreamsBus"
        self._groups: set[str] = set()

    async def collect(self) -> None:
        """One refresh of every collected figure; a store that is down shows as store_up 0."""
        m = self.metrics
        m.refresh_poll_lag()
        started = time.perf_counter()
        try:
            await self.db.ping()
        except Exception:  # each backend raises its own errors; the probe says "down"
            m.store_up.set(0)
            log.warning("metrics collector: the store does not answer")
        else:
            m.store_ping.set(time.perf_counter() - started)
            m.store_up.set(1)
            await self._store_figures()
        started = time.perf_counter()
        try:
            await self.bus.ping()
        except Exception:
            m.bus_up.set(0)
        else:
            m.bus_up.set(1)
            if self.redis:
                m.redis_ping.set(time.perf_counter() - started)

    async def _store_figures(self) -> None:
        m = self.metrics
        depth = await outbox.outbox_depth(self.db)
        m.outbox_depth.set(depth.count)
        m.outbox_oldest_age.set(depth.oldest_age_seconds or 0)
        m.dead_letters.set(await outbox.dead_count(self.db))
        m.retrying_jobs.set(await outbox.retrying_count(self.db))
        backlog = {row.group or UNROUTED: row for row in await backlog_by_group(self.db)}
        # A group seen once stays, at 0 when its backlog empties: an alert or a graph on
        # it reads 0 then, not "no data".
        self._groups.update(backlog)
        for group in self._groups:
            row = backlog.get(group)
            m.conversations_open.labels(group).set(row.open if row else 0)
            m.conversations_unassigned.labels(group).set(row.unassigned if row else 0)
            m.conversations_overdue.labels(group).set(row.overdue if row else 0)

    async def run(self) -> None:
        while True:
            try:
                await self.collect()
            except Exception:
                log.exception("metrics collection failed; trying again in %gs", self.interval)
            await asyncio.sleep(self.interval)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[MetricsCollector]:
        async with in_background(self.run(), "metrics-collector"):
            yield self
