"""`omnihub dead-letters list|replay` against a migrated store on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from omnihub.hub.bus import Envelope
from omnihub.hub.cli import main
from omnihub.store import outbox as ob
from omnihub.store.db import Database
from omnihub.store.migrate import upgrade


@pytest.fixture
async def migrated(store_url: str, tmp_path: Path) -> AsyncIterator[tuple[Database, Path]]:
    database = Database(store_url)
    await upgrade(database)
    config = tmp_path / "hub.yaml"
    config.write_text(f"store:\n  url: {store_url}\n")
    yield database, config
    await database.dispose()


async def invoke(*args: str) -> Result:
    """Run the command line in a thread: it starts its own event loop."""
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


def envelope(seq: int) -> Envelope:
    return Envelope(seq=seq, id=f"EV{seq:024d}", topic="event", type="message.received",
                    key="conv-1", payload={"id": f"EV{seq:024d}"},
                    created_at=datetime(2025, 6, 1, tzinfo=UTC))


async def test_list_shows_dead_letters_and_replay_revives_one(
        migrated: tuple[Database, Path]) -> None:
    db, config = migrated
    dead = await ob.record_failure(db, consumer="webhooks", envelope=envelope(1),
                                   error="HTTP 410 from https://shop.example/hook",
                                   policy=ob.RetryPolicy(), permanent=True)
    alive = await ob.record_failure(db, consumer="webhooks", envelope=envelope(2),
                                    error="timeout", policy=ob.RetryPolicy())

    listed = await invoke("dead-letters", "list", "--config", str(config))
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert lines[0].split()[:3] == ["ID", "CONSUMER", "EVENT"]
    assert len(lines) == 2
    assert lines[1].split()[:5] == [str(dead.id), "webhooks", envelope(1).id,
                                    "message.received", "1"]
    assert "HTTP 410" in lines[1]

    replayed = await invoke("dead-letters", "replay", str(dead.id), "--config", str(config))
    assert replayed.exit_code == 0, replayed.output
    assert f"dead letter {dead.id}" in replayed.output
    job = await ob.get_job(db, dead.id)
    assert job is not None and (job.status, job.attempts) == ("retry", 0)

    empty = await invoke("dead-letters", "list", "--config", str(config))
    assert empty.exit_code == 0 and "no dead letters" in empty.output

    not_dead = await invoke("dead-letters", "replay", str(alive.id), "--config", str(config))
    assert not_dead.exit_code == 1
    assert "is not dead" in not_dead.output and "Traceback" not in not_dead.output


async def test_replaying_an_unknown_id_is_a_clear_error(migrated: tuple[Database, Path]) -> None:
    _db, config = migrated
    result = await invoke("dead-letters", "replay", "424242", "--config", str(config))
    assert result.exit_code == 1
    assert "no job with id 424242" in result.output


async def test_list_limit_is_validated(migrated: tuple[Database, Path]) -> None:
    _db, config = migrated
    result = await invoke("dead-letters", "list", "--limit", "0", "--config", str(config))
    assert result.exit_code == 2
    assert "--limit" in result.output
