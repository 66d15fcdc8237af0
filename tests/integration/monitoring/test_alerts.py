"""Alert rules fire once and resolve once, on the test's clock and metric values.

A real database keeps the alert state, a stand-in receiver takes the signed webhooks and
a real SMTP server (aiosmtpd) the e-mail; nothing sleeps: the test sets the metrics,
moves the clock and calls `tick()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest

from omnihub.hub import signing
from omnihub.hub.metrics import Metrics
from omnihub.hub.monitoring.evaluator import AlertEvaluator
from omnihub.hub.monitoring.notify import EVENT_ID_HEADER, Notifier
from omnihub.hub.monitoring.settings import AlertSettings
from omnihub.store.db import Database
from omnihub.store.migrate import upgrade

from .conftest import Receiver, Smtp

SECRET = "alert-secret-0123456789"
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)

RULES: list[dict[str, Any]] = [
    {"name": "dead_letters", "metric": "omnihub_dead_letters", "op": ">", "threshold": 0,
     "severity": "critical"},
    {"name": "after_sales_overdue", "metric": "omnihub_conversations_overdue",
     "labels": {"group": "after_sales"}, "op": ">", "threshold": 10, "for": "5m"},
    {"name": "ingest_p99", "metric": "omnihub_ingest_latency_seconds", "quantile": 0.99,
     "window": "5m", "op": ">", "threshold": "500ms"},
    {"name": "email_poll_lag", "metric": "omnihub_imap_poll_lag_seconds", "aggregate": "max",
     "op": ">", "threshold": "5m"},
    {"name": "outbound_failures", "metric": "omnihub_outbound_total",
     "labels": {"result": "failed"}, "window": "10m", "op": ">", "threshold": 3},
]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Rig:
    db: Database
    metrics: Metrics
    clock: Clock
    settings: AlertSettings
    http: aiohttp.ClientSession
    receiver: Receiver
    smtp: Smtp

    def evaluator(self, holder: str = "test-1") -> AlertEvaluator:
        return AlertEvaluator(self.db, self.metrics, self.settings,
                              Notifier(self.settings.notify, self.http), clock=self.clock,
                              holder=holder)

    def webhooks(self) -> list[dict[str, Any]]:
        """Every webhook received, its signature verified first."""
        bodies = []
        for headers, raw in self.receiver.received:
            signing.verify(SECRET, raw, headers.get(signing.HEADER))
            body = orjson.loads(raw)
            assert headers[EVENT_ID_HEADER] == body["id"]
            bodies.append(body)
        return bodies

    def notices(self) -> list[tuple[str, str]]:
        """(type, alert) of each webhook, checked against the e-mail sent alongside it."""
        sent = [(b["type"], b["data"]["alert"]) for b in self.webhooks()]
        mailed = [str(m["Subject"]) for m in self.smtp.mailbox.messages]
        assert len(mailed) == len(sent)
        for (kind, alert), subject in zip(sent, mailed, strict=True):
            word = "FIRING" if kind == "alert.firing" else "resolved"
            assert subject.startswith(f"[omnihub] {word}: {alert} ")
        return sent


@pytest.fixture
async def rig(make_store_url: Callable[..., Any], receiver: Receiver,
              smtp_server: Smtp) -> AsyncIterator[Rig]:
    db = Database(await make_store_url("sqlite"))
    await upgrade(db)
    settings = AlertSettings.model_validate({
        "rules": RULES,
        "notify": {
            "webhooks": [{"url": receiver.url(), "secret": SECRET}],
            "email": {"from": "omnihub@shop.example", "to": ["ops@shop.example"],
                      "smtp": {"host": smtp_server.host, "port": smtp_server.port,
                               "security": "none"}},
        },
    })
    async with aiohttp.ClientSession() as http:
        yield Rig(db, Metrics(), Clock(), settings, http, receiver, smtp_server)
    await db.dispose()


# Each rule: how to break it, and how to mend it, on the rig's metrics and clock.
def _dead_letters(rig: Rig, bad: bool) -> None:
    rig.metrics.dead_letters.set(2 if bad else 0)


def _overdue(rig: Rig, bad: bool) -> None:
    rig.metrics.conversations_overdue.labels("after_sales").set(11 if bad else 4)
    rig.metrics.conversations_overdue.labels("sales").set(50)  # another group: not this rule


def _ingest_p99(rig: Rig, bad: bool) -> None:
    if not bad:
        rig.clock.advance(minutes=6)  # the slow ones leave the 5-minute window
    for _ in range(100):
        rig.metrics.ingest_latency.labels("shop").observe(0.8 if bad else 0.01)


def _poll_lag(rig: Rig, bad: bool) -> None:
    rig.metrics.imap_poll_lag.labels("mail").set(600 if bad else 20)
    rig.metrics.imap_poll_lag.labels("other-mail").set(5)


def _outbound_failures(rig: Rig, bad: bool) -> None:
    if bad:
        rig.metrics.outbound_total.labels("shop", "failed").inc(5)
        rig.metrics.outbound_total.labels("shop", "sent").inc(100)
    else:
        rig.clock.advance(minutes=11)  # no new failures within the 10-minute window


DRIVERS: dict[str, Callable[[Rig, bool], None]] = {
    "dead_letters": _dead_letters, "after_sales_overdue": _overdue, "ingest_p99": _ingest_p99,
    "email_poll_lag": _poll_lag, "outbound_failures": _outbound_failures,
}


def test_every_example_rule_has_a_driver() -> None:
    assert sorted(DRIVERS) == sorted(rule["name"] for rule in RULES)


@pytest.mark.parametrize("name", sorted(DRIVERS))
async def test_a_rule_fires_once_and_resolves_once(rig: Rig, name: str) -> None:
    evaluator = rig.evaluator()
    assert await evaluator.tick() == []
    DRIVERS[name](rig, True)
    rule = next(r for r in rig.settings.rules if r.name == name)
    if rule.for_:
        assert await evaluator.tick() == []  # pending: not yet held for `for`
        rig.clock.advance(seconds=rule.for_ - 1)
        assert await evaluator.tick() == []
        rig.clock.advance(seconds=1)
    assert await evaluator.tick() == [(name, "firing")]
    assert rig.notices() == [("alert.firing", name)]
    for _ in range(3):  # still firing: nothing more is sent
        rig.clock.advance(seconds=15)
        assert await evaluator.tick() == []
    assert rig.notices() == [("alert.firing", name)]

    DRIVERS[name](rig, False)
    assert await evaluator.tick() == [(name, "resolved")]
    rig.clock.advance(seconds=15)
    assert await evaluator.tick() == []
    assert rig.notices() == [("alert.firing", name), ("alert.resolved", name)]
    firing, resolved = rig.webhooks()
    assert firing["data"]["firing_id"] == resolved["data"]["firing_id"]
    assert resolved["data"]["resolved_at"] is not None
    assert rig.smtp.mailbox.recipients[0] == ["ops@shop.example"]


async def test_a_condition_that_clears_within_for_never_fires(rig: Rig) -> None:
    evaluator = rig.evaluator()
    _overdue(rig, True)
    await evaluator.tick()
    rig.clock.advance(minutes=4)
    _overdue(rig, False)
    await evaluator.tick()
    rig.clock.advance(minutes=2)
    _overdue(rig, True)  # breached again: the 5 minutes start over
    assert await evaluator.tick() == []
    rig.clock.advance(minutes=4)
    assert await evaluator.tick() == []
    assert rig.notices() == []


async def test_a_restart_does_not_announce_a_firing_again(rig: Rig) -> None:
    _dead_letters(rig, True)
    before = rig.evaluator("before")
    assert await before.tick() == [("dead_letters", "firing")]
    await before.release()  # what stopping the hub does
    restarted = rig.evaluator("after")  # a new process: state comes from the database
    assert await restarted.tick() == []
    _dead_letters(rig, False)
    assert await restarted.tick() == [("dead_letters", "resolved")]
    assert rig.notices() == [("alert.firing", "dead_letters"),
                             ("alert.resolved", "dead_letters")]


async def test_one_evaluator_of_a_cluster_sends(rig: Rig) -> None:
    first, second = rig.evaluator("process-1"), rig.evaluator("process-2")
    _dead_letters(rig, True)
    assert await first.tick() == [("dead_letters", "firing")]
    assert await second.tick() == []  # the lease is held by process-1
    assert rig.notices() == [("alert.firing", "dead_letters")]


async def test_a_notice_that_failed_is_sent_again_and_only_to_its_target(rig: Rig) -> None:
    evaluator = rig.evaluator()
    rig.receiver.status = 503
    _dead_letters(rig, True)
    await evaluator.tick()
    await evaluator.tick()
    assert len(rig.receiver.received) == 2  # tried at every evaluation
    assert len(rig.smtp.mailbox.messages) == 1  # the e-mail went out the first time
    rig.receiver.status = 200
    await evaluator.tick()
    await evaluator.tick()
    assert len(rig.receiver.received) == 3
    ids = {headers[EVENT_ID_HEADER] for headers, _ in rig.receiver.received}
    assert len(ids) == 1  # the same event id every time: the receiver dedupes
    assert len(rig.smtp.mailbox.messages) == 1


async def test_the_state_is_kept_for_the_api(rig: Rig) -> None:
    from omnihub.store.alerts import load_alert_states

    evaluator = rig.evaluator()
    _overdue(rig, True)
    await evaluator.tick()
    states = await load_alert_states(rig.db)
    assert states["after_sales_overdue"].state == "pending"
    assert states["after_sales_overdue"].value == 11
    assert states["dead_letters"].state == "ok" and states["dead_letters"].value == 0
    assert "email_poll_lag" not in states  # no e-mail channel: no data, nothing to keep
