"""`omnihub backup` and `omnihub restore`: the store and its media, online, across databases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from omnihub.hub.commands.options import config_option, load_settings
from omnihub.hub.commands.progress import CommandProgress
from omnihub.hub.commands.store_access import run_on_store

if TYPE_CHECKING:
    from omnihub.hub.settings import HubSettings


def _available_key_ids(settings: HubSettings) -> set[str]:
    """Ids of the contact-data keys this configuration has, without generating one."""
    from omnihub.hub.keys import KEYFILE_NAME
    from omnihub.store.crypto import decode_key, key_id, load_or_create_keyfile

    security = settings.security
    if security.pii_key:
        return {key_id(decode_key(key)) for key in (security.pii_key, *security.pii_old_keys)}
    path = settings.data_dir / KEYFILE_NAME
    return {key_id(load_or_create_keyfile(path).key)} if path.is_file() else set()


def _key_notice(settings: HubSettings, needed: list[str]) -> str | None:
    """A warning when the restored contact data can't be read with the configured key."""
    missing = sorted(set(needed) - _available_key_ids(settings))
    if not missing:
        return None
    return (f"warning: the restored contact data is sealed with key id(s) {', '.join(missing)}, "
            "which this configuration does not have: put that key in place (security.pii_key "
            f"or {settings.data_dir / 'pii.key'}) before `omnihub serve`, or the addresses "
            "can't be read")


@click.command("backup")
@click.option("--to", "target", type=click.Path(path_type=Path), default=None,
              help="New folder to write the backup to "
                   "(default: backup.dir/omnihub-backup-<UTC time>).")
@config_option
def backup(target: Path | None, config_path: Path | None) -> None:
    """Back the store and its media up while the hub keeps serving.

    All tables are read in one consistent snapshot and written as compressed JSON lines
    beside the media files and a manifest of checksums; restores into any of SQLite,
    PostgreSQL or MariaDB. Contact data stays encrypted: keep the PII key (security.pii_key
    or data/pii.key) safe separately, a backup is unreadable without it.
    """
    from omnihub.store.backup import BackupError, create_backup
    from omnihub.store.backup.folders import backup_name, latest_backup

    settings = load_settings(config_path)
    if target is None:
        target = settings.backup.folder(settings.data_dir) / backup_name(datetime.now(UTC))
    progress = CommandProgress()
    try:
        manifest = run_on_store(config_path, lambda db: create_backup(
            db, target, settings.media.dir, progress=progress,
            link_from=latest_backup(target.parent)))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    rows = sum(table.rows for table in manifest.tables)
    media = manifest.media_files
    size = sum(manifest.files[path].size for path in manifest.files)
    click.echo(f"backup written to {target}: {rows} rows in {len(manifest.tables)} tables, "
               f"{len(media)} media files, {size} bytes, schema {manifest.schema_revision}")
    if manifest.pii_key_ids:
        click.echo(f"contact data in it is sealed with key id(s) {', '.join(manifest.pii_key_ids)}"
                   ": the key is not in the backup, keep it safe separately", err=True)
    if manifest.missing_media:
        click.echo(f"warning: {len(manifest.missing_media)} media file(s) referred to by the "
                   f"store were missing or damaged in {settings.media.dir} (listed in the "
                   "manifest as missing_media)", err=True)


@click.command("restore")
@click.argument("source", type=click.Path(path_type=Path))
@config_option
def restore(source: Path, config_path: Path | None) -> None:
    """Restore the backup in SOURCE into the configured, EMPTY store and media folder.

    Every file is checked against the manifest first; a store that holds any rows is
    refused. The schema is created at the backup's revision, then migrated to this
    release's.
    """
    from omnihub.store.backup import BackupCorrupt, RestoreRefused, restore_backup

    settings = load_settings(config_path)
    progress = CommandProgress()
    try:
        manifest = run_on_store(config_path, lambda db: restore_backup(
            db, source, settings.media.dir, progress=progress), require_current_schema=False)
    except BackupCorrupt as exc:
        raise click.ClickException(f"backup refused: {exc}") from None
    except RestoreRefused as exc:
        raise click.ClickException(f"restore refused: {exc}") from None
    rows = sum(table.rows for table in manifest.tables)
    click.echo(f"restored {rows} rows in {len(manifest.tables)} tables and "
               f"{len(manifest.media_files)} media files from {source} "
               f"(taken {manifest.created_at:%Y-%m-%d %H:%M:%S} UTC from {manifest.database})")
    notice = _key_notice(settings, manifest.pii_key_ids)
    if notice:
        click.echo(notice, err=True)
