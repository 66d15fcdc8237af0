"""Pure parsing of one raw e-mail into :class:`ParsedMail`: no I/O, no clock.

The stdlib ``email`` package (``policy.default``) splits the MIME structure; headers and
bodies are decoded by the lenient readers beside this module, because real mail lies
about its charsets and breaks its own syntax; what was wrong is listed in ``defects``.

:func:`parse_mail` raises :class:`UnparseableMail` only for bytes that are no mail at all:
empty, no header section, more MIME nesting than any mail has (an attack on the parser),
or a failure inside the stdlib parser on hostile input. The connector calls
:func:`parse_mail_or_flag`, which never raises: such a mail comes back as a ParsedMail
with ``flag`` set to the reason and the raw bytes attached as ``original.eml``, so agents
see it instead of losing it. A mail without a usable sender address is parsed but also
flagged (``flag == "no usable sender address"``): it cannot be tied to a customer.
Flagged mail is never answered automatically.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from email import message_from_bytes, policy
from email.message import Message

from omnihub.connectors.email import bodies, headers, loops, quotes, threading
from omnihub.connectors.email.bodies import Attachment as MailAttachment
from omnihub.connectors.email.loops import AutoKind
from omnihub.normalizer.sanitize import bound_html, bound_text, html_to_text, sanitize_html

__all__ = [
    "MailAttachment",
    "ParsedMail",
    "UnparseableMail",
    "parse_mail",
    "parse_mail_or_flag",
]

MAX_TEXT = 64 * 1024
MAX_HTML = 512 * 1024
MAX_SHOWN_FORWARDS = 5  # attached mails rendered into the text; all stay attachments
FORWARD_MARKER = "---------- Forwarded message ----------"
MAX_REFERENCES = 50  # each one is a store lookup when threading
MAX_MULTIPARTS = 200  # real mail has a handful; thousands are an attack on the parser
_BOUNDARY = re.compile(rb"boundary\s*=", re.IGNORECASE)
_FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|wg|tr|rv|enc|转发|轉發|轉寄)\s*[:：]", re.IGNORECASE)
_KANA = re.compile("[\u3040-\u30ff]")
_HANGUL = re.compile("[\uac00-\ud7af]")
_HAN = re.compile("[\u4e00-\u9fff\u3400-\u4dbf]")
_MESSAGE_ID_LINE = re.compile(r"^\s*Message-ID\s*:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)


class UnparseableMail(ValueError):
    """Bytes that are not an e-mail at all; ``reason`` says why (safe to log)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"unparseable mail: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ParsedMail:
    """One inbound mail as the hub needs it. Addresses are canonical (lower-cased, IDNA);
    ``text`` is what the agent is shown, ``full_text`` the whole plain body."""

    dedupe_key: str
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    subject: str = ""
    ticket_token: str | None = None
    from_address: str = ""
    from_name: str | None = None
    reply_to: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    date: datetime | None = None
    text: str = ""
    full_text: str = ""
    html: str | None = None
    attachments: list[MailAttachment] = field(default_factory=list)
    auto: AutoKind | None = None
    bounced_message_ids: list[str] = field(default_factory=list)
    bounced_recipients: list[str] = field(default_factory=list)
    forwarded: bool = False
    truncated: bool = False
    defects: list[str] = field(default_factory=list)
    language: str | None = None
    flag: str | None = None  # why agents must look at this mail before trusting it

    @property
    def may_answer_automatically(self) -> bool:
        """False for auto-replies, bounces, list mail and flagged mail: no bot or
        auto-acknowledgement answers them."""
        return self.flag is None and loops.may_answer_automatically(self.auto)

    def thread_candidates(self) -> list[threading.ThreadCandidate]:
        """The lookups that find this mail's conversation, strongest first."""
        return threading.thread_candidates(
            in_reply_to=self.in_reply_to,
            references=self.references,
            ticket_token=self.ticket_token,
            own_message_id=self.message_id,
        )

    @property
    def inline_images(self) -> dict[str, MailAttachment]:
        """Attachments by Content-ID, for rewriting ``cid:`` links in ``html``."""
        return {a.content_id: a for a in self.attachments if a.content_id}


def parse_mail(
    raw: bytes,
    *,
    max_text: int = MAX_TEXT,
    max_html: int = MAX_HTML,
    token_prefix: str = threading.DEFAULT_TOKEN_PREFIX,
) -> ParsedMail:
    """Parse ``raw`` (the RFC 5322 bytes, as fetched over IMAP) into a ParsedMail.

    Raises UnparseableMail only for input that has no header section at all.
    """
    return _parse_raw(raw, max_text=max_text, max_html=max_html, prefix=token_prefix,
                      expand_forwards=True)


