"""`restore_backup`: a backup folder into an EMPTY store, on any of the three databases.

Order of work, each step refusing before anything is written where it can:
1. the manifest is read and every file's SHA-256 checked (a damaged file is named);
2. the store must hold no rows (a restore never merges into live data);
3. the schema is migrated to the backup's revision, the rows are inserted in one
   transaction (so a failed restore leaves the store empty) and counted against the
   manifest, PostgreSQL's sequences are moved past the restored keys;
4. the schema is migrated on to this release's head, so old backups restore into new
   releases through the ordinary migrations.
Media blobs are copied (and checked against their names) before the rows: a blob
without rows is harmless, a row without its blob is not.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.store.backup.codec import Codec, restore_table
from omnihub.store.backup.export import EXCLUDED_TABLES
from omnihub.store.backup.manifest import BackupCorrupt, Manifest, read_manifest, verify_file
from omnihub.store.backup.media import SHA256_HEX, blob_path, copy_blob, relative_blob_path
from omnihub.store.backup.progress import NO_PROGRESS, Progress
from omnihub.store.db import Database
from omnihub.store.migrate import alembic_config, current_revision, upgrade
from omnihub.store.tables import metadata

__all__ = ["RestoreRefused", "restore_backup", "verify_backup"]

DEFAULT_BATCH_ROWS = 500


class RestoreRefused(Exception):
    """The target store or the backup's schema rules the restore out; nothing was written."""


def verify_backup(root: Path, progress: Progress = NO_PROGRESS) -> Manifest:
    """Read the manifest and check every file against it (blocking: call in a thread)."""
    manifest = read_manifest(root)
    progress.begin("verify", len(manifest.files))
    try:
        for relative, entry in manifest.files.items():
            verify_file(root, relative, entry)
            progress.advance(1)
    finally:
        progress.end()
    return manifest


def _revision_path(revision: str) -> list[str]:
    """The revisions from base up to `revision`; RestoreRefused if this code lacks it."""
    script = ScriptDirectory.from_config(alembic_config())
    try:
        found = script.get_revision(revision)
    except CommandError:
        found = None
    if found is None:
        raise RestoreRefused(f"the backup's schema revision {revision} is unknown to this "
                             "omnihub release: restore it with the release that made it, or newer")
    return [r.revision for r in script.iterate_revisions(revision, "base")]


async def _rows_in_store(db: Database, wanted: set[str]) -> dict[str, int]:
    """Row counts of the non-empty tables among `wanted` (others, such as SQLite's FTS
    shadow tables that a migration fills, are not data of their own)."""

    def names(conn: sa.Connection) -> list[str]:
        return sa.inspect(conn).get_table_names()

    async with db.read() as conn:
        tables = await conn.run_sync(names)
        counts = {}
        for name in tables:
            if name not in wanted or name in EXCLUDED_TABLES:
                continue
            count = await conn.scalar(sa.select(sa.func.count()).select_from(sa.table(name)))
            if count:
                counts[name] = count
    return counts


async def _check_target(db: Database, manifest: Manifest) -> None:
    filled = await _rows_in_store(db, {table.name for table in manifest.tables}
                                  | set(metadata.tables))
    if filled:
        shown = ", ".join(f"{name} ({count} row{'s' * (count != 1)})"
                          for name, count in sorted(filled.items())[:5])
        raise RestoreRefused(f"store {db.safe_url} is not empty: {shown}; restore only into "
                             "an empty database")
    current = await current_revision(db)
    if current is not None and current not in _revision_path(manifest.schema_revision):
        raise RestoreRefused(
            f"store {db.safe_url} has schema {current}, newer than the backup's "
            f"{manifest.schema_revision}: restore into a new, empty database (omnihub creates "
            "the schema itself)")


