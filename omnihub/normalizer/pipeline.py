"""The steps every inbound message goes through, whatever connector parsed it.

The full inbound chain is::

    connector.parse_webhook -> NormalizerPipeline.run -> Store.ingest
                               (identities, sanitize,    (dedupe on (channel_id,
                                bound text, check media)  external_id), identity
                                                          resolution, durable commit)

The pipeline is pure and needs no database: it only rewrites the message into canonical,
safe, bounded form. Dedupe and identity *resolution* need the database and happen in
the store's ingest transaction, so that a retry racing its original cannot store a
message twice. Media is downloaded by the connectors (provider URL ->
``MediaStore.put_stream``, which enforces the size limit while streaming); here a
``MediaRef`` is only checked, never fetched.

A step is an async callable ``(message, warnings) -> message``: it returns a new model
(``model_copy``), or the same one when it changed nothing, and appends a human-readable
line to ``warnings`` for anything it had to drop or cut. A step raises only when the message cannot be kept at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from omnihub.normalizer.addresses import InvalidAddress, normalize_identity, validate_region
from omnihub.normalizer.media import DEFAULT_MAX_MEDIA_BYTES, MediaTooLarge
from omnihub.normalizer.sanitize import bound_text as bound_utf8
from omnihub.normalizer.sanitize import bound_html, html_to_text, sanitize_html
from omnihub.normalizer.schema import CallPart, Identity, InboundMessage, Part, TextPart

__all__ = [
    "BoundText",
    "CheckMedia",
    "NormalizeIdentities",
    "NormalizerPipeline",
    "Sanitize",
    "Step",
    "default_pipeline",
]

Step = Callable[[InboundMessage, list[str]], Awaitable[InboundMessage]]

_BOUNDED_FIELDS = ("text", "caption", "transcript")


class NormalizerPipeline:
    """Run a fixed list of steps over each inbound message, collecting warnings."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps: tuple[Step, ...] = tuple(steps)

    async def run(self, msg: InboundMessage) -> tuple[InboundMessage, list[str]]:
        """Return the normalized message and what had to be dropped or cut on the way."""
        warnings: list[str] = []
        for step in self.steps:
            msg = await step(msg, warnings)
        return msg, warnings


@dataclass(frozen=True, slots=True)
class NormalizeIdentities:
    """Bring every sender address to canonical form, so identity lookup is exact.

    The primary (first) identity is the one the channel vouches for: if it is malformed
    the message cannot be attributed and ``InvalidAddress`` is raised. A malformed
    secondary identity (say, a mistyped e-mail in a shop form) is dropped with a warning
    rather than losing the customer's message. Duplicates after normalizing collapse.
    """

    default_region: str | None = None
    name: str = "normalize_identities"

    def __post_init__(self) -> None:
        validate_region(self.default_region)  # a bad region fails at start-up, not per message

    async def __call__(self, msg: InboundMessage, warnings: list[str]) -> InboundMessage:
        primary, *secondary = msg.sender.identities
        kept: list[Identity] = [normalize_identity(primary, default_region=self.default_region)]
        seen = {(kept[0].kind, kept[0].address)}
        for position, identity in enumerate(secondary, start=2):
            try:
                normalized = normalize_identity(identity, default_region=self.default_region)
            except InvalidAddress as exc:
                warnings.append(f"{self.name}: dropped sender identity #{position}: {exc}")
                continue
            if (normalized.kind, normalized.address) not in seen:
                seen.add((normalized.kind, normalized.address))
                kept.append(normalized)
        if len(kept) == len(msg.sender.identities) and all(
                a is b for a, b in zip(kept, msg.sender.identities)):
            return msg  # already canonical (a signed API post): nothing to copy
        sender = msg.sender.model_copy(update={"identities": kept})
        return msg.model_copy(update={"sender": sender})


@dataclass(frozen=True, slots=True)
class Sanitize:
    """Reduce HTML to the safe allow-list; give HTML-only parts a plain-text rendering."""

    name: str = "sanitize"

    async def __call__(self, msg: InboundMessage, warnings: list[str]) -> InboundMessage:
        parts: list[Part] = []
        for part in msg.parts:
            if isinstance(part, TextPart) and part.html is not None:
                html = sanitize_html(part.html)
                text = part.text if part.text.strip() else html_to_text(html)
                part = part.model_copy(update={"html": html or None, "text": text})
            parts.append(part)
        return _with_parts(msg, parts)


