"""Backup folders beside each other: their names, the newest one, removing old ones.

A backup folder is named `omnihub-backup-<UTC time>` and is complete once it holds its
manifest. Only folders of that shape are ever chosen or removed; anything else an
operator keeps beside them is left alone.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from omnihub.store.backup.manifest import MANIFEST_NAME

__all__ = ["BACKUP_PREFIX", "backup_name", "backups_in", "latest_backup", "remove_old_backups"]

BACKUP_PREFIX = "omnihub-backup-"
_STAMP = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(re.escape(BACKUP_PREFIX) + r"(\d{8}T\d{6}Z)")


def backup_name(at: datetime) -> str:
    """The folder name of a backup taken at `at`: sortable, in UTC."""
    return BACKUP_PREFIX + at.astimezone(UTC).strftime(_STAMP)


def backups_in(folder: Path) -> list[tuple[datetime, Path]]:
    """The complete backups in `folder`, oldest first, with the time in their names."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _NAME.fullmatch(path.name)
        if match and (path / MANIFEST_NAME).is_file():
            found.append((datetime.strptime(match[1], _STAMP).replace(tzinfo=UTC), path))
    return sorted(found)


def latest_backup(folder: Path) -> Path | None:
    """The newest complete backup in `folder`, if any."""
    found = backups_in(folder)
    return found[-1][1] if found else None


def remove_old_backups(folder: Path, now: datetime, keep: timedelta) -> list[Path]:
    """Delete the complete backups in `folder` taken before `now - keep` (blocking)."""
    removed = []
    for taken, path in backups_in(folder):
        if taken < now - keep:
            shutil.rmtree(path)
            removed.append(path)
    return removed
