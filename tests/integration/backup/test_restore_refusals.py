"""A restore refuses a damaged or incomplete backup, and a store that already holds data."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from omnihub.hub.commands.backup import backup, restore
from omnihub.store.backup import BackupCorrupt, RestoreRefused, create_backup, restore_backup
from omnihub.store.backup.media import relative_blob_path
from omnihub.store.db import Database
from omnihub.store.migrate import upgrade
from omnihub.store.tables import messages

from .conftest import seed


@pytest.fixture
async def made(make_hub: Callable[..., Any], make_store_url: Any,
               backup_dir: Callable[[str], Path]) -> dict[str, Any]:
    """A backup of a seeded SQLite hub, and a fresh empty SQLite URL to restore into."""
    url = await make_store_url("sqlite")
    client = await make_hub(url)
    ids = await seed(client)
    target = backup_dir("b")
    await create_backup(client.hub.db, target, client.hub.settings.media.dir)
    return {"backup": target, "target_url": await make_store_url("sqlite"), **ids}


async def _restore(url: str, folder: Path, media: Path) -> None:
    db = Database(url)
    try:
        await restore_backup(db, folder, media)
    finally:
        await db.dispose()


async def _rows(url: str) -> int:
    db = Database(url)
    try:
        async with db.read() as conn:
            names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
            if "messages" not in names:
                return 0
            return await conn.scalar(sa.select(sa.func.count()).select_from(messages))
    finally:
        await db.dispose()


def _flip_byte(path: Path, offset: int = 40) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


async def test_a_damaged_table_file_is_named_and_nothing_is_restored(
        made: dict[str, Any], tmp_path: Path) -> None:
    damaged = made["backup"] / "tables" / "messages.jsonl.gz"
    _flip_byte(damaged)
    with pytest.raises(BackupCorrupt, match=str(damaged)):
        await _restore(made["target_url"], made["backup"], tmp_path / "media")
    assert await _rows(made["target_url"]) == 0


async def test_a_damaged_media_file_is_named(made: dict[str, Any], tmp_path: Path) -> None:
    blob = made["backup"] / relative_blob_path(made["image"])
    _flip_byte(blob, offset=3)
    with pytest.raises(BackupCorrupt, match=str(blob)):
        await _restore(made["target_url"], made["backup"], tmp_path / "media")


async def test_a_file_whose_rows_do_not_match_the_manifest_count_is_refused(
        made: dict[str, Any], tmp_path: Path) -> None:
    """A file rewritten with a matching checksum (a tampered manifest) still fails the count."""
    path = made["backup"] / "tables" / "messages.jsonl.gz"
    lines = gzip.decompress(path.read_bytes()).splitlines()
    path.write_bytes(gzip.compress(b"\n".join(lines[:-1]) + b"\n"))
    manifest_path = made["backup"] / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    from omnihub.store.backup.manifest import sha256_file

    manifest["files"]["tables/messages.jsonl.gz"] = sha256_file(path).model_dump()
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BackupCorrupt, match="messages"):
        await _restore(made["target_url"], made["backup"], tmp_path / "media")
    assert await _rows(made["target_url"]) == 0  # one transaction: nothing half-restored


async def test_a_backup_without_manifest_is_incomplete(
        made: dict[str, Any], tmp_path: Path) -> None:
    (made["backup"] / "manifest.json").unlink()
    with pytest.raises(BackupCorrupt, match="manifest.json: missing"):
        await _restore(made["target_url"], made["backup"], tmp_path / "media")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mysql"])
async def test_a_store_with_rows_is_refused(made: dict[str, Any], make_store_url: Any,
                                            backend: str, tmp_path: Path) -> None:
    url = await make_store_url(backend)
    await _restore(url, made["backup"], tmp_path / "media")
    before = await _rows(url)
    with pytest.raises(RestoreRefused,
                       match=r"is not empty: api_tokens \(1 row\), audit_log \(3 rows\)"):
        await _restore(url, made["backup"], tmp_path / "media")
    assert await _rows(url) == before


async def test_a_migrated_but_empty_store_is_accepted(made: dict[str, Any], tmp_path: Path) -> None:
    db = Database(made["target_url"])
    await upgrade(db)
    await db.dispose()
    await _restore(made["target_url"], made["backup"], tmp_path / "media")
    assert await _rows(made["target_url"]) == 6


def _config(tmp_path: Path, name: str, url: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps({"store": {"url": url}, "data_dir": str(tmp_path / name)}))
    return path


def test_the_commands_back_up_restore_and_refuse_with_the_file_named(
        tmp_path: Path, made: dict[str, Any]) -> None:
    source = _config(tmp_path, "source", f"sqlite:///{tmp_path / 'data' / 'cli.db'}")
    runner = CliRunner()
    from omnihub.hub.commands.migrate import migrate

    assert runner.invoke(migrate, ["--config", str(source)]).exit_code == 0
    folder = tmp_path / "cli-backup"
    made_backup = runner.invoke(backup, ["--to", str(folder), "--config", str(source)])
    assert made_backup.exit_code == 0, made_backup.output
    assert made_backup.stdout.startswith(f"backup written to {folder}: 0 rows")
    assert "messages: 0" in made_backup.stderr  # not a terminal: one line per step

    target = _config(tmp_path, "target", made["target_url"])
    restored = runner.invoke(restore, [str(made["backup"]), "--config", str(target)])
    assert restored.exit_code == 0, restored.output
    assert restored.stdout.startswith("restored ")
    # The key is not in the backup: a target without it is told so.
    assert "warning: the restored contact data is sealed with key id(s)" in restored.stderr
    keyed = _config(tmp_path, "keyed", f"sqlite:///{tmp_path / 'keyed.db'}")
    (tmp_path / "keyed").mkdir()
    shutil.copy(tmp_path / "data" / "pii.key", tmp_path / "keyed" / "pii.key")
    with_key = runner.invoke(restore, [str(made["backup"]), "--config", str(keyed)])
    assert with_key.exit_code == 0, with_key.output
    assert "warning" not in with_key.stderr
    again = runner.invoke(restore, [str(made["backup"]), "--config", str(target)])
    assert again.exit_code == 1
    assert "restore refused: store" in again.stderr and "not empty" in again.stderr

    _flip_byte(folder / "tables" / "customers.jsonl.gz")
    other = _config(tmp_path, "other", f"sqlite:///{tmp_path / 'other.db'}")
    damaged = runner.invoke(restore, [str(folder), "--config", str(other)])
    assert damaged.exit_code == 1
    assert f"{folder / 'tables' / 'customers.jsonl.gz'}: checksum mismatch" in damaged.stderr
    exists = runner.invoke(backup, ["--to", str(made["backup"]), "--config", str(source)])
    assert exists.exit_code == 1 and "not an empty folder" in exists.stderr


def _set_revision(folder: Path, revision: str) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["schema_revision"] = revision
    path.write_text(json.dumps(manifest))


async def test_a_backup_from_an_unknown_schema_is_refused(
        made: dict[str, Any], tmp_path: Path) -> None:
    _set_revision(made["backup"], "9999")
    with pytest.raises(RestoreRefused, match="revision 9999 is unknown to this omnihub release"):
        await _restore(made["target_url"], made["backup"], tmp_path / "media")


async def test_a_store_at_a_newer_schema_than_the_backup_is_refused(
        made: dict[str, Any], tmp_path: Path) -> None:
    db = Database(made["target_url"])
    await upgrade(db)
    await db.dispose()
    _set_revision(made["backup"], "0001")
    with pytest.raises(RestoreRefused, match="newer than the backup's 0001"):
        await _restore(made["target_url"], made["backup"], tmp_path / "media")
