"""Hot reload of routing.yaml: a valid edit takes effect, an invalid one is refused with
its line, in the state, the metrics and GET /api/v1/routing."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

import pytest

from omnihub.hub.metrics import Metrics
from omnihub.router.runtime import RoutingState

from .conftest import HubClient, routing_file

BROKEN = [
    pytest.param("  sales: {agents: [ann, bob, cat], strategy: round_robin, capacity: 2}",
                 "  sales: {agents: [ann, bob, cat], strategy: round_robbin, capacity: 2}",
                 "groups.sales.strategy", id="unknown strategy"),
    pytest.param("    then: {category: repair, group: support}",
                 "    then: {category: repair, group: suport}",
                 "rules.2.then.group", id="rule names a missing group"),
    pytest.param("  api: {priority: 40,", "  api: {priority: 40, first_response: soon,",
                 "channels.api.first_response", id="bad duration"),
]


def edit(path: Path, old: str, new: str) -> int:
    """Replace one line; return its 1-based line number."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return text[: text.index(old)].count("\n") + 1


def test_a_valid_edit_takes_effect(tmp_path: Path) -> None:
    path = routing_file(tmp_path)
    metrics = Metrics()
    state = RoutingState(path, metrics=metrics)
    before = state.current
    assert state.reload() is False  # unchanged file: nothing to do
    edit(path, "capacity: 2}\n  support", "capacity: 4}\n  support")
    assert state.reload() is True
    assert state.current.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert state.current.sha256 != before.sha256
    assert state.router is not None and state.router.groups["sales"].capacity == 4
    rendered = metrics.render().decode()
    assert f'omnihub_routing_version_info{{path="{path}",sha256="{state.current.sha256}"}} 1.0' \
        in rendered
    assert before.sha256 not in rendered


def test_a_reload_logs_the_new_versions_hash(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """Operators match the log against `GET /api/v1/routing` and `sha256sum routing.yaml`."""
    path = routing_file(tmp_path)
    state = RoutingState(path)
    old = state.current.sha256
    assert old is not None
    edit(path, "capacity: 2}\n  support", "capacity: 4}\n  support")
    new = hashlib.sha256(path.read_bytes()).hexdigest()
    with caplog.at_level(logging.INFO, logger="omnihub.router"):
        assert state.reload() is True
    [record] = [r for r in caplog.records if "reloaded" in r.getMessage()]
    assert record.levelno == logging.INFO
    assert f"{path} reloaded: sha256 {new[:12]} in force" in record.getMessage()
    assert old[:12] not in record.getMessage()


@pytest.mark.parametrize(("old", "new", "key"), BROKEN)
def test_an_invalid_edit_is_refused_with_its_line(tmp_path: Path, old: str, new: str, key: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    path = routing_file(tmp_path)
    metrics = Metrics()
    state = RoutingState(path, metrics=metrics)
    before = state.current
    line = edit(path, old, new)
    with caplog.at_level(logging.ERROR, logger="omnihub.router"):
        assert state.reload() is False
    assert state.current is before
    assert state.last_error is not None
    errors = state.last_error.errors
    assert [(e.line, e.key_path) for e in errors] == [(line, key)]
    assert f"{path}:{line}:" in caplog.text
    assert "omnihub_routing_reload_errors_total 1.0" in metrics.render().decode()
    assert "omnihub_routing_config_valid 0.0" in metrics.render().decode()


def test_a_missing_file_keeps_the_running_version(tmp_path: Path) -> None:
    path = routing_file(tmp_path)
    state = RoutingState(path)
    path.unlink()
    assert state.reload() is False
    assert state.router is not None
    assert state.last_error is not None and "routing.yaml" in state.last_error.errors[0].file


def test_no_routing_file_means_no_router() -> None:
    state = RoutingState(None)
    assert state.router is None and state.reload() is False
    assert state.to_dict()["version"]["sha256"] is None


async def test_the_watcher_reloads_on_change(tmp_path: Path) -> None:
    path = routing_file(tmp_path)
    state = RoutingState(path)
    first = state.current.sha256
    async with state.watching(debounce_ms=50):
        await asyncio.sleep(0.2)  # let the watcher start before the edit
        replacement = path.with_suffix(".new")  # editors save by renaming over the file
        replacement.write_text(path.read_text().replace("capacity: 2}", "capacity: 3}", 1))
        replacement.replace(path)
        for _ in range(100):
            if state.current.sha256 != first:
                break
            await asyncio.sleep(0.05)
    assert state.current.sha256 != first
    assert state.router is not None and state.router.groups["sales"].capacity == 3


async def test_the_endpoint_shows_the_version_in_force_and_the_last_error(
        make_hub, make_store_url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = routing_file(tmp_path)
    client: HubClient = await make_hub(await make_store_url("sqlite"),
                                       extra={"routing": str(path)})
    supervisor = await client.token("supervisor", "sue")
    agent = await client.token("agent", "ann")
    resp = await client.http.get("/api/v1/routing", headers=agent)
    assert resp.status == 403
    body = await (await client.http.get("/api/v1/routing", headers=supervisor)).json()
    good = body["version"]["sha256"]
    assert good == hashlib.sha256(path.read_bytes()).hexdigest()
    assert body["version"]["path"] == str(path) and body["last_error"] is None

    line = edit(path, "group: support}", "group: suport}")
    client.hub.routing.reload()
    body = await (await client.http.get("/api/v1/routing", headers=supervisor)).json()
    assert body["version"]["sha256"] == good
    error = body["last_error"]["errors"][0]
    assert (error["line"], error["key"]) == (line, "rules.2.then.group")
    assert error["text"].startswith(f"{path}:{line}:")
    metrics = await (await client.http.get("/metrics")).text()
    assert "omnihub_routing_reload_errors_total 1.0" in metrics
