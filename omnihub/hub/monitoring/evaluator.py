"""The alert evaluator: every `alerts.evaluate_seconds`, judge each rule of hub.yaml against
this process's metrics and tell the operators when one fires or resolves.

In a cluster one process evaluates at a time (the `alert-evaluator` lease), so a firing
is announced once, not once per process; its state lives in the alert_states table, so a
restart or a new leader neither announces a firing again nor forgets a resolve it owes.
A notice a target did not take (its webhook down, SMTP refusing) stays owed and is tried
again at every evaluation until it goes through or the alert changes state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime

from omnihub.hub.background import in_background
from omnihub.hub.metrics import Metrics
from omnihub.hub.monitoring.notify import Notice, Notifier, NotifyFailed
from omnihub.hub.monitoring.rules import Figures, RuleState, step
from omnihub.hub.monitoring.settings import AlertRule, AlertSettings
from omnihub.normalizer.ids import new_id
from omnihub.store.alerts import load_alert_states, save_alert_state
from omnihub.store.db import Database
from omnihub.store.leases import Lease, process_holder

__all__ = ["LEASE_NAME", "AlertEvaluator"]

log = logging.getLogger("omnihub.alerts")

LEASE_NAME = "alert-evaluator"


def utcnow() -> datetime:
    return datetime.now(UTC)


class AlertEvaluator:
    def __init__(self, db: Database, metrics: Metrics, settings: AlertSettings,
                 notifier: Notifier, *, clock: Callable[[], datetime] = utcnow,
                 use_lease: bool = True, lease_seconds: float | None = None,
                 holder: str | None = None) -> None:
        self.db = db
        self.metrics = metrics
        self.settings = settings
        self.notifier = notifier
        self.clock = clock
        self.use_lease = use_lease
        # Long enough to outlive a slow evaluation, short enough for a quick takeover.
        self.lease_seconds = lease_seconds or max(30.0, 3 * settings.evaluate_seconds)
        self.holder = holder or process_holder()
        self.figures = Figures(metrics.registry)
        self._token: int | None = None

    async def _leading(self) -> bool:
        if not self.use_lease:
            return True
        if self._token is not None and await Lease.renew(
                self.db, LEASE_NAME, self.holder, self._token, self.lease_seconds):
            return True
        self._token = await Lease.acquire(self.db, LEASE_NAME, self.holder, self.lease_seconds)
        return self._token is not None

    async def tick(self) -> list[tuple[str, str]]:
        """One evaluation of every rule; returns the (rule, "firing"|"resolved") changes."""
        rules = self.settings.rules
        if not rules:
            return []
        if not await self._leading():
            self.metrics.alerts_firing.clear()  # the leader's figures are the ones that count
            return []
        now = self.clock()
        values = self.figures.values(rules, now)
        states = await load_alert_states(self.db)
        changes: list[tuple[str, str]] = []
        for rule in rules:
            prior = states.get(rule.name, RuleState(rule.name))
            state, transition = step(rule, prior, values[rule.name], now, new_id)
            if transition is not None:
                changes.append((rule.name, transition))
                level = logging.WARNING if transition == "firing" else logging.INFO
                log.log(level, "alert %s %s: %s (value %s)", rule.name, transition,
                        rule.describe(), state.value)
            self.metrics.alerts_firing.labels(rule.name).set(state.state == "firing")
            # Kept before anything is sent: a crash in between re-sends the same event id
            # (receivers dedupe), never a firing with a new id.
            if state != prior:
                await save_alert_state(self.db, state, now=now)
            if state.owed is not None:
                sent = await self._notify(rule, state, now)
                if sent != state:
                    await save_alert_state(self.db, sent, now=now)
        return changes

    async def _notify(self, rule: AlertRule, state: RuleState, now: datetime) -> RuleState:
        """Send the owed notice to every target that has not had it yet."""
        assert state.owed is not None
        notice = Notice(state.owed, rule, state, now)
        done = list(state.notified)
        for target in self.notifier.targets():
            if target in done:
                continue
            try:
                await self.notifier.send(target, notice)
            except NotifyFailed as exc:
                log.warning("alert %s: %s notice to %s failed, will retry: %s", rule.name,
                            state.owed, target, exc)
                continue
            done.append(target)
        if all(target in done for target in self.notifier.targets()):
            return replace(state, owed=None, notified=())
        return replace(state, notified=tuple(done))

    async def run(self) -> None:
        """Evaluate forever, an interval apart (the first one interval after start)."""
        while True:
            await asyncio.sleep(self.settings.evaluate_seconds)
            try:
                await self.tick()
            except Exception:
                log.exception("alert evaluation failed; trying again in %gs",
                              self.settings.evaluate_seconds)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[AlertEvaluator]:
        try:
            async with in_background(self.run(), "alert-evaluator"):
                yield self
        finally:
            with contextlib.suppress(Exception):
                await self.release()

    async def release(self) -> None:
        """Hand the lease over (at shutdown), so another process evaluates at once."""
        token, self._token = self._token, None
        if token is not None and self.use_lease:
            await Lease.release(self.db, LEASE_NAME, self.holder, token)
