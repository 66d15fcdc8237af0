"""Content-addressed media blobs on disk: the same bytes are stored once, never torn.

A blob lives at ``root/ab/cd/<sha256>``. Writes go to a temporary file in the store,
are fsynced, then renamed into place with ``os.replace`` — atomic on POSIX — and the
directory is fsynced, so a crash leaves either the whole blob or no blob, never half of
one. Because the name is the hash of the content, two writers racing on the same bytes
both end with the same correct file. The type recorded for a blob is the one its bytes
show (``sniff_mime``), not the one the sender claimed.

A disk that is full (or read-only, or failing) raises ``MediaUnwritable``: the message
that carries the blob must not be acknowledged, so its provider sends it again. The
store remembers the failure (``health()``, for /readyz) until a write succeeds or a
probe finds room again, and tells ``on_writable`` each time that changes (a metric).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import Any
from pathlib import Path, PurePosixPath, PureWindowsPath

from omnihub.normalizer.mime import sniff_mime
from omnihub.normalizer.schema import MediaRef

__all__ = [
    "DEFAULT_MAX_MEDIA_BYTES",
    "InvalidMediaId",
    "MediaError",
    "MediaNotFound",
    "MediaStore",
    "MediaTooLarge",
    "MediaUnwritable",
    "sniff_mime",
]

DEFAULT_MAX_MEDIA_BYTES = 25 * 1024 * 1024  # what the big mail providers accept per mail
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_MAX_NAME = 255


class MediaError(Exception):
    """Base of the media store's errors."""


class MediaTooLarge(MediaError):
    """A blob over the configured limit; nothing of it is kept."""

    def __init__(self, size: int, max_bytes: int) -> None:
        super().__init__(f"media of {size} bytes or more exceeds the limit of {max_bytes} bytes")
        self.size = size
        self.max_bytes = max_bytes


class MediaUnwritable(MediaError):
    """The media directory can't take the blob now (disk full, read-only, I/O error):
    nothing of it is kept, and the message carrying it must be retried later."""


#: OS errors that say "the disk", not "this blob": no space, quota, read-only, I/O
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})
_PROBE_BYTES = 4096


class InvalidMediaId(MediaError, ValueError):
    """Not a lower-case hex sha256: refused before it can name a path outside the store."""


class MediaNotFound(MediaError, LookupError):
    """No blob with that hash (never stored, or deleted by retention)."""


def _clean_name(name: str | None) -> str | None:
    """Keep only the last path component of a sender's file name, without control
    characters, so it is safe to put in a Content-Disposition header later."""
    if name is None:
        return None
    base = PureWindowsPath(PurePosixPath(name).name).name
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:_MAX_NAME] or None


