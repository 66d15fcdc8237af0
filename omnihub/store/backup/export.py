"""`create_backup`: a consistent online backup of the store and the media it refers to.

Every table of omnihub's schema (store/tables.py) is read inside ONE snapshot
transaction (backup/snapshot.py) in primary-key order, a batch at a time (keyset paging,
so memory stays flat), and written as gzip'd JSON lines (backup/codec.py). The format is
logical, not a database file, so a backup of SQLite restores into PostgreSQL or MariaDB
and back. The hub keeps serving meanwhile: readers block no writer on any of the three.

The backup is assembled in a hidden `.NAME.partial` folder beside the target and renamed
into place once its manifest is written, so a folder with the backup's name is complete.
"""

from __future__ import annotations

import asyncio
import gzip
import importlib.metadata
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.store.backup.codec import Codec
from omnihub.store.backup.manifest import (
    BackupCorrupt,
    FileEntry,
    Manifest,
    TableEntry,
    read_manifest,
    sha256_file,
    write_manifest,
)
from omnihub.store.backup.media import blob_path, collect_media_refs, copy_blob, relative_blob_path
from omnihub.store.backup.progress import NO_PROGRESS, Progress
from omnihub.store.backup.snapshot import snapshot
from omnihub.store.db import Database
from omnihub.store.tables import metadata

__all__ = ["EXCLUDED_TABLES", "BackupError", "backup_tables", "create_backup"]

#: coordination state of the running processes, meaningless (and harmful: a restored
#: lease would block its worker) in another cluster
EXCLUDED_TABLES = frozenset({"leases"})
DEFAULT_BATCH_ROWS = 1000


class BackupError(Exception):
    """The backup could not be made; the message says why."""


def backup_tables() -> list[sa.Table]:
    """The tables a backup holds, parents before children (the order a restore needs)."""
    return [table for table in metadata.sorted_tables if table.name not in EXCLUDED_TABLES]


def omnihub_version() -> str:
    try:
        return importlib.metadata.version("omnihub")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "unknown"


class _TableWriter:
    """One table's file: a header line, then a JSON array per row, gzip'd."""

    def __init__(self, path: Path, table: str, codec: Codec) -> None:
        self.codec = codec
        #: ids of the keys that sealed the encrypted columns ("<key id>:<sealed>" tokens)
        self.key_ids: set[str] = set()
        self._sealed = [i for i, (name, kind) in enumerate(codec.columns)
                        if kind == "str" and name.endswith("_enc")]
        self._raw: IO[bytes] = open(path, "wb")  # noqa: SIM115 (closed, fsynced in close())
        self._fh = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=6)
        self._fh.write(orjson.dumps({"table": table, "columns": codec.columns}) + b"\n")
        self._json = [i for i, (_, kind) in enumerate(codec.columns) if kind == "json"]

    def write(self, rows: list[Row[Any]], refs: set[str]) -> None:
        width = len(self.codec.columns)
        lines = []
        for row in rows:
            values = row[:width]
            for index in self._json:
                if values[index] is not None:
                    collect_media_refs(values[index], refs)
            for index in self._sealed:
                token = values[index]
                if isinstance(token, str) and ":" in token:
                    self.key_ids.add(token.partition(":")[0])
            lines.append(orjson.dumps(self.codec.encode(values, row[width:])))
        self._fh.write(b"\n".join(lines) + b"\n")

    def close(self) -> None:
        """Finish the gzip stream and make the file durable before the manifest names it."""
        try:
            self._fh.close()
            self._raw.flush()
            os.fsync(self._raw.fileno())
        finally:
            self._raw.close()


def keyset_after(key: list[sa.Column[Any]], last: tuple[Any, ...]) -> sa.ColumnElement[bool]:
    """Rows past `last` in primary-key order (keyset paging)."""
    if len(key) == 1:
        return key[0] > last[0]
    return sa.tuple_(*key) > sa.tuple_(*(sa.literal(v, c.type) for c, v in zip(key, last)))


