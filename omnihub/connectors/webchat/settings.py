"""Settings of a web chat channel (`type: webchat`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from omnihub.connectors.base import ChannelSettings

MiB = 1024 * 1024

#: what visitors may upload unless the operator says otherwise; a trailing `*` is a prefix
DEFAULT_FILE_TYPES: tuple[str, ...] = (
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/heif",
    "image/avif", "application/pdf", "text/plain", "text/csv", "application/zip",
    "application/vnd.openxmlformats-officedocument.*", "application/vnd.oasis.opendocument.*",
)  # fmt: skip


class WebchatSettings(ChannelSettings):
    type: Literal["webchat"] = "webchat"
    #: signs visitor tokens (min. 16 characters); changing it signs every visitor out
    secret: str = Field(min_length=16)
    #: the shop's key for identity verification: user_hash = hex HMAC-SHA256(key, user_id);
    #: unset, every visitor stays anonymous and claimed identities are refused
    identity_secret: str | None = Field(default=None, min_length=16)
    #: origins (scheme://host[:port]) whose pages may embed the widget; "*" allows any.
    #: The hub's own origin (the demo page) is always allowed.
    allowed_origins: list[str] = Field(default_factory=list)
    max_upload_bytes: int = Field(default=10 * MiB, gt=0, le=100 * MiB)
    #: images are re-encoded with their long side at most this many pixels
    max_image_side: int = Field(default=2048, ge=64, le=8192)
    allowed_file_types: list[str] = Field(default_factory=lambda: list(DEFAULT_FILE_TYPES))
    title: str = Field(default="Chat with us", max_length=80)
    greeting: str | None = Field(default="Hi! How can we help you today?", max_length=500)
    #: how long a token vouching for a shop-identified user stays valid, in seconds
    identified_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=30 * 86400)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        cleaned = []
        for value in values:
            origin = value.rstrip("/")
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"an origin is scheme://host[:port] or '*', got {value!r}")
            cleaned.append(origin.lower())
        return cleaned

    def file_type_allowed(self, mime: str) -> bool:
        """True when `mime` matches an entry of allowed_file_types (exactly or by prefix*)."""
        return any(mime.startswith(t[:-1]) if t.endswith("*") else mime == t
                   for t in self.allowed_file_types)

    def origin_allowed(self, origin: str | None, own_origins: tuple[str, ...]) -> bool:
        """No Origin header (not a browser) is allowed: the visitor token still decides."""
        if origin is None:
            return True
        origin = origin.rstrip("/").lower()
        return "*" in self.allowed_origins or origin in self.allowed_origins or origin in own_origins
