"""The daily run of `serve` on a clock the test moves: once a day, one process, old
backups removed, retention applied after a good backup."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from omnihub.hub.daily import DailyMaintenance, next_run
from omnihub.hub.settings import HubSettings
from omnihub.store.backup import read_manifest
from omnihub.store.backup.folders import backup_name, remove_old_backups
from omnihub.store.backup.media import blob_path, relative_blob_path
from omnihub.store.db import Database
from omnihub.store.migrate import upgrade

from .world import add_conversation, conversation_ids

START = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai


def settings_for(tmp_path: Path, url: str, **backup: Any) -> HubSettings:
    return HubSettings.model_validate({
        "data_dir": str(tmp_path / "data"), "store": {"url": url},
        "backup": {"at": "03:00", "timezone": "UTC", **backup}})


@pytest.fixture
async def sqlite_db(make_store_url) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    database = Database(await make_store_url("sqlite"))
    await upgrade(database)
    yield database
    await database.dispose()


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 26, hour, minute, tzinfo=UTC) + timedelta(days=day)


async def test_backs_up_once_a_day_at_the_configured_time(
        sqlite_db: Database, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, str(sqlite_db.url), keep_days=1)
    daily = DailyMaintenance(sqlite_db, settings, holder="hub-a")
    folder = tmp_path / "data" / "backups"
    sha = hashlib.sha256(b"\x89PNG").hexdigest()
    blob_path(settings.media.dir, sha).parent.mkdir(parents=True)
    blob_path(settings.media.dir, sha).write_bytes(b"\x89PNG")
    await add_conversation(sqlite_db, status="open", age=timedelta(0), now=at(0, 0), media=(sha,))
    assert await daily.tick(at(0, 1, 30)) is None  # before 03:00: nothing, not even a catch-up
    assert daily.due == at(0, 3)
    first = await daily.tick(at(0, 3, 0))
    assert first is not None and first.leader and first.error is None
    assert first.backup == folder / backup_name(at(0, 3))
    assert read_manifest(first.backup).schema_revision
    assert await daily.tick(at(0, 3, 1)) is None
    assert await daily.tick(at(0, 23, 59)) is None
    second = await daily.tick(at(1, 3, 0, ))
    assert second is not None and second.backup == folder / backup_name(at(1, 3))
    assert sorted(p.name for p in folder.iterdir()) == [
        backup_name(at(0, 3)), backup_name(at(1, 3))]
    # The second day's media are hard links to the first's: blobs never change.
    first_blob, second_blob = (b / relative_blob_path(sha) for b in (first.backup, second.backup))
    assert first_blob.stat().st_ino == second_blob.stat().st_ino
    third = await daily.tick(at(2, 3))
    assert third is not None and third.removed == [first.backup]
    assert second_blob.read_bytes() == b"\x89PNG"
    assert read_manifest(third.backup).files[relative_blob_path(sha)].size == 4


async def test_only_one_process_of_a_cluster_backs_up(sqlite_db: Database, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, str(sqlite_db.url))
    a = DailyMaintenance(sqlite_db, settings, holder="hub-a")
    b = DailyMaintenance(sqlite_db, settings, holder="hub-b")
    for worker in (a, b):
        assert await worker.tick(at(0, 2)) is None
    reports = [await a.tick(at(0, 3)), await b.tick(at(0, 3, 0))]
    assert [r.leader for r in reports if r is not None] == [True, False]
    # b retries within the grace hour, finds the day done (the lease still held), gives up
    assert (await b.tick(at(0, 3, 30))).leader is False  # type: ignore[union-attr]
    assert (await b.tick(at(0, 4, 1))).leader is False  # type: ignore[union-attr]
    assert b.due == at(1, 3)
    assert len(list((tmp_path / "data" / "backups").iterdir())) == 1


async def test_a_failed_backup_hands_the_day_over_and_keeps_old_backups(
        sqlite_db: Database, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, str(sqlite_db.url), keep_days=2,
                            retention={"enabled": True, "default_days": 30})
    folder = tmp_path / "data" / "backups"
    old = folder / backup_name(at(-10, 3))
    old.mkdir(parents=True)
    (old / "manifest.json").write_text("{}")
    blocked = folder / backup_name(at(0, 3))  # a non-empty folder where today's must go
    blocked.mkdir()
    (blocked / "stray").write_text("x")
    closed = await add_conversation(sqlite_db, status="closed", age=timedelta(days=60),
                                    now=at(0, 3))
    a = DailyMaintenance(sqlite_db, settings, holder="hub-a")
    b = DailyMaintenance(sqlite_db, settings, holder="hub-b")
    await a.tick(at(0, 2))
    await b.tick(at(0, 2))
    failed = await a.tick(at(0, 3))
    assert failed is not None and failed.leader and failed.error is not None
    assert old.exists() and failed.removed == [] and failed.pruned is None
    assert closed in await conversation_ids(sqlite_db)  # no prune without a fresh backup
    (blocked / "stray").unlink()
    retried = await b.tick(at(0, 3, 5))  # the lease was given back: b takes the day
    assert retried is not None and retried.leader and retried.error is None
    assert retried.removed == [old] and not old.exists()
    assert retried.pruned is not None and retried.pruned.conversations == 1
    assert closed not in await conversation_ids(sqlite_db)


async def test_disabled_backup_still_prunes_when_retention_is_on(
        sqlite_db: Database, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, str(sqlite_db.url), enabled=False,
                            retention={"enabled": True, "channels": {"telegram": 7}})
    closed = await add_conversation(sqlite_db, status="resolved", age=timedelta(days=8),
                                    now=at(0, 3))
    daily = DailyMaintenance(sqlite_db, settings, holder="hub-a")
    await daily.tick(at(0, 0))
    report = await daily.tick(at(0, 3))
    assert report is not None and report.backup is None and report.pruned is not None
    assert closed not in await conversation_ids(sqlite_db)
    assert not (tmp_path / "data" / "backups").exists()


def test_next_run_follows_the_time_zone_and_daylight_saving() -> None:
    from datetime import time
    from zoneinfo import ZoneInfo

    shanghai = ZoneInfo("Asia/Shanghai")
    assert next_run(START, time(3), shanghai) == datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
    berlin = ZoneInfo("Europe/Berlin")  # 29 March 2026: clocks go 02:00 -> 03:00
    assert next_run(datetime(2026, 3, 28, 12, tzinfo=UTC), time(3), berlin) == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC)


def test_only_complete_backups_of_ours_are_removed(tmp_path: Path) -> None:
    now = at(100, 3)
    old_complete = tmp_path / backup_name(at(0, 3))
    old_partial = tmp_path / backup_name(at(1, 3))
    recent = tmp_path / backup_name(at(95, 3))
    other = tmp_path / "omnihub-backup-mine"
    for path in (old_complete, old_partial, recent, other):
        path.mkdir()
    for path in (old_complete, recent, other):
        (path / "manifest.json").write_text("{}")
    assert remove_old_backups(tmp_path, now, timedelta(days=90)) == [old_complete]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (old_partial, recent, other))


def test_backup_section_is_checked() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Base'"):
        HubSettings.model_validate({"backup": {"timezone": "Mars/Base"}})
    with pytest.raises(ValidationError, match="time of day"):
        HubSettings.model_validate({"backup": {"at": "25:00"}})
    with pytest.raises(ValidationError, match="email: days must be at least 1"):
        HubSettings.model_validate({"backup": {"retention": {"channels": {"email": 0}}}})
    with pytest.raises(ValidationError, match="Extra inputs"):
        HubSettings.model_validate({"backup": {"keep": 3}})
    empty = HubSettings.model_validate({"backup": None, "data_dir": "d"})
    assert empty.backup.enabled and not empty.backup.retention.enabled
    assert empty.backup.folder(empty.data_dir) == Path("d") / "backups"


def _daily_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "daily-maintenance"]


async def test_serve_runs_the_daily_task_unless_both_parts_are_off(
        start_hub: Any, make_store_url: Any) -> None:
    on = await start_hub({"store": {"url": await make_store_url("sqlite")},
                          "backup": {"at": "04:30", "timezone": "Asia/Shanghai"}})
    assert len(_daily_tasks()) == 1
    await on.close()
    assert _daily_tasks() == []
    off = await start_hub({"store": {"url": await make_store_url("sqlite")},
                           "backup": {"enabled": False, "retention": {"enabled": False}}})
    assert _daily_tasks() == []
    await off.close()
