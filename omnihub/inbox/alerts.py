"""`GET /api/v1/alerts`: every alert rule of hub.yaml with where it stands now.

The state comes from the alert_states table that the cluster's evaluator keeps, so any
process answers the same; a rule never evaluated yet shows as `ok` without a value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from omnihub.hub.http import json_response
from omnihub.hub.monitoring.rules import RuleState
from omnihub.hub.runtime import HUB
from omnihub.store.alerts import load_alert_states


class AlertView(BaseModel):
    name: str
    description: str
    severity: Literal["info", "warning", "critical"]
    condition: str  # the rule in words: `omnihub_dead_letters > 0 for 300s`
    metric: str
    labels: dict[str, str]
    op: str
    threshold: float
    for_seconds: float
    state: Literal["ok", "pending", "firing"]
    value: float | None  # the figure at the last evaluation (None: no data)
    firing_id: str | None  # the current or last firing; the notices' event ids start with it
    pending_since: datetime | None
    fired_at: datetime | None
    resolved_at: datetime | None


class AlertList(BaseModel):
    items: list[AlertView]


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/alerts", list_alerts)


async def list_alerts(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    states = await load_alert_states(hub.db)
    items = []
    for rule in hub.settings.alerts.rules:
        state = states.get(rule.name, RuleState(rule.name))
        items.append(AlertView(
            name=rule.name, description=rule.description, severity=rule.severity,
            condition=rule.describe(), metric=rule.metric, labels=rule.labels, op=rule.op,
            threshold=rule.threshold, for_seconds=rule.for_,
            state=state.state,  # type: ignore[arg-type]
            value=state.value, firing_id=state.firing_id, pending_since=state.pending_since,
            fired_at=state.fired_at, resolved_at=state.resolved_at))
    return json_response(AlertList(items=items))
