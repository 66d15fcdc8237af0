"""Pure parsing of Twilio Messaging webhooks (SMS, MMS, WhatsApp): form in, schema out.

One URL per channel takes both kinds of request Twilio sends:
- an incoming message (https://www.twilio.com/docs/messaging/guides/webhook-request):
  `SmsStatus=received`, `Body`, `NumMedia` + `MediaUrlN`/`MediaContentTypeN`, and for
  WhatsApp `ProfileName`, `WaId`, `MessageType`, `Latitude`/`Longitude`,
  `ButtonText`/`ButtonPayload`, `OriginalRepliedMessageSid`;
- a status callback for a message we sent
  (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status):
  `MessageStatus` (queued … delivered, read, failed, undelivered) with `ErrorCode`.
Media is not fetched here: a media part comes back with a `MediaToFetch` beside it.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ValidationError

from omnihub.connectors.base import DeliveryUpdate
from omnihub.connectors.errors import BadPayload, UnsupportedEvent
from omnihub.connectors.pending import Pending
from omnihub.normalizer.schema import (
    AudioPart,
    FilePart,
    Identity,
    ImagePart,
    InboundMessage,
    LocationPart,
    Part,
    Sender,
    TextPart,
    VideoPart,
)

__all__ = [
    "EVENTS",
    "IDENTITY_KIND",
    "MAX_MEDIA",
    "MediaToFetch",
    "MessagingEvent",
    "event_type",
    "parse_messaging",
    "sender_address",
]

IDENTITY_KIND = "phone"  # SMS, WhatsApp and a call share it: one person, one customer
MAX_MEDIA = 10  # Twilio's own limit per message
VCARD_TYPES = frozenset({"text/vcard", "text/x-vcard", "text/directory"})

Form = Mapping[str, str]
ChannelType = Literal["twilio_sms", "twilio_whatsapp"]


@dataclass(frozen=True, slots=True)
class MediaToFetch:
    """A Twilio media URL a part stands for; the connector downloads it with credentials."""

    url: str
    mime: str
    name: str
    contact: bool = False  # a vCard: becomes a contact part once read


@dataclass(slots=True)
class MessagingEvent:
    """What one Messaging webhook asks of the hub."""

    messages: list[Pending[InboundMessage, MediaToFetch]] = field(default_factory=list)
    statuses: list[DeliveryUpdate] = field(default_factory=list)
    ignored: str | None = None


#: Twilio's MessageStatus -> ours. Statuses before "sent" (queued, accepted, scheduled,
#: sending) say nothing the hub does not know: our own send marks the message sent.
STATUS_MAP: dict[str, Literal["sent", "delivered", "read", "failed"] | None] = {
    "accepted": None,
    "scheduled": None,
    "queued": None,
    "sending": None,
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "failed",
    "canceled": "failed",
    "partially_delivered": None,
    "receiving": None,
    "received": None,
}


#: error codes worth a word to the agent (https://www.twilio.com/docs/api/errors)
KNOWN_ERRORS = {
    "63016": "outside WhatsApp's 24-hour customer service window; only an approved "
             "template can reach this customer until they write again",
    "30003": "unreachable destination handset",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "filtered by the carrier as spam",
}


def _require(form: Form, name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise BadPayload(f"missing form field {name}")
    return value


def event_type(form: Form) -> str:
    """`status` for a status callback, `message` for an incoming message."""
    if "MessageStatus" in form:
        return "status"
    if form.get("SmsStatus", "received") == "received" and (
            "Body" in form or "NumMedia" in form):
        return "message"
    raise UnsupportedEvent(f"Twilio request without a message or a status "
                           f"(SmsStatus={form.get('SmsStatus', '')[:32]!r})")


def sender_address(form: Form) -> str:
    """The sender's number as Twilio wrote it, without the `whatsapp:` prefix; the
    normalizer brings it to E.164."""
    value = _require(form, "From")
    prefix, sep, rest = value.partition(":")
    return rest if sep and prefix.lower() in ("whatsapp", "sms", "tel") else value


def _int(form: Form, name: str, default: int = 0) -> int:
    raw = form.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadPayload(f"form field {name} is not a number: {raw[:32]!r}") from None


def _media_name(url: str, mime: str, index: int) -> str:
    sid = url.rstrip("/").rpartition("/")[2] or f"media{index}"
    return sid + (mimetypes.guess_extension(mime, strict=False) or "")


def _media(form: Form) -> tuple[list[Part], dict[int, MediaToFetch]]:
    count = _int(form, "NumMedia")
    if not 0 <= count <= MAX_MEDIA:
        raise BadPayload(f"NumMedia {count} is out of range 0..{MAX_MEDIA}")
    parts: list[Part] = []
    files: dict[int, MediaToFetch] = {}
    for i in range(count):
        url = _require(form, f"MediaUrl{i}")
        mime = form.get(f"MediaContentType{i}", "").strip().lower() or "application/octet-stream"
        fetch = MediaToFetch(url=url, mime=mime, name=_media_name(url, mime, i),
                             contact=mime in VCARD_TYPES)
        major = mime.partition("/")[0]
        part: Part
        if major == "image":
            part = ImagePart(url=url)
        elif major == "audio":
            part = AudioPart(url=url)
        elif major == "video":
            part = VideoPart(url=url)
        else:
            part = FilePart(url=url)
        files[len(parts)] = fetch
        parts.append(part)
    return parts, files


def _location(form: Form) -> list[Part]:
    if not form.get("Latitude") or not form.get("Longitude"):
        return []
    try:
        return [LocationPart(latitude=float(form["Latitude"]),
                             longitude=float(form["Longitude"]),
                             title=form.get("Label") or form.get("Address") or None)]
    except (ValueError, ValidationError):
        raise BadPayload("Latitude/Longitude are not coordinates") from None


def _on_message(channel_type: ChannelType, channel_id: str, form: Form,
                raw: bytes | None) -> MessagingEvent:
    sid = _require(form, "MessageSid") if "MessageSid" in form else _require(form, "SmsSid")
    body = form.get("Body", "")
    # a quick-reply tap: Body carries the button's text too, ButtonText says so plainly
    text = body if body.strip() else form.get("ButtonText", "")
    parts: list[Part] = [TextPart(text=text)] if text.strip() else []
    media_parts, files = _media(form)
    offset = len(parts)
    parts += media_parts
    parts += _location(form)
    if not parts:
        raise UnsupportedEvent(f"message {sid[:40]} has no content Omnihub can show "
                               f"(MessageType={form.get('MessageType', '')[:32]!r})")
    name = form.get("ProfileName", "").strip() or None
    message = InboundMessage(
        channel_id=channel_id,
        channel_type=channel_type,
        external_id=sid,
        sender=Sender(identities=[Identity(kind=IDENTITY_KIND, address=sender_address(form),
                                           verified=True)],
                      display_name=name),
        parts=parts,
        reply_to_external_id=form.get("OriginalRepliedMessageSid") or None,
        raw=raw,
        raw_content_type="application/x-www-form-urlencoded",
    )
    return MessagingEvent(messages=[Pending(message, {offset + i: f for i, f in files.items()})])


def _on_status(channel_type: ChannelType, channel_id: str, form: Form,
               raw: bytes | None) -> MessagingEvent:
    sid = _require(form, "MessageSid") if "MessageSid" in form else _require(form, "SmsSid")
    twilio_status = form.get("MessageStatus", "").strip().lower()
    if twilio_status not in STATUS_MAP:
        raise UnsupportedEvent(f"unknown MessageStatus {twilio_status[:32]!r}")
    status = STATUS_MAP[twilio_status]
    if status is None:
        return MessagingEvent(ignored=f"status {twilio_status}")
    error = None
    if status == "failed":
        code = form.get("ErrorCode", "").strip()
        detail = form.get("ErrorMessage", "").strip()
        explained = detail or KNOWN_ERRORS.get(code) or twilio_status
        error = f"Twilio error {code}: {explained}" if code else f"Twilio: {explained}"
    return MessagingEvent(statuses=[DeliveryUpdate(external_id=sid, status=status, error=error)])


Handler = Callable[[ChannelType, str, Form, "bytes | None"], MessagingEvent]

#: one handler per kind of request (Zulip's EVENT_FUNCTION_MAPPER)
EVENTS: dict[str, Handler] = {
    "message": _on_message,
    "status": _on_status,
}


def parse_messaging(channel_type: ChannelType, channel_id: str, form: Form,
                    raw: bytes | None = None) -> MessagingEvent:
    """A verified Messaging webhook's form as schema; BadPayload if it is not Twilio's shape,
    UnsupportedEvent for requests that carry nothing for the hub."""
    return EVENTS[event_type(form)](channel_type, channel_id, form, raw)
