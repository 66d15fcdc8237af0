"""Backups of the store: a logical, cross-database export with its media and a manifest.

See export.py for how a backup is taken online, restore.py for what a restore checks.
"""

from __future__ import annotations

from omnihub.store.backup.export import BackupError, backup_tables, create_backup
from omnihub.store.backup.manifest import MANIFEST_NAME, BackupCorrupt, Manifest, read_manifest
from omnihub.store.backup.progress import NO_PROGRESS, Progress
from omnihub.store.backup.restore import RestoreRefused, restore_backup, verify_backup

__all__ = [
    "MANIFEST_NAME",
    "NO_PROGRESS",
    "BackupCorrupt",
    "BackupError",
    "Manifest",
    "Progress",
    "RestoreRefused",
    "backup_tables",
    "create_backup",
    "read_manifest",
    "restore_backup",
    "verify_backup",
]
