"""Visitor uploads: refuse what isn't allowed, re-encode images so nothing hides in them.

The type is what the bytes show (`sniff_mime`), never what the browser claimed, so an
executable named ``cat.png`` is refused. Images are decoded and encoded again with
Pillow: orientation applied, then EXIF (GPS position, camera serial) dropped, the long
side bounded, HEIC/AVIF/WebP/PNG/GIF turned into JPEG (or WebP where there is
transparency), which every browser shows.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import PurePath

from PIL import Image, ImageOps, UnidentifiedImageError

from omnihub.normalizer.mime import is_executable, sniff_mime

try:  # iPhone photos; the wheel brings libheif, but the hub works without it
    from pillow_heif import register_heif_opener
except ImportError:  # pragma: no cover - depends on the platform's wheels
    HEIF_SUPPORTED = False
else:
    register_heif_opener()
    HEIF_SUPPORTED = True

__all__ = ["HEIF_SUPPORTED", "MAX_PIXELS", "Prepared", "UploadRefused", "prepare_upload"]

MAX_PIXELS = 50_000_000  # decoded size bound: a small file can claim a huge canvas
_QUALITY = 85


class UploadRefused(Exception):
    """An upload the channel does not take; `status` and `code` are the HTTP answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Prepared:
    data: bytes
    mime: str
    name: str | None
    is_image: bool


def prepare_upload(data: bytes, declared: str | None, name: str | None, *,
                   allowed: object, max_side: int) -> Prepared:
    """Check and (for images) re-encode one upload; blocking, run it in a thread.

    `allowed` is a callable `mime -> bool` (the channel's allowed_file_types).
    """
    if not data:
        raise UploadRefused(400, "empty_upload", "the file is empty")
    mime = sniff_mime(data, declared)
    if is_executable(mime):
        raise UploadRefused(415, "unsupported_media_type",
                            "programs are not accepted, whatever their name or type says")
    if not allowed(mime):  # type: ignore[operator]
        raise UploadRefused(415, "unsupported_media_type",
                            f"files of type {mime} are not accepted here")
    if not mime.startswith("image/"):
        return Prepared(data=data, mime=mime, name=name, is_image=False)
    encoded, out_mime = reencode_image(data, max_side=max_side)
    return Prepared(data=encoded, mime=out_mime, name=_renamed(name, out_mime), is_image=True)


def reencode_image(data: bytes, *, max_side: int) -> tuple[bytes, str]:
    """Decode, orient, shrink and encode again without metadata; return bytes and type."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as source:
                if source.width * source.height > MAX_PIXELS:
                    raise UploadRefused(413, "image_too_large",
                                        f"images are at most {MAX_PIXELS:,} pixels")
                image = ImageOps.exif_transpose(source)  # a loaded copy, upright
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UploadRefused(415, "invalid_image", f"the image can't be read: {exc}") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise UploadRefused(413, "image_too_large",
                            f"images are at most {MAX_PIXELS:,} pixels") from None
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    transparent = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info)
    out = io.BytesIO()
    if transparent:
        image.convert("RGBA").save(out, "WEBP", quality=_QUALITY)
        return out.getvalue(), "image/webp"
    image.convert("RGB").save(out, "JPEG", quality=_QUALITY, optimize=True)
    return out.getvalue(), "image/jpeg"


def _renamed(name: str | None, mime: str) -> str:
    """photo.HEIC -> photo.jpg: the name should match what is now stored."""
    stem = PurePath(name).stem if name else "image"
    return f"{stem or 'image'}.{'webp' if mime == 'image/webp' else 'jpg'}"