async def _export_table(conn: AsyncConnection, table: sa.Table, folder: Path, refs: set[str],
                        key_ids: set[str], batch_rows: int, progress: Progress) -> TableEntry:
    codec = Codec.for_table(table)
    columns = list(table.columns)
    key = list(table.primary_key.columns)
    key_index = [columns.index(c) for c in key]
    null_flags = [c.is_(None).label(f"_omnihub_null_{i}")
                  for i, c in enumerate(columns) if isinstance(c.type, sa.JSON)]
    total = await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0
    relative = f"tables/{table.name}.jsonl.gz"
    writer = await asyncio.to_thread(_TableWriter, folder / relative, table.name, codec)
    progress.begin(table.name, total)
    written = 0
    last: tuple[Any, ...] | None = None
    try:
        while True:
            stmt = sa.select(*columns, *null_flags).order_by(*key).limit(batch_rows)
            if last is not None:
                stmt = stmt.where(keyset_after(key, last))
            rows = list((await conn.execute(stmt)).all())
            if not rows:
                break
            await asyncio.to_thread(writer.write, rows, refs)
            written += len(rows)
            progress.advance(len(rows))
            last = tuple(rows[-1][i] for i in key_index)
            if len(rows) < batch_rows:
                break
    finally:
        await asyncio.to_thread(writer.close)
        progress.end()
    key_ids |= writer.key_ids
    return TableEntry(name=table.name, rows=written, file=relative)


def _previous_media(link_from: Path | None) -> dict[str, FileEntry]:
    """The media files of an earlier backup, by path; none if it is unreadable."""
    if link_from is None:
        return {}
    try:
        return {path: entry for path, entry in read_manifest(link_from).files.items()
                if path.startswith("media/")}
    except BackupCorrupt:
        return {}


def _link(source: Path, target: Path) -> bool:
    """Hard-link a blob of an earlier backup; False where links can't be made."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        return False
    return True


async def _copy_media(refs: set[str], media_root: Path, folder: Path, progress: Progress,
                      link_from: Path | None) -> tuple[dict[str, FileEntry], list[str]]:
    """Copy the referenced blobs; those the previous backup holds are hard-linked from it
    (blobs never change), so daily backups don't each hold a copy of all media."""
    previous = await asyncio.to_thread(_previous_media, link_from)
    copied: dict[str, FileEntry] = {}
    missing: list[str] = []
    progress.begin("media", len(refs))
    try:
        for sha in sorted(refs):
            relative = relative_blob_path(sha)
            if (relative in previous and link_from is not None and await asyncio.to_thread(
                    _link, link_from / relative, folder / relative)):
                copied[relative] = previous[relative]
            else:
                entry = await asyncio.to_thread(copy_blob, blob_path(media_root, sha),
                                                folder / relative, sha)
                if entry is None:
                    missing.append(sha)
                else:
                    copied[relative] = entry
            progress.advance(1)
    finally:
        progress.end()
    return copied, missing


def _prepare(target: Path) -> Path:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} already exists and is not an empty folder")
    work = target.with_name(f".{target.name}.partial")
    shutil.rmtree(work, ignore_errors=True)  # left by a backup that was killed
    (work / "tables").mkdir(parents=True)
    return work


def _publish(work: Path, target: Path) -> None:
    if target.exists():
        target.rmdir()  # checked empty before we started
    os.replace(work, target)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def create_backup(db: Database, target: Path, media_root: Path, *,
                        progress: Progress = NO_PROGRESS,
                        batch_rows: int = DEFAULT_BATCH_ROWS,
                        link_from: Path | None = None) -> Manifest:
    """Back the store and its referenced media up into the new folder `target`.

    `link_from`: an earlier backup whose media files are hard-linked rather than copied.
    """
    from omnihub.store.migrate import head_revision

    work = await asyncio.to_thread(_prepare, target)
    try:
        refs: set[str] = set()
        key_ids: set[str] = set()
        entries: list[TableEntry] = []
        created_at = datetime.now(UTC)
        async with snapshot(db) as snap:
            if snap.revision != head_revision():
                raise BackupError(f"store schema at {snap.revision}, this omnihub writes "
                                  f"{head_revision()}: run `omnihub migrate` first")
            for table in backup_tables():
                entries.append(await _export_table(snap.conn, table, work, refs, key_ids,
                                                   batch_rows, progress))
            revision = snap.revision
        files = {entry.file: await asyncio.to_thread(sha256_file, work / entry.file)
                 for entry in entries}
        media, missing = await _copy_media(refs, media_root, work, progress, link_from)
        manifest = Manifest(created_at=created_at, omnihub_version=omnihub_version(),
                            schema_revision=revision, database=db.dialect, tables=entries,
                            files={**files, **media}, missing_media=missing,
                            pii_key_ids=sorted(key_ids))
        await asyncio.to_thread(write_manifest, work, manifest)
        await asyncio.to_thread(_publish, work, target)
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, work, True)
        raise
    return manifest
