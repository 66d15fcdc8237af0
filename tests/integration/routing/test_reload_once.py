"""A refused routing.yaml is refused once: the watcher and a manual reload both seeing the
same edit must not count it (or log it) twice."""

from __future__ import annotations

from pathlib import Path

from omnihub.hub.metrics import Metrics
from omnihub.router.runtime import RoutingState

from .conftest import routing_file


def test_the_same_refused_file_counts_once(tmp_path: Path) -> None:
    path = routing_file(tmp_path)
    metrics = Metrics()
    state = RoutingState(path, metrics=metrics)
    path.write_text(path.read_text().replace("group: support}", "group: suport}"))
    assert state.reload() is False and state.last_error is not None
    first = state.last_error
    assert state.reload() is False
    assert state.last_error is first
    assert "omnihub_routing_reload_errors_total 1.0" in metrics.render().decode()
    path.write_text(path.read_text().replace("group: suport}", "group: suppport}"))
    assert state.reload() is False and state.last_error is not first  # a new edit counts
    assert "omnihub_routing_reload_errors_total 2.0" in metrics.render().decode()