def _parse_raw(raw: bytes, *, max_text: int, max_html: int, prefix: str,
               expand_forwards: bool) -> ParsedMail:
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError("parse_mail takes the raw bytes of a mail")
    raw = bytes(raw)
    if not raw.strip():
        raise UnparseableMail("empty message")
    if len(_BOUNDARY.findall(raw)) > MAX_MULTIPARTS:
        # the stdlib parser's cost grows with the nesting: refuse before parsing
        raise UnparseableMail(f"more than {MAX_MULTIPARTS} multipart sections")
    try:
        repaired, notes = headers.repair_header_section(raw)
        msg = message_from_bytes(repaired, policy=policy.default)
        if not msg.keys():
            raise UnparseableMail("no header section")
        parsed = _parse(msg, raw, max_text=max_text, max_html=max_html, prefix=prefix,
                        expand_forwards=expand_forwards)
    except UnparseableMail:
        raise
    except (RecursionError, MemoryError) as exc:
        raise UnparseableMail(f"structure too complex ({type(exc).__name__})") from None
    except Exception as exc:  # noqa: BLE001 - a stdlib bug on hostile input must not lose the mail
        # the type only: the message could quote the mail's content into the logs
        raise UnparseableMail(f"parser failure ({type(exc).__name__})") from None
    return replace(parsed, defects=[*notes, *parsed.defects]) if notes else parsed


def parse_mail_or_flag(
    raw: bytes,
    *,
    max_text: int = MAX_TEXT,
    max_html: int = MAX_HTML,
    token_prefix: str = threading.DEFAULT_TOKEN_PREFIX,
) -> ParsedMail:
    """Like :func:`parse_mail`, but a mail that cannot be parsed comes back flagged, with
    the raw bytes attached, a key derived from them, and the reason in ``flag``."""
    try:
        return parse_mail(raw, max_text=max_text, max_html=max_html, token_prefix=token_prefix)
    except UnparseableMail as exc:
        data = bytes(raw)
        return ParsedMail(
            dedupe_key="sha256:" + hashlib.sha256(data).hexdigest(),
            text="(this e-mail could not be read; the original is attached)",
            attachments=[MailAttachment("original.eml", "message/rfc822", data)],
            defects=[exc.reason],
            flag=exc.reason,
        )


def _parse(msg: Message, raw: bytes, *, max_text: int, max_html: int, prefix: str,
           expand_forwards: bool) -> ParsedMail:
    defects: list[str] = []
    hint = headers.charset_hint(msg)
    subject = headers.decoded_header(msg, "Subject", hint)
    senders = headers.mail_addresses(msg, "From", defects, hint) or headers.mail_addresses(
        msg, "Sender", defects, hint
    )
    if not senders:
        salvaged = headers.salvage_addresses(msg, "From", hint)
        senders = [(None, address) for address in salvaged]
        if salvaged:
            defects.append("From: malformed; address taken from the raw value")
    from_name, from_address = senders[0] if senders else (None, "")
    if len(senders) > 1:
        defects.append("From: several addresses; the first is the sender")
    reply_to = headers.mail_addresses(msg, "Reply-To", defects, hint)
    own_id = headers.message_id(headers.raw_header(msg, "Message-ID"))
    references = threading.parse_message_ids(headers.raw_header(msg, "References"))
    if len(references) > MAX_REFERENCES:  # keep the root and the newest, as clients trim
        references = [references[0], *references[-(MAX_REFERENCES - 1):]]
        defects.append(f"References: more than {MAX_REFERENCES}; the middle was dropped")
    in_reply_to = headers.message_id(headers.raw_header(msg, "In-Reply-To"))

    found = bodies.collect(msg)
    defects.extend(found.defects)
    plain = "\n\n".join(_newlines(text).strip("\n") for text in found.plain if text.strip())
    html_source = "\n".join(found.html)
    full_text = plain or (html_to_text(html_source) if html_source.strip() else "")
    if expand_forwards:
        for data in found.forwarded_mails[:MAX_SHOWN_FORWARDS]:
            block = _forward_block(data, max_text=max_text, max_html=max_html, prefix=prefix)
            full_text = f"{full_text}\n\n{block}" if full_text.strip() else block
    forwarded = (
        found.forwarded
        or bool(_FORWARD_SUBJECT.match(subject))
        or quotes.find_forward_marker(full_text) is not None
    )
    auto = loops.classify(msg, from_address, subject)
    # bounded before quote stripping, so the patterns never run over megabytes
    full_text, cut_full = bound_text(full_text, max_text)
    if auto == "bounce" or not full_text:
        shown = full_text  # a bounce quotes the returned mail on purpose: show it all
    else:
        shown = quotes.shown_text(full_text, forwarded=forwarded)
    text, cut_text = bound_text(shown, max_text)
    html, cut_html = (None, False)
    if html_source.strip():
        html, cut_html = bound_html(sanitize_html(html_source), max_html)

    bounced_ids, bounced_rcpts = _bounce_details(found, full_text, own_id, auto)
    if not from_address:
        defects.append("no usable sender address")
    return ParsedMail(
        dedupe_key=own_id or _content_key(msg, raw),
        message_id=own_id,
        in_reply_to=in_reply_to,
        references=references,
        subject=subject,
        ticket_token=threading.find_token(subject, prefix),
        from_address=from_address,
        from_name=from_name,
        reply_to=reply_to[0][1] if reply_to else None,
        to=[address for _, address in headers.mail_addresses(msg, "To", defects)],
        cc=[address for _, address in headers.mail_addresses(msg, "Cc", defects)],
        date=headers.parse_date(headers.raw_header(msg, "Date"), defects),
        text=text,
        full_text=full_text,
        html=html,
        attachments=found.attachments,
        auto=auto,
        bounced_message_ids=bounced_ids,
        bounced_recipients=bounced_rcpts,
        forwarded=forwarded,
        truncated=cut_text or cut_full or cut_html,
        defects=list(dict.fromkeys(defects)),
        language=_language(msg, f"{subject}\n{text}"),
        flag=None if from_address else "no usable sender address",
    )


