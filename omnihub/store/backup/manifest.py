"""manifest.json: what a backup holds, and the checks a restore makes before trusting it.

The manifest is written last (a backup without one is incomplete) and lists every file
of the backup with its size and SHA-256, the row count of every table, the schema
revision the rows were read at and the omnihub version that wrote them.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = [
    "MANIFEST_NAME",
    "BackupCorrupt",
    "FileEntry",
    "Manifest",
    "TableEntry",
    "read_manifest",
    "sha256_file",
    "verify_file",
    "write_manifest",
]

MANIFEST_NAME = "manifest.json"
FORMAT = 1
_CHUNK = 1024 * 1024


class BackupCorrupt(Exception):
    """A backup that is incomplete or does not match its manifest; names the file."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Model):
    sha256: str
    size: int


class TableEntry(_Model):
    name: str
    rows: int
    file: str  # relative to the backup folder


class Manifest(_Model):
    format: int = FORMAT
    created_at: datetime
    omnihub_version: str
    schema_revision: str
    database: str  # the dialect the rows came from: sqlite | postgresql | mysql
    tables: list[TableEntry]
    #: every file of the backup but the manifest, by path relative to the backup folder
    files: dict[str, FileEntry]
    #: media blobs the rows refer to that were not in the media store at backup time
    missing_media: list[str] = []
    #: ids (not the keys!) of the contact-data keys the encrypted columns need
    pii_key_ids: list[str] = []

    @property
    def media_files(self) -> list[str]:
        return [path for path in self.files if path.startswith("media/")]


def sha256_file(path: Path) -> FileEntry:
    """Size and SHA-256 of a file, read in chunks (blocking: call it in a thread)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileEntry(sha256=digest.hexdigest(), size=size)


def verify_file(root: Path, relative: str, expected: FileEntry) -> None:
    """Raise BackupCorrupt naming the file unless it exists with the expected checksum."""
    path = root / relative
    if ".." in Path(relative).parts or Path(relative).is_absolute():
        raise BackupCorrupt(f"{relative}: path outside the backup folder")
    if not path.is_file():
        raise BackupCorrupt(f"{path}: missing from the backup")
    actual = sha256_file(path)
    if actual != expected:
        raise BackupCorrupt(f"{path}: checksum mismatch (expected sha256 {expected.sha256}, "
                            f"{expected.size} bytes; found {actual.sha256}, {actual.size} bytes)")


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Write manifest.json durably: the backup counts as complete only once it is there."""
    path = root / MANIFEST_NAME
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(manifest.model_dump_json(indent=2))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_manifest(root: Path) -> Manifest:
    """The manifest of the backup in `root`; BackupCorrupt if it is missing or unreadable."""
    path = root / MANIFEST_NAME
    if not root.is_dir():
        raise BackupCorrupt(f"{root}: no such backup folder")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BackupCorrupt(f"{path}: missing (an incomplete backup has no manifest)") from None
    try:
        manifest = Manifest.model_validate_json(text)
    except ValidationError as exc:
        raise BackupCorrupt(f"{path}: not a valid omnihub backup manifest: "
                            f"{exc.errors()[0]['msg']}") from None
    if manifest.format != FORMAT:
        raise BackupCorrupt(f"{path}: backup format {manifest.format}, this omnihub reads {FORMAT}")
    for table in manifest.tables:
        if table.file not in manifest.files:
            raise BackupCorrupt(f"{path}: table {table.name} names {table.file}, "
                                "which the manifest lists no checksum for")
    return manifest
