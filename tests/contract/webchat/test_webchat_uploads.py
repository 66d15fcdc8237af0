"""Uploads: executables refused whatever they claim, images re-encoded without metadata."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from omnihub.connectors.webchat.settings import WebchatSettings
from omnihub.connectors.webchat.uploads import HEIF_SUPPORTED, UploadRefused, prepare_upload

SETTINGS = WebchatSettings(id="web", secret="s" * 16)


def prepare(data: bytes, declared: str | None, name: str | None = "x"):  # type: ignore[no-untyped-def]
    return prepare_upload(data, declared, name, allowed=SETTINGS.file_type_allowed,
                          max_side=SETTINGS.max_image_side)


def photo(fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB", **save: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 30)).save(out, fmt, **save)
    return out.getvalue()


def exif_with_gps() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° when shown
    exif[0x010F] = "SpyCam"  # camera make
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 12.0)  # GPS latitude
    return exif


@pytest.mark.parametrize(("data", "declared"), [
    (b"MZ\x90\x00" + b"\x00" * 200, "image/png"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "image/jpeg"),
    (b"#!/bin/sh\nrm -rf /\n", "text/plain"),
])
def test_programs_are_refused_whatever_they_claim(data: bytes, declared: str) -> None:
    with pytest.raises(UploadRefused) as caught:
        prepare(data, declared, "cute-cat.png")
    assert (caught.value.status, caught.value.code) == (415, "unsupported_media_type")


def test_a_claimed_image_that_is_not_one_is_refused() -> None:
    with pytest.raises(UploadRefused) as caught:
        prepare(b"just some bytes" * 10, "image/png")
    assert caught.value.status == 415


def test_a_broken_image_is_refused_by_name() -> None:
    with pytest.raises(UploadRefused) as caught:
        prepare(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "image/png")
    assert caught.value.code == "invalid_image"


def test_exif_is_dropped_and_orientation_applied() -> None:
    data = photo("JPEG", size=(80, 40), exif=exif_with_gps())
    assert b"SpyCam" in data
    prepared = prepare(data, "image/jpeg", "IMG_0001.JPG")
    assert prepared.mime == "image/jpeg" and prepared.name == "IMG_0001.jpg"
    assert b"SpyCam" not in prepared.data
    with Image.open(io.BytesIO(prepared.data)) as out:
        assert out.size == (40, 80)  # turned upright
        assert not out.getexif()


def test_the_long_side_is_bounded() -> None:
    with Image.open(io.BytesIO(prepare(photo("PNG", size=(5000, 1000)), "image/png").data)) as out:
        assert out.size == (2048, 410) and out.format == "JPEG"


def test_webp_becomes_jpeg_and_transparency_becomes_webp() -> None:
    assert prepare(photo("WEBP"), "image/webp").mime == "image/jpeg"
    clear = prepare(photo("PNG", mode="RGBA"), "image/png", "logo.png")
    assert (clear.mime, clear.name) == ("image/webp", "logo.webp")


def test_heic_becomes_jpeg() -> None:
    assert HEIF_SUPPORTED, "pillow-heif (a pinned dependency) is not installed"
    data = photo("HEIF")
    prepared = prepare(data, "image/heic", "IMG_1.HEIC")
    assert (prepared.mime, prepared.name) == ("image/jpeg", "IMG_1.jpg")


def test_files_are_kept_as_they_are_when_allowed() -> None:
    pdf = b"%PDF-1.4\n%fake but sniffable\n"
    prepared = prepare(pdf, "application/pdf", "invoice.pdf")
    assert (prepared.data, prepared.mime, prepared.is_image) == (pdf, "application/pdf", False)
    with pytest.raises(UploadRefused):
        prepare(b"<svg onload=alert(1)>", "image/svg+xml")
