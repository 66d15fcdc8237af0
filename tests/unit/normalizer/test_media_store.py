"""The content-addressed media store: dedupe, atomic writes, limits, safe ids."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from omnihub.normalizer.media import (
    InvalidMediaId,
    MediaNotFound,
    MediaStore,
    MediaTooLarge,
)
from omnihub.normalizer.mime import is_executable

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 64


def _blobs(root: Path) -> list[Path]:
    """Every file in the store, temp files included."""
    return sorted(p for p in root.rglob("*") if p.is_file())


async def _chunks(*parts: bytes, consumed: list[int] | None = None) -> AsyncIterator[bytes]:
    for part in parts:
        if consumed is not None:
            consumed.append(len(part))
        yield part


def test_put_stores_at_content_address(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, max_bytes=1024)
    ref = store.put(PNG, "image/png", "photo.png")
    sha = hashlib.sha256(PNG).hexdigest()
    assert (ref.sha256, ref.mime, ref.size, ref.name) == (sha, "image/png", len(PNG), "photo.png")
    path = store.open(sha)
    assert path == tmp_path / sha[:2] / sha[2:4] / sha
    assert path.read_bytes() == PNG
    assert store.exists(sha)


def test_same_bytes_are_stored_once(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, max_bytes=1024)
    first = store.put(PNG, "image/png", "a.png")
    second = store.put(PNG, "image/png", "b.png")
    assert first.sha256 == second.sha256
    assert second.name == "b.png"  # the name belongs to the reference, not the blob
    assert _blobs(tmp_path) == [store.open(first.sha256)]


def test_different_bytes_are_different_blobs(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, max_bytes=1024)
    a = store.put(b"one", "text/plain")
    b = store.put(b"two", "text/plain")
    assert a.sha256 != b.sha256
    assert len(_blobs(tmp_path)) == 2


def test_crash_before_rename_leaves_no_blob_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MediaStore(tmp_path, max_bytes=1024)

    def crash(src: object, dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        store.put(PNG, "image/png")
    monkeypatch.undo()
    assert not store.exists(hashlib.sha256(PNG).hexdigest())
    assert _blobs(tmp_path) == []
    assert store.put(PNG, "image/png").size == len(PNG)  # and the store still works


def test_blob_is_written_in_full_before_it_appears(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MediaStore(tmp_path, max_bytes=1 << 20)
    data = os.urandom(200_000)
    seen: list[bytes] = []
    real_replace = os.replace

    def checking_replace(src: str, dst: str) -> None:
        seen.append(Path(src).read_bytes())  # what is about to become visible
        assert not Path(dst).exists()
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", checking_replace)
    store.put(data, "application/octet-stream")
    assert seen == [data]


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc/passwd",
        "../" + "a" * 61,
        "a" * 63,
        "a" * 65,
        "A" * 64,
        "g" * 64,
        "/" + "a" * 63,
        "a" * 32 + "/" + "a" * 31,
        "a" * 64 + "\n",
        "",
    ],
)
def test_ids_that_are_not_sha256_hex_are_refused(tmp_path: Path, bad: str) -> None:
    store = MediaStore(tmp_path, max_bytes=1024)
    for call in (store.open, store.exists, store.delete):
        with pytest.raises(InvalidMediaId):
            call(bad)
    with pytest.raises(ValueError):  # also a ValueError, for generic 400 handling
        store.open(bad)


def test_open_missing_and_delete(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, max_bytes=1024)
    sha = store.put(b"bytes", "text/plain").sha256
    assert store.delete(sha) is True
    assert store.delete(sha) is False
    assert not store.exists(sha)
    with pytest.raises(MediaNotFound):
        store.open(sha)


def test_size_limit(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, max_bytes=10)
    assert store.put(b"x" * 10, "text/plain").size == 10
    with pytest.raises(MediaTooLarge) as info:
        store.put(b"x" * 11, "text/plain")
    assert (info.value.size, info.value.max_bytes) == (11, 10)
    assert len(_blobs(tmp_path)) == 1


def test_limit_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        MediaStore(tmp_path, max_bytes=0)


def test_elf_declared_as_png_is_recorded_as_executable(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, max_bytes=1024)
    ref = store.put(ELF, "image/png", "cute-cat.png")
    assert ref.mime == "application/x-executable"
    assert is_executable(ref.mime)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/cron.d/evil", "evil"),
        ("C:\\Users\\ann\\invoice.pdf", "invoice.pdf"),
        ("line\r\nbreak.txt", "linebreak.txt"),
        ("   ", None),
        (None, None),
        ("x" * 300 + ".pdf", "x" * 255),
    ],
)
def test_sender_file_names_are_made_safe(
    tmp_path: Path, name: str | None, expected: str | None
) -> None:
    store = MediaStore(tmp_path, max_bytes=1024)
    assert store.put(b"data", "text/plain", name).name == expected


async def test_put_stream_matches_put(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, max_bytes=1024)
    streamed = await store.put_stream(_chunks(PNG[:5], PNG[5:40], PNG[40:]), "image/png", "p.png")
    assert streamed == store.put(PNG, "image/png", "p.png")
    assert len(_blobs(tmp_path)) == 1


async def test_put_stream_sniffs_across_chunk_boundaries(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, max_bytes=1024)
    ref = await store.put_stream(_chunks(b"\x7f", b"EL", b"F\x02" + b"\x00" * 30), "image/jpeg")
    assert ref.mime == "application/x-executable"


async def test_put_stream_stops_at_the_limit(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, max_bytes=100)
    consumed: list[int] = []
    with pytest.raises(MediaTooLarge) as info:
        await store.put_stream(_chunks(*[b"x" * 40] * 10, consumed=consumed), "video/mp4")
    assert info.value.size == 120
    assert sum(consumed) == 120  # it did not download the other 280 bytes
    assert _blobs(tmp_path) == []


async def test_put_stream_failure_mid_download_stores_nothing(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, max_bytes=1024)

    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionResetError("provider hung up")

    with pytest.raises(ConnectionResetError):
        await store.put_stream(broken(), "image/png")
    assert _blobs(tmp_path) == []


async def test_put_stream_of_known_bytes_deduplicates(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, max_bytes=1024)
    first = store.put(b"hello", "text/plain")
    second = await store.put_stream(_chunks(b"hel", b"lo"), "text/plain")
    assert first.sha256 == second.sha256
    assert len(_blobs(tmp_path)) == 1