def _forward_block(data: bytes, *, max_text: int, max_html: int, prefix: str) -> str:
    """An attached mail rendered the way mail clients render an inline forward, so the
    agent reads it without opening the ``.eml`` (which stays attached, intact)."""
    try:
        inner = _parse_raw(data, max_text=max_text, max_html=max_html, prefix=prefix,
                           expand_forwards=False)
    except UnparseableMail:
        return ""
    sender = f"{inner.from_name} <{inner.from_address}>" if inner.from_name else inner.from_address
    lines = [FORWARD_MARKER, f"From: {sender}"]
    if inner.date is not None:
        lines.append(f"Date: {inner.date:%Y-%m-%d %H:%M} UTC")
    lines += [f"Subject: {inner.subject}", "", inner.full_text]
    return "\n".join(lines).rstrip()


def _newlines(text: str) -> str:
    """Wire CRLF (and old Mac CR) line ends as ``\n``, as every other channel's text."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _content_key(msg: Message, raw: bytes) -> str:
    """A stable key for a mail without Message-ID: the same mail fetched twice (even with
    other trace headers added by the server) gives the same key, another mail does not."""
    body = raw.replace(b"\r\n", b"\n")
    body = body.split(b"\n\n", 1)[1] if b"\n\n" in body else b""
    digest = hashlib.sha256()
    for name in ("Date", "From", "Subject"):
        digest.update((headers.raw_header(msg, name) or "").encode("utf-8", "surrogateescape"))
        digest.update(b"\0")
    digest.update(body.rstrip())
    return "sha256:" + digest.hexdigest()


def _bounce_details(
    found: bodies.Bodies, full_text: str, own_id: str | None, auto: AutoKind | None
) -> tuple[list[str], list[str]]:
    """The Message-IDs a bounce reports as undelivered, and the failed recipients."""
    if auto != "bounce":
        return [], []
    ids: list[str] = []
    recipients: list[str] = []
    actions: list[str] = []
    for block in found.delivery_status:
        for name in ("Original-Message-ID", "X-Original-Message-ID"):
            mid = headers.message_id(headers.raw_header(block, name))
            if mid:
                ids.append(mid)
        final = headers.raw_header(block, "Final-Recipient") or headers.raw_header(
            block, "Original-Recipient")
        action = (headers.raw_header(block, "Action") or "").strip().lower()
        if final:
            actions.append(action or "failed")
        if final and action in ("failed", ""):
            recipients.append(final.split(";", 1)[-1].strip().strip("<>").lower())
    if actions and "failed" not in actions:
        return [], []  # a delay or success notice: the mail is still on its way
    for returned in found.returned_headers:
        mid = headers.message_id(headers.raw_header(returned, "Message-ID"))
        if mid:
            ids.append(mid)
    if not ids:  # a plain-text bounce that quotes the original's headers in its body
        ids.extend(match.strip("<>") for match in _MESSAGE_ID_LINE.findall(full_text))
    return [mid for mid in dict.fromkeys(ids) if mid != own_id], list(dict.fromkeys(recipients))


def _language(msg: Message, text: str) -> str | None:
    """``Content-Language`` when the sender's client set one; else the language a CJK
    script gives away (kana is Japanese, hangul Korean, other Han text Chinese), which is
    what routing to a Chinese-speaking team needs. Latin text is not guessed at."""
    value = headers.raw_header(msg, "Content-Language")
    if value and value.split(",", 1)[0].strip():
        return value.split(",", 1)[0].strip()[:35]
    sample = text[:2000]
    if _KANA.search(sample):
        return "ja"
    if _HANGUL.search(sample):
        return "ko"
    if _HAN.search(sample):
        return "zh"
    return None
