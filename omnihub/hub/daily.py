"""The daily run of `serve`: a backup, old backups removed, retention applied.

Every hub process keeps the schedule (`backup.at` in `backup.timezone`); when the time
comes, the one that takes the `ops.daily` lease does the work and then keeps the lease
until shortly before the next day's run, so the other processes of a cluster find it
held and skip the day. If the winner's backup fails, it gives the lease back at once and
the others retry within `GRACE`. Nothing is caught up for days the hub was not running.

Old backups are removed, and conversations pruned, only after a successful backup: a
store whose backups keep failing loses neither its last good backups nor any data.
`tick(now)` is one check at a given instant: the loop calls it with the wall clock,
tests with their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from omnihub.hub.background import in_background
from omnihub.hub.settings import HubSettings
from omnihub.store.backup import create_backup
from omnihub.store.backup.folders import backup_name, latest_backup, remove_old_backups
from omnihub.store.db import Database
from omnihub.store.leases import Lease, process_holder
from omnihub.store.retention import PruneReport, prune

__all__ = ["DailyMaintenance", "DailyReport", "next_run"]

log = logging.getLogger("omnihub.daily")

LEASE_NAME = "ops.daily"
GRACE = timedelta(hours=1)
_HANDOVER = timedelta(minutes=1)  # the lease ends this long before the next run


def utcnow() -> datetime:
    return datetime.now(UTC)


def next_run(after: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The first `at` o'clock in `zone` strictly after `after` (a UTC datetime)."""
    local = after.astimezone(zone)
    candidate = datetime.combine(local.date(), at, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=zone)
    return candidate.astimezone(UTC)


@dataclass
class DailyReport:
    """What one daily run did (for tests and the log)."""

    leader: bool
    backup: Path | None = None
    removed: list[Path] = field(default_factory=list)
    pruned: PruneReport | None = None
    error: str | None = None


class DailyMaintenance:
    """The scheduler and the work of the daily run; `running()` is the loop."""

    def __init__(self, db: Database, settings: HubSettings, *,
                 clock: Callable[[], datetime] = utcnow, holder: str | None = None,
                 poll_seconds: float = 60.0, lease_seconds: float = 600.0) -> None:
        self.db = db
        self.settings = settings
        self.config = settings.backup
        self.clock = clock
        self.holder = holder or process_holder()
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.due: datetime | None = None

    @property
    def active(self) -> bool:
        return self.config.enabled or self.config.retention.enabled

    def _next(self, after: datetime) -> datetime:
        return next_run(after, self.config.at, self.config.zone)

    async def tick(self, now: datetime | None = None) -> DailyReport | None:
        """Run the day's work if it is due at `now` and this process wins the lease."""
        now = now or self.clock()
        if self.due is None:
            self.due = self._next(now)
        if now < self.due:
            return None
        token = await Lease.acquire(self.db, LEASE_NAME, self.holder, self.lease_seconds)
        if token is None:  # another process has it: done today, or doing it now
            if now >= self.due + GRACE:
                self.due = self._next(now)
            return DailyReport(leader=False)
        self.due = self._next(now)
        finished = False  # the backup is taken (or not wanted): today is done
        try:
            async with self._renewing(token):
                report = await self._work(now)
            finished = report.backup is not None or not self.config.enabled
        finally:
            if finished:
                hold = max((self.due - now - _HANDOVER).total_seconds(), self.lease_seconds)
                await Lease.renew(self.db, LEASE_NAME, self.holder, token, hold)
            else:
                with contextlib.suppress(Exception):
                    await Lease.release(self.db, LEASE_NAME, self.holder, token)
        return report

    @contextlib.asynccontextmanager
    async def _renewing(self, token: int) -> AsyncIterator[None]:
        """Keep the lease while a long backup runs."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.lease_seconds / 3)
                try:
                    await Lease.renew(self.db, LEASE_NAME, self.holder, token,
                                      self.lease_seconds)
                except Exception:
                    log.exception("renewing the daily lease failed; trying again")

        async with in_background(renew(), "daily-lease"):
            yield

    async def _work(self, now: datetime) -> DailyReport:
        report = DailyReport(leader=True)
        folder = self.config.folder(self.settings.data_dir)
        if self.config.enabled:
            target = folder / backup_name(now)
            try:
                manifest = await create_backup(self.db, target, self.settings.media.dir,
                                               link_from=latest_backup(folder))
            except Exception as exc:
                log.exception("daily backup into %s failed", target)
                report.error = f"backup failed: {exc}"
                return report
            report.backup = target
            log.info("daily backup written to %s (%d rows, %d files)", target,
                     sum(t.rows for t in manifest.tables), len(manifest.files))
            keep = timedelta(days=self.config.keep_days)
            report.removed = await asyncio.to_thread(remove_old_backups, folder, now, keep)
            for path in report.removed:
                log.info("removed backup %s (older than %d days)", path, self.config.keep_days)
        if self.config.retention.enabled:
            try:
                report.pruned = await prune(self.db, self.config.retention.policy(), now=now,
                                            media_root=self.settings.media.dir)
            except Exception as exc:
                log.exception("daily retention prune failed")
                report.error = f"prune failed: {exc}"
        return report

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Check the schedule every `poll_seconds` for the duration of the block."""
        if not self.active:
            yield
            return

        async def loop() -> None:
            while True:
                try:
                    await self.tick()
                except Exception:
                    log.exception("daily run failed; trying again later")
                wait = self.poll_seconds
                if self.due is not None:
                    wait = min(wait, max((self.due - self.clock()).total_seconds(), 0.0) + 0.5)
                await asyncio.sleep(wait)

        async with in_background(loop(), "daily-maintenance"):
            yield
