"""alert_states on every backend: what the evaluator keeps comes back exactly, and the
request id an outbox row was written under comes back with the row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from omnihub.hub.monitoring.rules import RuleState
from omnihub.hub.request_id import bound_request_id
from omnihub.store.alerts import load_alert_states, save_alert_state
from omnihub.store.db import Database
from omnihub.store.events import delivery_row, event_row, write_outbox
from omnihub.store.outbox import fetch_undispatched

T0 = datetime(2026, 11, 26, 8, 0, 0, 123456, tzinfo=UTC)


async def test_states_round_trip_and_update(db: Database) -> None:
    firing = RuleState("dead_letters", state="firing", firing_id="01M8AAAAAAAAAAAAAAAAAAAAAA",
                       value=2.5, pending_since=T0, fired_at=T0 + timedelta(minutes=5),
                       owed="firing", notified=("webhook:https://ops.example/a",))
    await save_alert_state(db, firing, now=T0)
    assert (await load_alert_states(db)) == {"dead_letters": firing}
    resolved = RuleState("dead_letters", state="ok", firing_id=firing.firing_id, value=0.0,
                         fired_at=firing.fired_at, resolved_at=T0 + timedelta(minutes=9))
    await save_alert_state(db, resolved, now=T0 + timedelta(minutes=9))
    await save_alert_state(db, RuleState("other", state="pending", pending_since=T0), now=T0)
    states = await load_alert_states(db)
    assert states["dead_letters"] == resolved and states["other"].pending_since == T0


async def test_outbox_rows_keep_their_request_id(db: Database) -> None:
    async with db.write() as conn:
        with bound_request_id("req-42"):
            await write_outbox(conn, [event_row("message.sent", {"x": 1}, key="c1"),
                                      delivery_row("m1", "c1", "shop")])
        await write_outbox(conn, [event_row("agent.availability", {}, key=None)])
    rows = await fetch_undispatched(db, 10)
    assert [(r.type, r.request_id) for r in rows] == [
        ("message.sent", "req-42"), ("message.deliver", "req-42"), ("agent.availability", None)]
    assert "request_id" not in rows[0].payload  # never part of what receivers get
