"""Sniffing a blob's real type from its first bytes."""

from __future__ import annotations

import pytest

from omnihub.normalizer.mime import EXECUTABLE_TYPES, is_executable, sniff_mime


def _iso(brand: bytes) -> bytes:
    return b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x00\x00"


@pytest.mark.parametrize(
    ("data", "declared", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/png", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/jpeg", "image/png"),
        (b"GIF89a\x01\x00", "image/gif", "image/gif"),
        (b"GIF87a\x01\x00", None, "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/jpeg", "image/webp"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/x-wav", "audio/wav"),
        (b"%PDF-1.7\n", "application/octet-stream", "application/pdf"),
        (b"PK\x03\x04\x14\x00", "application/octet-stream", "application/zip"),
        (b"OggS\x00\x02", "audio/ogg; codecs=opus", "audio/ogg"),
        (b"OggS\x00\x02", "audio/opus", "audio/opus"),
        (b"ID3\x04\x00", "audio/mp3", "audio/mpeg"),
        (b"\xff\xfb\x90\x64\x00", "application/octet-stream", "audio/mpeg"),
        (b"\xff\xf1\x50\x80\x00", "application/octet-stream", "audio/aac"),
        (b"#!AMR\n", "audio/amr", "audio/amr"),
        (_iso(b"isom"), "application/octet-stream", "video/mp4"),
        (_iso(b"mp42"), "video/mp4", "video/mp4"),
        (_iso(b"qt  "), "video/mp4", "video/quicktime"),
        (_iso(b"M4A "), "audio/mpeg", "audio/mp4"),
        (_iso(b"3gp4"), "video/mp4", "video/3gpp"),
        (_iso(b"heic"), "image/jpeg", "image/heic"),
        (_iso(b"mif1"), "image/jpeg", "image/heif"),
        (_iso(b"avif"), "image/png", "image/avif"),
        # executables are called what they are, whatever was declared
        (b"MZ\x90\x00\x03", "image/png", "application/vnd.microsoft.portable-executable"),
        (b"\x7fELF\x02\x01", "image/png", "application/x-executable"),
        (b"\xcf\xfa\xed\xfe\x07", "image/jpeg", "application/x-mach-binary"),
        (b"#!/bin/sh\nrm -rf ~\n", "image/gif", "text/x-shellscript"),
        # no magic: the declared type stands, unless it is one whose magic we know
        (b"hello", "text/plain; charset=utf-8", "text/plain"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", "image/svg+xml"),
        (b"BEGIN:VCARD", "Text/VCard", "text/vcard"),
        (b"hello", "image/png", "application/octet-stream"),
        (b"hello", "application/pdf", "application/octet-stream"),
        (b"hello", "", "application/octet-stream"),
        (b"hello", None, "application/octet-stream"),
        (b"hello", "nonsense", "application/octet-stream"),
        (b"", "image/jpeg", "application/octet-stream"),
        (b"\xff\xfeh\x00i\x00", "text/plain", "text/plain"),  # UTF-16 text, not MP3
        # containers keep their more precise declared type
        (b"PK\x03\x04", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (b"PK\x03\x04", "application/epub+zip", "application/epub+zip"),
        (b"PK\x03\x04", "image/png", "application/zip"),
    ],
)
def test_sniff_mime(data: bytes, declared: str | None, expected: str) -> None:
    assert sniff_mime(data, declared) == expected


def test_executable_types() -> None:
    assert all(is_executable(mime) for mime in EXECUTABLE_TYPES)
    assert is_executable("Application/X-Executable; foo=bar")
    assert not is_executable("image/png")
