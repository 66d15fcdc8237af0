"""The alert state machine and the histogram quantile, without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from omnihub.hub.monitoring.rules import RuleState, histogram_quantile, step
from omnihub.hub.monitoring.settings import AlertRule

T0 = datetime(2026, 11, 26, tzinfo=UTC)
RULE = AlertRule.model_validate({"name": "overdue", "metric": "omnihub_conversations_overdue",
                                 "op": ">", "threshold": 10, "for": "5m"})


def ids() -> str:
    return "F1"


def test_pending_then_firing_then_resolved() -> None:
    state, change = step(RULE, RuleState("overdue"), 11, T0, ids)
    assert (state.state, change, state.pending_since) == ("pending", None, T0)
    state, change = step(RULE, state, 12, T0 + timedelta(minutes=5), ids)
    assert (state.state, change, state.owed, state.firing_id) == ("firing", "firing", "firing", "F1")
    state, change = step(RULE, state, 12, T0 + timedelta(minutes=6), ids)
    assert change is None and state.state == "firing"
    state, change = step(RULE, state, 3, T0 + timedelta(minutes=7), ids)
    assert (state.state, change, state.owed) == ("ok", "resolved", "resolved")
    assert state.firing_id == "F1" and state.resolved_at == T0 + timedelta(minutes=7)


def test_no_data_is_not_a_breach() -> None:
    state, _ = step(RULE, RuleState("overdue", state="pending", pending_since=T0), None,
                    T0 + timedelta(minutes=9), ids)
    assert state.state == "ok" and state.pending_since is None


@pytest.mark.parametrize(("q", "expected"), [
    (0.5, 0.1 * 50 / 95), (0.9, 0.1 * 90 / 95), (0.99, 0.1 + 0.9 * 4 / 5)])
def test_histogram_quantile_interpolates_in_the_bucket(q: float, expected: float) -> None:
    # 100 observations: 95 in (0, 0.1], 5 in (0.1, 1.0]
    buckets = {0.1: 95.0, 1.0: 100.0, float("inf"): 100.0}
    assert histogram_quantile(q, buckets) == pytest.approx(expected)


def test_histogram_quantile_without_observations_is_none() -> None:
    assert histogram_quantile(0.99, {0.1: 0.0, float("inf"): 0.0}) is None


def test_past_the_last_bound_is_the_last_bound() -> None:
    assert histogram_quantile(0.99, {0.1: 0.0, 1.0: 0.0, float("inf"): 10.0}) == 1.0