def _fsync_dir(path: Path) -> None:
    """Make a rename durable: the directory entry itself must reach the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MediaStore:
    """Blobs under ``root``, each at most ``max_bytes``."""

    def __init__(self, root: Path, *, max_bytes: int = DEFAULT_MAX_MEDIA_BYTES,
                 on_writable: Callable[[bool], Any] | None = None) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._tmp = self.root / ".tmp"
        self.on_writable = on_writable
        #: why the last write failed, and how many bytes it needed; None once one succeeds
        self.write_error: str | None = None
        self._needed = 0

    def health(self) -> dict[str, Any]:
        """`{"status": "ok"}`, or `down` with the reason of the last failed write — unless
        the disk has room for that write again (a probe), which clears the failure."""
        if self.write_error is not None and self._probe():
            self._written()
        if self.write_error is None:
            return {"status": "ok"}
        return {"status": "down", "reason": self.write_error, "dir": str(self.root)}

    def _probe(self) -> bool:
        """Room for the write that failed (no space), or a small write succeeds (others)."""
        try:
            if self.write_error is not None and self.write_error.startswith("no space"):
                stat = os.statvfs(self.root)
                return stat.f_bavail * stat.f_frsize >= self._needed + _PROBE_BYTES
            tmp = self._temp_file()
            try:
                with open(tmp, "wb") as fh:
                    fh.write(b"\0" * _PROBE_BYTES)
                    fh.flush()
                    os.fsync(fh.fileno())
            finally:
                tmp.unlink(missing_ok=True)
        except OSError:
            return False
        return True

    def _failed(self, exc: OSError, needed: int) -> MediaUnwritable:
        """Remember a disk failure and turn it into MediaUnwritable; others pass through."""
        if exc.errno not in _DISK_ERRNOS:
            raise exc
        reason = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                  errno.EROFS: "read-only file system"}.get(exc.errno, "I/O error")
        was_ok = self.write_error is None
        self.write_error, self._needed = reason, needed
        if was_ok and self.on_writable is not None:
            self.on_writable(False)
        return MediaUnwritable(f"media directory {self.root} can't be written: {reason}")

    def _written(self) -> None:
        if self.write_error is not None:
            self.write_error = None
            if self.on_writable is not None:
                self.on_writable(True)

    def path_for(self, sha256: str) -> Path:
        """Where the blob with this hash lives (whether or not it exists)."""
        if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
            raise InvalidMediaId(f"not a lower-case hex sha256: {str(sha256)[:80]!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def open(self, sha256: str) -> Path:
        """Return the path of an existing blob, for serving or reading."""
        path = self.path_for(sha256)
        if not path.is_file():
            raise MediaNotFound(f"no media {sha256}")
        return path

    def delete(self, sha256: str) -> bool:
        """Remove a blob; return whether there was one."""
        try:
            self.path_for(sha256).unlink()
        except FileNotFoundError:
            return False
        return True

    def put(self, data: bytes, mime: str, name: str | None = None) -> MediaRef:
        """Store ``data`` (once per distinct content) and return its reference.

        Blocking (it fsyncs): from async code, run it in a thread or use put_stream.
        """
        if len(data) > self.max_bytes:
            raise MediaTooLarge(len(data), self.max_bytes)
        sha256 = hashlib.sha256(data).hexdigest()
        if not self.path_for(sha256).is_file():
            try:
                tmp = self._temp_file()
                try:
                    with open(tmp, "wb") as fh:
                        fh.write(data)
                        fh.flush()
                        os.fsync(fh.fileno())
                    self._commit(tmp, sha256)
                finally:
                    tmp.unlink(missing_ok=True)
            except OSError as exc:
                raise self._failed(exc, len(data)) from exc
            self._written()
        return self._ref(sha256, sniff_mime(data, mime), len(data), name)

    async def put_stream(
        self, chunks: AsyncIterator[bytes], mime: str, name: str | None = None
    ) -> MediaRef:
        """Store a download as it arrives, stopping as soon as it passes the limit."""
        digest = hashlib.sha256()
        head = b""
        size = 0
        try:
            tmp = await asyncio.to_thread(self._temp_file)
        except OSError as exc:
            raise self._failed(exc, 0) from exc
        try:
            with open(tmp, "wb") as fh:
                try:
                    async for chunk in chunks:
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise MediaTooLarge(size, self.max_bytes)
                        digest.update(chunk)
                        if len(head) < 512:
                            head += chunk[: 512 - len(head)]
                        fh.write(chunk)
                finally:
                    aclose = getattr(chunks, "aclose", None)
                    if aclose is not None:
                        await aclose()
                fh.flush()
                await asyncio.to_thread(os.fsync, fh.fileno())
            sha256 = digest.hexdigest()
            await asyncio.to_thread(self._commit, tmp, sha256)
        except OSError as exc:
            raise self._failed(exc, size) from exc
        finally:
            tmp.unlink(missing_ok=True)
        self._written()
        return self._ref(sha256, sniff_mime(head, mime), size, name)

    @staticmethod
    def _ref(sha256: str, mime: str, size: int, name: str | None) -> MediaRef:
        return MediaRef(sha256=sha256, mime=mime, size=size, name=_clean_name(name))

    def _temp_file(self) -> Path:
        """A new private file on the store's own file system, so the rename is atomic."""
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="blob-")
        os.close(fd)
        return Path(name)

    def _commit(self, tmp: Path, sha256: str) -> None:
        """Move a fully written, fsynced temp file to its content address."""
        final = self.path_for(sha256)
        if final.is_file():
            return  # same bytes already stored: content addressing makes this a no-op
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
