"""What a blob really is, from its first bytes, whatever type its sender declared.

A customer (or an attacker) can upload ``invoice.png`` that is a Windows program; the
workbench must not render or offer it as an image. ``sniff_mime`` trusts the magic
bytes of the common types customers send (photos, voice notes, videos, PDFs, archives)
and flags programs: a blob whose type is in ``EXECUTABLE_TYPES`` should be shown as a
download with a warning, never inline.
"""

from __future__ import annotations

__all__ = ["EXECUTABLE_TYPES", "is_executable", "sniff_mime"]

OCTET_STREAM = "application/octet-stream"
EXECUTABLE_TYPES = frozenset({
    "application/vnd.microsoft.portable-executable",  # MZ: .exe, .dll, .scr
    "application/x-executable",  # ELF
    "application/x-mach-binary",  # Mach-O
    "text/x-shellscript",  # "#!" scripts
})  # fmt: skip

# Types we can recognise from their bytes: a blob *declared* as one of them but not
# looking like it is not that type (a "PNG" without the PNG signature is not a PNG).
_SNIFFABLE = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/heif",
    "image/avif", "application/pdf", "application/zip", "audio/ogg", "audio/mpeg",
    "audio/aac", "audio/wav", "audio/amr", "audio/mp4", "video/mp4", "video/quicktime",
    "video/3gpp",
})  # fmt: skip

# Container formats whose more precise declared type we keep (a .docx is a zip).
_CONTAINER_REFINEMENTS = {
    "application/zip": (
        "application/vnd.openxmlformats-officedocument.",
        "application/vnd.oasis.opendocument.",
        "application/epub+zip",
    ),
    "video/mp4": ("video/", "audio/mp4", "audio/x-m4a"),
    "audio/ogg": ("audio/ogg", "audio/opus", "video/ogg"),
}

_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1"}
_MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")


def _iso_media(data: bytes) -> str | None:
    """Tell apart the ISO base media family (mp4, mov, 3gp, m4a, heic, avif) by brand."""
    if data[4:8] != b"ftyp":
        return None
    brand = data[8:12]
    if brand in _HEIC_BRANDS:
        return "image/heic"
    if brand in _HEIF_BRANDS:
        return "image/heif"
    if brand in (b"avif", b"avis"):
        return "image/avif"
    if brand == b"qt  ":
        return "video/quicktime"
    if brand in (b"M4A ", b"M4B "):
        return "audio/mp4"
    if brand.startswith(b"3g"):
        return "video/3gpp"
    return "video/mp4"


def _mpeg_audio(data: bytes) -> str | None:
    """An MP3 (ID3 tag or MPEG frame header) or a raw AAC (ADTS) stream."""
    if data.startswith(b"ID3"):
        return "audio/mpeg"
    if len(data) < 3 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return None
    if data[1] & 0xF6 == 0xF0:  # ADTS: 12-bit sync, layer 00
        return "audio/aac" if (data[2] >> 2) & 0x0F < 13 else None
    version, layer = (data[1] >> 3) & 0x03, (data[1] >> 1) & 0x03
    bitrate, sample_rate = data[2] >> 4, (data[2] >> 2) & 0x03
    if version == 0x01 or layer not in (0x01, 0x02) or bitrate == 0x0F or sample_rate == 0x03:
        return None  # reserved, or Layer I, which nobody sends and a UTF-16 BOM mimics
    return "audio/mpeg"


def _magic(data: bytes) -> str | None:
    """The type the leading bytes prove, or None when they prove nothing."""
    if data.startswith(b"MZ"):
        return "application/vnd.microsoft.portable-executable"
    if data.startswith(b"\x7fELF"):
        return "application/x-executable"
    if data.startswith(_MACHO_MAGICS):
        return "application/x-mach-binary"
    if data.startswith(b"#!AMR"):  # before the shebang test: AMR voice notes start "#!"
        return "audio/amr"
    if data.startswith(b"#!"):
        return "text/x-shellscript"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"RIFF") and data[8:12] == b"WAVE":
        return "audio/wav"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "application/zip"
    if data.startswith(b"OggS"):
        return "audio/ogg"
    return _iso_media(data) or _mpeg_audio(data)


def _clean_declared(declared: str | None) -> str:
    """``Image/PNG; name=x`` -> ``image/png``; nothing sensible -> octet-stream."""
    value = (declared or "").split(";", 1)[0].strip().lower()
    return value if "/" in value else OCTET_STREAM


def sniff_mime(data: bytes, declared: str | None) -> str:
    """Return the type ``data`` really has, preferring its magic bytes to ``declared``.

    Unknown bytes keep the declared type (plain text, SVG, vCards have no magic), except
    that a declared type we *can* recognise but do not see becomes octet-stream.
    """
    claimed = _clean_declared(declared)
    sniffed = _magic(data[:512])
    if sniffed is None:
        return OCTET_STREAM if claimed in _SNIFFABLE else claimed
    if claimed != sniffed and claimed.startswith(_CONTAINER_REFINEMENTS.get(sniffed, ())):
        return claimed
    return sniffed


def is_executable(mime: str) -> bool:
    """True for program types that must never be rendered or opened inline."""
    return _clean_declared(mime) in EXECUTABLE_TYPES