@dataclass(frozen=True, slots=True)
class BoundText:
    """Cut every text field to ``max_bytes`` of UTF-8, so one message cannot fill the store.

    HTML is cut too, then sanitized again so that the cut cannot leave a broken tag (see
    ``bound_html``); if nothing but empty markup fits, the HTML is dropped and the
    bounded plain text remains.
    """

    max_bytes: int = 65536
    name: str = "bound_text"

    async def __call__(self, msg: InboundMessage, warnings: list[str]) -> InboundMessage:
        parts: list[Part] = []
        for index, part in enumerate(msg.parts, start=1):
            update: dict[str, Any] = {}
            values = part.__dict__  # not getattr: a field the part lacks raises inside pydantic
            for field in _BOUNDED_FIELDS:
                value = values.get(field)
                if isinstance(value, str):
                    bounded, truncated = bound_utf8(value, self.max_bytes)
                    if bounded != value:
                        update[field] = bounded
                    if truncated:
                        warnings.append(self._warning(index, field, "truncated to"))
            if isinstance(part, TextPart) and part.html is not None:
                html, truncated = bound_html(part.html, self.max_bytes)
                if html != part.html:
                    update["html"] = html
                if truncated:
                    what = "truncated to" if html else "dropped, over"
                    warnings.append(self._warning(index, "html", what))
            parts.append(part.model_copy(update=update) if update else part)
        return _with_parts(msg, parts)

    def _warning(self, index: int, field: str, what: str) -> str:
        return f"{self.name}: part #{index} {field} {what} {self.max_bytes} bytes"


@dataclass(frozen=True, slots=True)
class CheckMedia:
    """Refuse media over the size limit that reached us without going through MediaStore.

    An oversized attachment is dropped with a warning (the rest of the message is still
    worth keeping); a call keeps its metadata and loses only the recording. If nothing
    is left of the message, ``MediaTooLarge`` is raised.
    """

    max_bytes: int = DEFAULT_MAX_MEDIA_BYTES
    name: str = "check_media"

    async def __call__(self, msg: InboundMessage, warnings: list[str]) -> InboundMessage:
        parts: list[Part] = []
        largest = 0
        for index, part in enumerate(msg.parts, start=1):
            if isinstance(part, CallPart):
                if part.recording is not None and part.recording.size > self.max_bytes:
                    largest = max(largest, part.recording.size)
                    warnings.append(self._warning(index, "recording", part.recording.size))
                    part = part.model_copy(update={"recording": None})
            else:
                media = part.__dict__.get("media")  # (getattr would raise and catch)
                if media is not None and media.size > self.max_bytes:
                    largest = max(largest, media.size)
                    warnings.append(self._warning(index, part.kind, media.size))
                    continue
            parts.append(part)
        if not parts:
            raise MediaTooLarge(largest, self.max_bytes)
        return _with_parts(msg, parts)

    def _warning(self, index: int, what: str, size: int) -> str:
        limit = self.max_bytes
        return f"{self.name}: part #{index} {what} of {size} bytes dropped, over {limit} bytes"


def _with_parts(msg: InboundMessage, parts: list[Part]) -> InboundMessage:
    """`msg` with these parts; `msg` itself when every part is the one it had (no copy)."""
    if len(parts) == len(msg.parts) and all(a is b for a, b in zip(parts, msg.parts)):
        return msg
    return msg.model_copy(update={"parts": parts})


def default_pipeline(
    *,
    max_text_bytes: int = 65536,
    default_region: str | None = None,
    max_media_bytes: int = DEFAULT_MAX_MEDIA_BYTES,
) -> NormalizerPipeline:
    """The pipeline the hub runs: identities, then sanitize (which may create text from
    HTML), then bound the text so created, then check media sizes."""
    return NormalizerPipeline([
        NormalizeIdentities(default_region=default_region),
        Sanitize(),
        BoundText(max_bytes=max_text_bytes),
        CheckMedia(max_bytes=max_media_bytes),
    ])  # fmt: skip
