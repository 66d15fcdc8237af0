"""Media blobs in a backup: which ones the rows refer to, copied with their checksums.

A media reference is any JSON object with a `sha256` of 64 lower-case hex digits (the
shape of normalizer.schema.MediaRef), wherever it sits: message parts, edit history,
event payloads. The backup keeps the media store's layout (`media/ab/cd/<sha256>`), and
since a blob's name is its hash, every copy is checked against its own name.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from omnihub.store.backup.manifest import FileEntry

__all__ = ["SHA256_HEX", "blob_path", "collect_media_refs", "copy_blob", "relative_blob_path"]

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1024 * 1024


def collect_media_refs(value: Any, into: set[str]) -> None:
    """Add the sha256 of every media reference inside a decoded JSON value to `into`."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            sha = item.get("sha256")
            if isinstance(sha, str) and SHA256_HEX.fullmatch(sha):
                into.add(sha)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def relative_blob_path(sha256: str) -> str:
    """Where a blob sits inside a backup folder."""
    return f"media/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def blob_path(root: Path, sha256: str) -> Path:
    """Where a blob sits in a media store (normalizer.media.MediaStore's layout)."""
    return root / sha256[:2] / sha256[2:4] / sha256


def copy_blob(source: Path, target: Path, sha256: str) -> FileEntry | None:
    """Copy one blob, checking its content against its name; None if absent or damaged.

    The copy is written to a temporary name and renamed, so a target never holds half a
    blob. Blocking: call it in a thread.
    """
    if not source.is_file():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".blob-")
    tmp = Path(tmp_name)
    try:
        with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        if digest.hexdigest() != sha256:
            return None
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return FileEntry(sha256=sha256, size=size)

