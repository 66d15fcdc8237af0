"""Staged rollout of routing.yaml: a sticky split, the version recorded on each
conversation, promote and rollback, both versions in the API, and the stats comparison."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from omnihub.hub.cli import main
from omnihub.normalizer.ids import new_id
from omnihub.router.canary import CanaryState, end_canary, promote_canary, start_canary
from omnihub.router.ingest_hook import RoutingHook
from omnihub.router.runtime import RoutingState
from omnihub.store import Store
from omnihub.store.audit import Actor
from omnihub.store.crypto import PiiCipher, derive_index_key
from omnihub.store.db import Database
from omnihub.store.migrate import upgrade
from omnihub.store.routing_stats import compare_versions
from omnihub.store.stats import StatsQuery

from .conftest import KEY, HubClient, api_post, inbound, routing_file


def candidate_file(tmp_path: Path) -> Path:
    """desk.yaml with one change: general questions go to support instead of sales."""
    stable = routing_file(tmp_path)
    candidate = tmp_path / "routing.new.yaml"
    text = stable.read_text()
    assert "then: {category: inquiry, group: sales}" in text
    candidate.write_text(text.replace("then: {category: inquiry, group: sales}",
                                      "then: {category: inquiry, group: support}"))
    return candidate


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_split_is_sticky_and_close_to_its_percentage(tmp_path: Path) -> None:
    data = tmp_path / "data"
    start_canary(data, candidate_file(tmp_path), 10)
    state = CanaryState(data)
    customers = [new_id() for _ in range(10_000)]
    chosen = {c for c in customers if state.pick(c) is not None}
    assert abs(len(chosen) / len(customers) * 100 - 10) <= 1.5
    again = CanaryState(data)  # another process, or a restart: the same customers
    assert {c for c in customers if again.pick(c) is not None} == chosen
    start_canary(data, candidate_file(tmp_path), 25)  # raising the share keeps everyone in
    assert again.reload()
    wider = {c for c in customers if again.pick(c) is not None}
    assert chosen < wider and abs(len(wider) / len(customers) * 100 - 25) <= 1.5


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
async def rollout(request: pytest.FixtureRequest, make_store_url, tmp_path: Path
                  ) -> AsyncIterator[tuple[Store, RoutingState, CanaryState]]:  # type: ignore[no-untyped-def]
    db = Database(await make_store_url(request.param))
    await upgrade(db)
    routing = RoutingState(routing_file(tmp_path))
    start_canary(tmp_path / "data", candidate_file(tmp_path), 30)
    canary = CanaryState(tmp_path / "data")
    store = Store(db, PiiCipher([KEY], derive_index_key(KEY)),
                  router=RoutingHook(routing, canary))
    await store.start()
    try:
        yield store, routing, canary
    finally:
        await store.close()
        await db.dispose()


async def test_each_conversation_records_the_version_that_routed_it(rollout) -> None:  # type: ignore[no-untyped-def]
    store, routing, canary = rollout
    assert canary.current is not None
    seen = {"stable": 0, "canary": 0}
    created = []
    for n in range(40):
        result = await store.ingest(inbound(f"m-{n}", f"customer-{n}", "a question"))
        conversation = await store.get_conversation(result.message.conversation_id)
        assert conversation is not None
        created.append(conversation)
        if canary.current.takes(conversation.customer_id):
            seen["canary"] += 1
            assert conversation.group == "support"
            assert conversation.routing_version == canary.current.version.sha256
        else:
            seen["stable"] += 1
            assert conversation.group == "sales"
            assert conversation.routing_version == routing.current.sha256
    assert seen["canary"] and seen["stable"]  # 30% of 40 customers: both versions ran

    # the stats compare them: a transfer counts for the version that routed the conversation
    canary_sha, stable_sha = canary.current.version.sha256, routing.current.sha256
    assert canary_sha is not None and stable_sha is not None
    moved = next(c for c in created if c.routing_version == canary_sha)
    await store.transfer(moved.id, group="returns", assignee=None, reason="a return",
                         actor=Actor("sue", "supervisor"))
    start = min(c.created_at for c in created) - timedelta(seconds=1)
    query = StatsQuery(start, datetime.now(UTC) + timedelta(seconds=1))
    versions = await compare_versions(store.db, query,
                                      {canary_sha: "canary", stable_sha: "stable"})
    assert [(v.label, v.version, v.conversations) for v in versions] == [
        ("canary", canary_sha, seen["canary"]), ("stable", stable_sha, seen["stable"])]
    assert (versions[0].transfers.total, versions[1].transfers.total) == (1, 0)


def test_promote_puts_the_candidate_in_force_and_ends_the_canary(tmp_path: Path) -> None:
    data = tmp_path / "data"
    candidate = candidate_file(tmp_path)
    routing = RoutingState(routing_file(tmp_path))
    start_canary(data, candidate, 10)
    canary = CanaryState(data)
    candidate.write_text("# edited after the start: the approved copy is what runs\n"
                         + candidate.read_text())
    stable_path = routing.path
    assert stable_path is not None
    promoted = promote_canary(data, stable_path)
    assert sha(stable_path) == promoted.sha256 != sha(candidate)
    assert routing.reload() and routing.current.sha256 == promoted.sha256
    assert canary.reload() and canary.current is None
    assert sorted(p.name for p in data.iterdir()) == []


def test_rollback_ends_the_canary_and_leaves_the_stable_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    stable = routing_file(tmp_path)
    before = sha(stable)
    start_canary(data, candidate_file(tmp_path), 10)
    canary = CanaryState(data)
    assert canary.current is not None
    assert end_canary(data) is not None
    assert canary.reload() and canary.current is None and canary.pick("anyone") is None
    assert sha(stable) == before
    assert end_canary(data) is None


def test_a_broken_canary_state_keeps_the_running_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    start_canary(data, candidate_file(tmp_path), 10)
    canary = CanaryState(data)
    running = canary.current
    (data / "routing.canary.yaml").write_text("groups: [\n")  # not what the state names
    (data / "routing-canary.json").write_text(
        (data / "routing-canary.json").read_text().replace('"percent": 10.0', '"percent": 20.0'))
    assert not canary.reload()
    assert canary.current is running and canary.last_error is not None


def run_cli(tmp_path: Path, *args: str) -> tuple[int, str]:
    hub_yaml = tmp_path / "hub.yaml"
    if not hub_yaml.exists():
        hub_yaml.write_text(json.dumps({"data_dir": str(tmp_path / "data"),
                                        "routing": str(routing_file(tmp_path))}))
    result = CliRunner().invoke(main, ["routing", *args, "--config", str(hub_yaml)])
    return result.exit_code, result.output


def test_the_commands(tmp_path: Path) -> None:
    candidate = candidate_file(tmp_path)
    broken = tmp_path / "broken.yaml"
    broken.write_text(candidate.read_text().replace("group: support}", "group: suport}"))
    code, out = run_cli(tmp_path, "canary", str(broken), "--percent", "10")
    assert code == 1 and f"{broken}:" in out and "suport" in out
    assert not (tmp_path / "data" / "routing-canary.json").exists()
    code, out = run_cli(tmp_path, "canary", str(candidate), "--percent", "10")
    assert code == 0, out
    code, out = run_cli(tmp_path, "status")
    assert code == 0 and "10% of customers" in out
    code, out = run_cli(tmp_path, "rollback")
    assert code == 0 and "rolled back" in out
    code, out = run_cli(tmp_path, "promote")
    assert code == 1 and "no routing canary" in out
    assert run_cli(tmp_path, "canary", str(candidate), "--percent", "10")[0] == 0
    code, out = run_cli(tmp_path, "promote")
    assert code == 0, out
    assert sha(tmp_path / "routing" / "routing.yaml") == sha(candidate)
    code, out = run_cli(tmp_path, "canary", str(candidate), "--percent", "100")
    assert code == 2  # outside (0, 100): a usage error


async def test_both_versions_in_the_api_and_compared_in_the_stats(
        make_hub, make_store_url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client: HubClient = await make_hub(await make_store_url("sqlite"),
                                       extra={"routing": str(routing_file(tmp_path))})
    hub = client.hub
    assert hub.canary is not None
    start_canary(hub.settings.data_dir, candidate_file(tmp_path), 50)
    hub.canary.reload()  # what the watcher does when the file appears
    supervisor = await client.token("supervisor", "sue")
    body = await (await client.http.get("/api/v1/routing", headers=supervisor)).json()
    stable_sha, canary_sha = body["version"]["sha256"], body["canary"]["version"]["sha256"]
    assert stable_sha != canary_sha and body["canary"]["version"]["percent"] == 50
    assert canary_sha == sha(candidate_file(tmp_path))

    conversations = []
    for n in range(12):
        resp = await client.post_message(api_post(f"m-{n}", customer=f"c-{n}", text="hi"))
        assert resp.status == 200
        message = await hub.store.get_message((await resp.json())["messages"][0]["id"])
        assert message is not None
        conversations.append(await hub.store.get_conversation(message.conversation_id))
    by_version: dict[str, list[str]] = {stable_sha: [], canary_sha: []}
    for conversation in conversations:
        by_version[conversation.routing_version].append(conversation.id)
    assert by_version[stable_sha] and by_version[canary_sha]
    moved = by_version[canary_sha][0]
    resp = await client.http.post(f"/api/v1/conversations/{moved}/transfer", headers=supervisor,
                                  json={"group": "returns", "reason": "a return"})
    assert resp.status == 200, await resp.text()
    answered = by_version[stable_sha][0]
    resp = await client.http.post(f"/api/v1/conversations/{answered}/messages",
                                  headers=supervisor, json={"text": "hello!"})
    assert resp.status in (200, 201), await resp.text()

    stats = await (await client.http.get("/api/v1/stats", headers=supervisor)).json()
    versions = {v["label"]: v for v in stats["routing_versions"]}
    assert [v["label"] for v in stats["routing_versions"]] == ["canary", "stable"]
    assert versions["canary"]["version"] == canary_sha
    assert versions["canary"]["conversations"] == len(by_version[canary_sha])
    assert versions["stable"]["conversations"] == len(by_version[stable_sha])
    assert versions["canary"]["transfers"] == {
        "conversations": 1, "total": 1, "rate": 1 / len(by_version[canary_sha])}
    assert versions["stable"]["transfers"]["total"] == 0
    assert versions["stable"]["first_response"]["count"] == 1
    assert versions["stable"]["first_response_sla"]["met"] == 1
    assert versions["canary"]["first_response"]["count"] == 0


async def test_a_running_hub_learns_of_the_canary_from_its_file(tmp_path: Path) -> None:
    import asyncio

    data = tmp_path / "data"
    state = CanaryState(data)
    assert state.current is None
    async with state.watching(debounce_ms=50):
        await asyncio.sleep(0.2)  # let the watcher start before the command runs
        start_canary(data, candidate_file(tmp_path), 10)
        for _ in range(100):
            if state.current is not None:
                break
            await asyncio.sleep(0.05)
        assert state.current is not None and state.current.percent == 10
        end_canary(data)
        for _ in range(100):
            if state.current is None:
                break
            await asyncio.sleep(0.05)
    assert state.current is None