def _read_batches(path: Path, name: str, batch_rows: int) -> Iterator[tuple[Codec, list[Any]]]:
    with gzip.open(path, "rb") as fh:
        header = orjson.loads(fh.readline())
        if header.get("table") != name:
            raise BackupCorrupt(f"{path}: holds table {header.get('table')!r}, not {name!r}")
        codec = Codec([(col, kind) for col, kind in header["columns"]])
        batch: list[Any] = []
        for line in fh:
            batch.append(codec.decode(orjson.loads(line)))
            if len(batch) >= batch_rows:
                yield codec, batch
                batch = []
        yield codec, batch


async def _load_table(conn: AsyncConnection, root: Path, name: str, file: str, expected: int,
                      batch_rows: int, progress: Progress) -> None:
    batches = _read_batches(root / file, name, batch_rows)
    done = object()
    loaded = 0
    progress.begin(name, expected)
    try:
        while (item := await asyncio.to_thread(next, batches, done)) is not done:
            codec, rows = item  # type: ignore[misc]
            if rows:
                try:
                    await conn.execute(restore_table(name, codec).insert(), rows)
                except sa.exc.DBAPIError as exc:
                    detail = " ".join(str(getattr(exc, "orig", exc)).split())
                    raise BackupCorrupt(f"{root / file}: its rows do not fit table {name} of "
                                        f"the store: {detail}") from None
                loaded += len(rows)
                progress.advance(len(rows))
    finally:
        progress.end()
    stored = await conn.scalar(sa.select(sa.func.count()).select_from(sa.table(name)))
    if loaded != expected or stored != expected:
        raise BackupCorrupt(f"{root / file}: manifest counts {expected} rows of {name}, the "
                            f"file holds {loaded} and the store now has {stored}")


async def _reset_sequences(conn: AsyncConnection, tables: list[str]) -> None:
    """PostgreSQL: move each serial column's sequence past the restored keys."""
    rows = await conn.execute(sa.text(
        "SELECT table_name, column_name, pg_get_serial_sequence(quote_ident(table_name), "
        "column_name) FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = ANY(:tables) AND pg_get_serial_sequence(quote_ident(table_name), "
        "column_name) IS NOT NULL"), {"tables": tables})
    quote = conn.dialect.identifier_preparer.quote
    for table, column, sequence in rows.all():
        await conn.execute(sa.text(
            f"SELECT setval(:seq, COALESCE((SELECT MAX({quote(column)}) FROM {quote(table)}), 0)"
            " + 1, false)"), {"seq": sequence})


async def _restore_media(root: Path, manifest: Manifest, media_root: Path,
                         progress: Progress) -> None:
    progress.begin("media", len(manifest.media_files))
    try:
        for relative in manifest.media_files:
            sha = relative.rsplit("/", 1)[-1]
            if relative != relative_blob_path(sha) or not SHA256_HEX.fullmatch(sha):
                raise BackupCorrupt(f"{root / relative}: not a media file name of a backup")
            target = blob_path(media_root, sha)
            if not target.is_file() and await asyncio.to_thread(
                    copy_blob, root / relative, target, sha) is None:
                raise BackupCorrupt(f"{root / relative}: content does not match its name")
            progress.advance(1)
    finally:
        progress.end()


async def restore_backup(db: Database, root: Path, media_root: Path, *,
                         progress: Progress = NO_PROGRESS,
                         batch_rows: int = DEFAULT_BATCH_ROWS) -> Manifest:
    """Restore the backup in `root` into the empty store `db` and the media store."""
    manifest = await asyncio.to_thread(verify_backup, root, progress)
    _revision_path(manifest.schema_revision)
    await db.ping()
    await _check_target(db, manifest)
    await upgrade(db, manifest.schema_revision)
    await _check_target(db, manifest)  # nothing slipped in meanwhile
    await _restore_media(root, manifest, media_root, progress)
    async with db.write() as conn:
        for table in manifest.tables:
            await _load_table(conn, root, table.name, table.file, table.rows, batch_rows,
                              progress)
        if db.dialect == "postgresql":
            await _reset_sequences(conn, [table.name for table in manifest.tables])
    await upgrade(db)
    return manifest
