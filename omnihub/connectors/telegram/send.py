"""Render an outbound message as Bot API calls: pure, no I/O besides naming blob paths.

One message may take several calls (text over Telegram's 4096-character limit, a photo
and a document, a caption over 1024 characters). Quick-reply buttons ride on the last
call as an inline keyboard, so they sit under everything the agent sent.
Limits: https://core.telegram.org/bots/api#sendmessage, #sendphoto, #inlinekeyboardbutton
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omnihub.connectors.base import OutboundMessage
from omnihub.connectors.errors import PermanentSendError
from omnihub.connectors.telegram.api import Upload
from omnihub.connectors.text import split_text as split_into
from omnihub.connectors.text import utf16_units
from omnihub.normalizer.media import MediaError, MediaStore
from omnihub.normalizer.schema import (
    CallPart,
    ContactPart,
    ImagePart,
    LocationPart,
    MediaRef,
    Part,
    TextPart,
)

__all__ = ["Call", "inline_keyboard", "render", "split_text", "text_of"]

TEXT_LIMIT = 4096  # UTF-16 code units, after entity parsing (we send plain text)
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # larger images go as documents


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    params: dict[str, Any]
    uploads: dict[str, Upload] = field(default_factory=dict)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Telegram's limit counts UTF-16 code units."""
    return split_into(text, limit, units=utf16_units)


def callback_data(label: str) -> str:
    """A button's label, cut to the 64 bytes Telegram keeps (the label is looked up again
    from the keyboard when the press comes back)."""
    return label.encode()[:CALLBACK_DATA_LIMIT].decode(errors="ignore")


def inline_keyboard(buttons: list[str]) -> dict[str, Any]:
    return {"inline_keyboard": [[{"text": b, "callback_data": callback_data(b)}]
                                for b in buttons]}


def text_of(parts: list[Part]) -> str:
    """The plain-text rendering of parts, for edits and for parts Telegram cannot carry."""
    return "\n".join(filter(None, (_as_text(p) for p in parts)))


def _as_text(part: Part) -> str | None:
    if isinstance(part, TextPart):
        return part.text
    if isinstance(part, ContactPart):
        return " ".join(filter(None, (part.name, part.phone, part.email))) or None
    if isinstance(part, CallPart):
        return f"Call ({part.status})" if part.status else "Call"
    if isinstance(part, LocationPart):
        return part.title or f"{part.latitude}, {part.longitude}"
    return getattr(part, "caption", None)


def _upload(media: MediaStore, ref: MediaRef) -> Upload:
    try:
        path = media.open(ref.sha256)
    except MediaError as exc:
        raise PermanentSendError(f"attachment is gone from the media store: {exc}") from None
    return Upload(path=path, name=ref.name or f"{ref.sha256[:12]}", mime=ref.mime)


def _part_calls(part: Part, media: MediaStore) -> list[Call]:
    if isinstance(part, TextPart):
        return [Call("sendMessage", {"text": chunk}) for chunk in split_text(part.text)]
    if isinstance(part, LocationPart):
        return [Call("sendLocation", {"latitude": part.latitude, "longitude": part.longitude})]
    if isinstance(part, ContactPart) and part.phone:
        return [Call("sendContact", {"phone_number": part.phone,
                                     "first_name": part.name or part.phone})]
    source = getattr(part, "media", None) or getattr(part, "url", None)
    if source is None:
        text = _as_text(part)
        return [Call("sendMessage", {"text": c}) for c in split_text(text)] if text else []
    as_photo = isinstance(part, ImagePart) and (
        not isinstance(source, MediaRef) or source.size <= PHOTO_MAX_BYTES)
    method, field_name = ("sendPhoto", "photo") if as_photo else ("sendDocument", "document")
    caption = getattr(part, "caption", None)
    short = caption if caption and len(caption) <= CAPTION_LIMIT else None
    if isinstance(source, MediaRef):
        call = Call(method, {"caption": short}, {field_name: _upload(media, source)})
    else:
        call = Call(method, {field_name: source, "caption": short})
    calls = [call]
    if caption and short is None:
        calls += [Call("sendMessage", {"text": chunk}) for chunk in split_text(caption)]
    return calls


def render(message: OutboundMessage, chat_id: str, media: MediaStore) -> list[Call]:
    """The Bot API calls that deliver `message` to `chat_id`, in order."""
    calls = [c for part in message.parts for c in _part_calls(part, media)]
    if not calls:
        raise PermanentSendError("nothing in this message can be sent to Telegram")
    for call in calls:
        call.params["chat_id"] = chat_id
    reply_to = message.reply_to_external_id
    if message.thread_key and reply_to and reply_to.startswith(f"{chat_id}:"):
        # In a group, answer the customer's own message so they see it is for them.
        calls[0].params["reply_parameters"] = {
            "message_id": int(reply_to.rpartition(":")[2]), "allow_sending_without_reply": True}
    if message.buttons:
        calls[-1].params["reply_markup"] = inline_keyboard(message.buttons)
    return calls
