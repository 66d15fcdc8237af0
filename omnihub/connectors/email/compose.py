"""Outbound mail: an agent's answer as RFC 5322 bytes, built with the stdlib `email` package.

What makes an answer thread in the customer's mail client (RFC 5322 §3.6.4): our own
Message-ID (under our domain: it is also the external id a bounce is matched by),
In-Reply-To the newest mail the customer sent in the thread, References that mail's
References plus its Message-ID, and the subject with the ticket token, so that clients
which drop those headers still find their way back (omnihub/connectors/email/threading.py).
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from omnihub.connectors.base import OutboundMessage
from omnihub.connectors.email.settings import EmailSettings
from omnihub.connectors.email.threading import normalize_subject, subject_with_token
from omnihub.normalizer.media import MediaStore
from omnihub.normalizer.schema import (
    ContactPart,
    LocationPart,
    MediaRef,
    Part,
    TextPart,
)
from omnihub.store.mail_threads import MailThread, bounded_references

__all__ = ["DEFAULT_SUBJECT", "compose", "message_id_for"]

DEFAULT_SUBJECT = "Your request"


def message_id_for(hub_message_id: str, domain: str) -> str:
    """Our Message-ID for a hub message, without the angle brackets (as the store keeps
    Message-IDs). Derived, not random: a send retried after a crash repeats it, and mail
    clients show one mail."""
    return f"{hub_message_id.lower()}@{domain}"


def _subject(thread: MailThread, prefix: str) -> str:
    base = normalize_subject(thread.subject or "", prefix) or DEFAULT_SUBJECT
    return subject_with_token(f"Re: {base}" if thread.subject else base,
                              str(thread.token), prefix)


def _part_text(part: Part) -> str | None:
    """Plain-text rendering of a part that is not a text part or an attachment."""
    if isinstance(part, LocationPart):
        label = f"{part.title}: " if part.title else ""
        return f"{label}https://www.openstreetmap.org/?mlat={part.latitude}&mlon={part.longitude}"
    if isinstance(part, ContactPart):
        return " · ".join(v for v in (part.name, part.phone, part.email) if v) or None
    url = getattr(part, "url", None)
    caption = getattr(part, "caption", None)
    if getattr(part, "media", None) is None and url:
        return f"{caption}: {url}" if caption else url
    return caption


def _bodies(parts: list[Part]) -> tuple[str, str]:
    """The plain and the HTML body: text parts as written (their sanitized HTML when the
    agent wrote HTML), everything else as a line of text."""
    plain: list[str] = []
    rich: list[str] = []
    for part in parts:
        if isinstance(part, TextPart):
            plain.append(part.text)
            rich.append(part.html or _paragraphs(part.text))
            continue
        text = _part_text(part)
        if text:
            plain.append(text)
            rich.append(_paragraphs(text))
    return "\n\n".join(plain), "\n".join(rich)


def _paragraphs(text: str) -> str:
    blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return "\n".join("<p>" + html.escape(b).replace("\n", "<br>\n") + "</p>" for b in blocks)


def _attachments(parts: list[Part]) -> list[MediaRef]:
    return [ref for part in parts if (ref := getattr(part, "media", None)) is not None]


def compose(settings: EmailSettings, message: OutboundMessage, thread: MailThread,
            message_id: str, media: MediaStore, *, now: datetime | None = None) -> EmailMessage:
    """The mail for `message`: multipart/alternative text + HTML, files attached."""
    mail = EmailMessage()
    mail["From"] = formataddr((settings.display_name or "", settings.address))
    mail["To"] = Address(addr_spec=message.recipient.address)
    if settings.reply_to:
        mail["Reply-To"] = settings.reply_to
    mail["Subject"] = _subject(thread, settings.ticket_prefix)
    mail["Date"] = format_datetime(now or datetime.now(UTC))
    mail["Message-ID"] = f"<{message_id}>"
    if thread.last_inbound_id:
        mail["In-Reply-To"] = f"<{thread.last_inbound_id}>"
        chain = bounded_references([*thread.references, thread.last_inbound_id])
        mail["References"] = " ".join(f"<{mid}>" for mid in chain)
    # RFC 3834 §5: answers by the system itself (auto-replies, surveys) say so, which keeps
    # well-behaved auto-responders on the customer's side from answering them.
    if message.author in ("system", "bot"):
        mail["Auto-Submitted"] = "auto-replied"
    plain, rich = _bodies(list(message.parts))
    mail.set_content(plain or " ")
    mail.add_alternative(f"<!doctype html>\n<html><body>\n{rich}\n</body></html>\n",
                         subtype="html")
    for ref in _attachments(list(message.parts)):
        data = media.open(ref.sha256).read_bytes()
        maintype, _, subtype = ref.mime.partition("/")
        mail.add_attachment(data, maintype=maintype or "application",
                            subtype=subtype or "octet-stream",
                            filename=ref.name or f"attachment-{ref.sha256[:8]}")
    return mail
