"""Render an agent's message as Twilio Messages API calls: pure, no I/O.

Each text is cut to the channel's limit (Twilio's Body takes 1,600 characters, emoji
counting double: https://www.twilio.com/docs/api/errors/21617), and each attachment goes
as its own message with its caption as the body (WhatsApp carries one media per message;
https://www.twilio.com/docs/whatsapp/guidance-whatsapp-media-messages). Locations and
contacts, which the Messages API cannot send as such, go as text. Quick-reply buttons
become a numbered list under the last text: free-form WhatsApp and SMS have no buttons
without a pre-approved template.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from omnihub.connectors.base import OutboundMessage
from omnihub.connectors.errors import PermanentSendError
from omnihub.connectors.text import split_text, utf16_units
from omnihub.normalizer.schema import (
    CallPart,
    ContactPart,
    LocationPart,
    MediaRef,
    Part,
    TextPart,
)

__all__ = ["Outgoing", "render", "text_of"]

#: a public URL Twilio can fetch for a stored blob (signed links, see media_links.py)
LinkFor = Callable[[MediaRef], str]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One Twilio message: a body, a media URL, or both."""

    body: str = ""
    media_url: str | None = None


def _as_text(part: Part) -> str | None:
    if isinstance(part, TextPart):
        return part.text
    if isinstance(part, LocationPart):
        where = f"https://maps.google.com/?q={part.latitude},{part.longitude}"
        return f"{part.title}\n{where}" if part.title else where
    if isinstance(part, ContactPart):
        return " ".join(filter(None, (part.name, part.phone, part.email))) or None
    if isinstance(part, CallPart):
        return f"Call ({part.status})" if part.status else "Call"
    return getattr(part, "caption", None)


def text_of(parts: list[Part]) -> str:
    return "\n".join(filter(None, (_as_text(p) for p in parts)))


def _buttons(labels: list[str]) -> str:
    return "\n".join(f"{i}. {label}" for i, label in enumerate(labels, start=1))


def render(message: OutboundMessage, *, limit: int, link_for: LinkFor) -> list[Outgoing]:
    """The Twilio messages that deliver `message`, in order."""
    out: list[Outgoing] = []

    def texts(text: str) -> None:
        out.extend(Outgoing(body=chunk) for chunk in split_text(text, limit, units=utf16_units))

    for part in message.parts:
        media = getattr(part, "media", None)
        url = getattr(part, "url", None)
        if isinstance(media, MediaRef) or (isinstance(url, str) and url.startswith("https://")):
            link = link_for(media) if isinstance(media, MediaRef) else url
            caption = getattr(part, "caption", None) or ""
            short = caption if sum(map(utf16_units, caption)) <= limit else ""
            out.append(Outgoing(body=short, media_url=link))
            if caption and not short:
                texts(caption)
            continue
        text = _as_text(part)
        if text:
            texts(text)
    if message.buttons:
        if out and out[-1].media_url is None and (
                sum(map(utf16_units, out[-1].body)) + 2 + sum(
                    map(utf16_units, _buttons(message.buttons))) <= limit):
            out[-1] = Outgoing(body=out[-1].body + "\n\n" + _buttons(message.buttons))
        else:
            texts(_buttons(message.buttons))
    if not out:
        raise PermanentSendError("nothing in this message can be sent over Twilio")
    return out
