"""The alert_states table: each alert rule's state and the notices it has sent.

Written by the one alert evaluator of a cluster (it holds a lease) after every change, so
a restart or a new leader carries on where the last one stopped: a firing alert is not
announced again, and a notice that could not be sent is still owed.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from omnihub.hub.monitoring.rules import RuleState
from omnihub.store.db import Database
from omnihub.store.tables import alert_states

__all__ = ["load_alert_states", "save_alert_state"]


def _state(row: Any) -> RuleState:
    return RuleState(name=row.name, state=row.state, firing_id=row.firing_id, value=row.value,
                     pending_since=row.pending_since, fired_at=row.fired_at,
                     resolved_at=row.resolved_at, owed=row.owed,
                     notified=tuple(row.notified or ()))


async def load_alert_states(db: Database) -> dict[str, RuleState]:
    async with db.read() as conn:
        return {row.name: _state(row) for row in await conn.execute(sa.select(alert_states))}


async def save_alert_state(db: Database, state: RuleState, *, now: Any) -> None:
    """Insert or update one rule's row (one writer per cluster: no race to guard)."""
    values = {
        "state": state.state, "firing_id": state.firing_id, "value": state.value,
        "pending_since": state.pending_since, "fired_at": state.fired_at,
        "resolved_at": state.resolved_at, "owed": state.owed,
        "notified": list(state.notified), "updated_at": now,
    }
    async with db.write() as conn:
        updated = await conn.execute(
            alert_states.update().where(alert_states.c.name == state.name).values(**values))
        if updated.rowcount == 0:
            await conn.execute(alert_states.insert().values(name=state.name, **values))
