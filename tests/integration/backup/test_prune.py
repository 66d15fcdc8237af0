"""Retention: finished conversations past their period go, with everything only they use;
open, pending and snoozed ones never do."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnihub.hub.commands.prune import prune as prune_command
from omnihub.store.backup.media import blob_path
from omnihub.store.db import Database
from omnihub.store.migrate import upgrade
from omnihub.store.retention import RetentionPolicy, prune
from omnihub.store.tables import (
    conversation_watchers,
    customers,
    jobs,
    message_edits,
    messages,
    outbox,
    raw_payloads,
    read_markers,
)

from .conftest import dump
from .world import OPEN_STATUSES, add_conversation, clear, conversation_ids, count_where

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
POLICY = RetentionPolicy(default=timedelta(days=90), channels={"email": timedelta(days=365)})
CHANNELS = {"telegram": ("tg", "telegram"), "email": ("mail", "email")}
STATUSES = (*OPEN_STATUSES, "resolved", "closed")
AGES = (0, 30, 89, 91, 200, 364, 366, 1000)  # days; never on a boundary


def expected_to_go(status: str, channel: str, age_days: int) -> bool:
    period = 365 if channel == "email" else 90
    return status in ("resolved", "closed") and age_days > period


@pytest.fixture
async def sqlite_db(make_store_url) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    database = Database(await make_store_url("sqlite"))
    await upgrade(database)
    yield database
    await database.dispose()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(STATUSES), st.sampled_from(tuple(CHANNELS)),
                          st.sampled_from(AGES)), max_size=12),
       st.integers(min_value=1, max_value=4))
async def test_prune_never_deletes_an_open_conversation(
        sqlite_db: Database, tmp_path: Path, world: list[tuple[str, str, int]],
        batch_size: int) -> None:
    db = sqlite_db
    await clear(db)
    made = {}
    for status, channel, age in world:
        cid = await add_conversation(db, status=status, age=timedelta(days=age), now=NOW,
                                     channel=CHANNELS[channel])
        made[cid] = (status, channel, age)
    report = await prune(db, POLICY, now=NOW, media_root=tmp_path / "media",
                         batch_size=batch_size, pause_seconds=0)
    left = await conversation_ids(db)
    gone = set(made) - left
    assert all(made[cid][0] not in OPEN_STATUSES for cid in gone)
    assert {cid for cid, spec in made.items() if spec[0] in OPEN_STATUSES} <= left
    assert gone == {cid for cid, spec in made.items() if expected_to_go(*spec)}
    assert report.conversations == len(gone) and report.messages == 2 * len(gone)
    assert await count_where(db, messages) == 2 * len(left)
    assert await count_where(db, messages, messages.c.conversation_id.in_(gone)) == 0


async def test_prune_takes_what_only_the_conversation_used(db: Database, tmp_path: Path) -> None:
    media = tmp_path / "media"
    own, shared = "a" * 64, "b" * 64
    for sha in (own, shared):
        blob_path(media, sha).parent.mkdir(parents=True, exist_ok=True)
        blob_path(media, sha).write_bytes(b"png")
    old = await add_conversation(db, status="closed", age=timedelta(days=120), now=NOW,
                                 media=(own, shared))
    kept = await add_conversation(db, status="open", age=timedelta(days=400), now=NOW,
                                  media=(shared,))
    customers_before = await count_where(db, customers)

    report = await prune(db, POLICY, now=NOW, media_root=media, pause_seconds=0)

    assert await conversation_ids(db) == {kept}
    assert report.media_deleted == 1
    assert not blob_path(media, own).exists() and blob_path(media, shared).exists()
    for table, column in ((messages, messages.c.conversation_id),
                          (read_markers, read_markers.c.conversation_id),
                          (conversation_watchers, conversation_watchers.c.conversation_id)):
        assert await count_where(db, table, column == old) == 0
        assert await count_where(db, table, column == kept) > 0
    assert await count_where(db, message_edits) == 1
    assert await count_where(db, raw_payloads) == 2  # the kept conversation's
    # Outbox: the delivered event went; the one not yet on the bus and the one a consumer
    # still retries stay (with the kept conversation's three).
    assert await count_where(db, outbox, outbox.c.key == old) == 2
    assert await count_where(db, outbox, outbox.c.key == kept) == 3
    assert await count_where(db, jobs) == 2
    assert await count_where(db, customers) == customers_before  # customers are kept


async def test_dry_run_counts_per_channel_and_deletes_nothing(db: Database, tmp_path: Path) -> None:
    for channel, age in (("telegram", 100), ("telegram", 200), ("email", 200), ("email", 400)):
        await add_conversation(db, status="resolved", age=timedelta(days=age), now=NOW,
                               channel=CHANNELS[channel])
    await add_conversation(db, status="pending", age=timedelta(days=999), now=NOW)
    before = await dump(db)
    report = await prune(db, POLICY, now=NOW, media_root=tmp_path, dry_run=True)
    assert await dump(db) == before
    assert report.dry_run
    assert {k: (v.conversations, v.messages) for k, v in report.channels.items()} == {
        "tg": (2, 4), "mail": (1, 2)}
    real = await prune(db, POLICY, now=NOW, media_root=tmp_path, pause_seconds=0)
    assert {k: (v.conversations, v.messages) for k, v in real.channels.items()} == {
        "tg": (2, 4), "mail": (1, 2)}


def test_the_command_dry_run_prints_counts_and_the_period_can_be_given(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    async def setup() -> None:
        db = Database(url)
        await upgrade(db)
        for channel in (("tg", "telegram"), ("mail", "email")):
            await add_conversation(db, status="closed", age=timedelta(days=40),
                                   now=datetime.now(UTC), channel=channel)
        await db.dispose()

    async def left() -> int:
        db = Database(url)
        try:
            return len(await conversation_ids(db))
        finally:
            await db.dispose()

    asyncio.run(setup())
    config = tmp_path / "hub.yaml"
    config.write_text(json.dumps({"store": {"url": url}, "data_dir": str(tmp_path / "data"),
                                  "backup": {"retention": {"channels": {"email": 365}}}}))
    runner = CliRunner()
    nothing = runner.invoke(prune_command, ["--dry-run", "--config", str(config)])
    assert nothing.exit_code == 0, nothing.output
    assert nothing.stdout == "nothing to prune (default period 90d)\n"
    dry = runner.invoke(prune_command,
                        ["--older-than", "30d", "--dry-run", "--config", str(config)])
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines()[1].split() == ["tg", "telegram", "1", "2"]
    assert dry.stdout.splitlines()[-1] == "would remove 1 conversation(s), 2 message(s)"
    assert asyncio.run(left()) == 2
    done = runner.invoke(prune_command, ["--older-than", "30d", "--config", str(config)])
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[-1] == ("removed 1 conversation(s), 2 message(s) "
                                            "and 0 media file(s)")
    assert asyncio.run(left()) == 1
    bad = runner.invoke(prune_command, ["--older-than", "90", "--config", str(config)])
    assert bad.exit_code == 2 and "--older-than" in bad.stderr


def test_policy_prefers_a_channel_id_over_a_type() -> None:
    policy = RetentionPolicy(default=timedelta(days=90),
                             channels={"email": timedelta(days=365),
                                       "vip-mail": timedelta(days=30)})
    compiled = str(policy.cutoff(NOW).compile(compile_kwargs={"literal_binds": False}))
    assert compiled.index("channel_id") < compiled.index("channel_type")
    assert isinstance(policy.due(NOW), sa.ColumnElement)
