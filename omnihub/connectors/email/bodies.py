"""Walk a MIME tree into body text, HTML, attachments and delivery reports.

Done by hand rather than with ``EmailMessage.get_body``/``iter_attachments`` because
those look at one level only: real mail nests ``mixed`` > ``related`` > ``alternative``,
puts several text parts in one ``mixed`` (Apple Mail around an inline picture), and hides
a bounced mail's headers inside ``multipart/report``. The rules:

- a ``text/plain`` or ``text/html`` leaf that is neither ``attachment`` nor named is body;
  in ``multipart/alternative`` the last (richest) plain and the last HTML alternative win;
- every other leaf is an attachment with its decoded bytes, its ``Content-ID`` and whether
  it is shown inline (``cid:`` images referenced from the HTML);
- an attached mail (``message/rfc822``) is kept as one ``.eml`` attachment, re-generated
  without refolding so it stays as it was; it marks the mail as forwarded, except inside
  a bounce, where it is the returned original;
- ``message/delivery-status`` blocks and returned headers are collected for the bounce
  handling, and kept as attachments too.
"""

from __future__ import annotations

import base64
import binascii
import io
import quopri
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.generator import BytesGenerator
from email.message import Message

from omnihub.connectors.email.charsets import decode_bytes, decode_words
from omnihub.connectors.email.headers import decoded_header

__all__ = ["Attachment", "Bodies", "collect"]

MAX_DEPTH = 32  # deeper nesting is an attack on the parser, not a mail
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_FILENAME_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that came with the mail, with its bytes as decoded from the transfer encoding."""

    filename: str | None
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


@dataclass
class Bodies:
    """What :func:`collect` found; ``plain`` and ``html`` in document order."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    delivery_status: list[Message] = field(default_factory=list)
    returned_headers: list[Message] = field(default_factory=list)
    forwarded: bool = False
    forwarded_mails: list[bytes] = field(default_factory=list)  # attached mails, not bounces
    defects: list[str] = field(default_factory=list)


def collect(msg: Message) -> Bodies:
    """Return the bodies, attachments and reports of ``msg``."""
    found = Bodies()
    _visit(msg, found, depth=0, in_report=False)
    return found


def _visit(part: Message, found: Bodies, *, depth: int, in_report: bool) -> None:
    _note_defects(part, found)
    ctype = part.get_content_type()
    if depth > MAX_DEPTH:
        found.defects.append("MIME nesting too deep; the rest is kept as one attachment")
        found.attachments.append(Attachment(None, ctype, _generate(part)))
        return
    if ctype == "message/delivery-status":
        _delivery_status(part, found)
        return
    if ctype in ("text/rfc822-headers", "message/rfc822-headers"):
        data = _payload_bytes(part)
        found.returned_headers.append(message_from_bytes(data, policy=policy.default))
        found.attachments.append(Attachment("returned-headers.txt", ctype, data))
        return
    if ctype in ("message/rfc822", "message/global") and part.is_multipart():
        if _transfer_encoding(part) in ("base64", "quoted-printable"):
            _leaf(part, found, in_report=in_report)  # parsed by the stdlib as if plain
        else:
            _attached_mail(part, found, in_report=in_report)
        return
    if part.is_multipart():
        children = [child for child in part.get_payload() if isinstance(child, Message)]
        if part.get_content_subtype() == "alternative":
            _alternative(children, found, depth=depth)
            return
        in_report = in_report or ctype == "multipart/report"
        for child in children:
            _visit(child, found, depth=depth + 1, in_report=in_report)
        return
    _leaf(part, found, in_report=in_report)


def _alternative(children: list[Message], found: Bodies, *, depth: int) -> None:
    """Keep the last plain and the last HTML rendering; attachments of every branch."""
    branches = []
    for child in children:
        branch = Bodies()
        _visit(child, branch, depth=depth + 1, in_report=False)
        branches.append(branch)
        found.attachments.extend(branch.attachments)
        found.defects.extend(branch.defects)
        found.forwarded = found.forwarded or branch.forwarded
        found.forwarded_mails.extend(branch.forwarded_mails)
        found.delivery_status.extend(branch.delivery_status)
        found.returned_headers.extend(branch.returned_headers)
    plain = [branch.plain for branch in branches if branch.plain]
    html = [branch.html for branch in branches if branch.html]
    if plain:
        found.plain.extend(plain[-1])
    if html:
        found.html.extend(html[-1])


def _leaf(part: Message, found: Bodies, *, in_report: bool) -> None:
    ctype = part.get_content_type()
    maintype = part.get_content_maintype()
    disposition = part.get_content_disposition()
    filename = _filename(part)
    if maintype == "multipart":  # a multipart without a usable boundary: read as text
        ctype = "text/plain"
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
        data = _payload_bytes(part)
        label = part.get_param("charset")
        label = str(label) if isinstance(label, str) else None
        if ctype == "text/html" and not label:
            meta = _META_CHARSET.search(data[:4096])
            label = meta.group(1).decode("ascii") if meta else None
        text, fell_back = decode_bytes(data, label)
        if fell_back:
            found.defects.append(f"charset {label or '(none)'} unusable; decoded leniently")
        if ctype == "text/html":
            found.html.append(text)
        else:
            if str(part.get_param("format") or "").lower() == "flowed":
                text = unflow(text, delsp=str(part.get_param("delsp") or "").lower() == "yes")
            found.plain.append(text)
        return
    content_id = _content_id(part)
    inline = disposition == "inline" or (disposition is None and content_id is not None)
    data = _payload_bytes(part)
    if ctype in ("message/rfc822", "message/global"):
        # a transfer-encoded attached mail, which the stdlib leaves unparsed
        if in_report:
            found.returned_headers.append(message_from_bytes(data, policy=policy.default))
        else:
            found.forwarded = True
            found.forwarded_mails.append(data)
        filename = filename or "message.eml"
    found.attachments.append(Attachment(filename, ctype, data, content_id, inline))


def _attached_mail(part: Message, found: Bodies, *, in_report: bool) -> None:
    inner = part.get_payload(0)
    subject = decoded_header(inner, "Subject") if isinstance(inner, Message) else ""
    data = _generate(inner)
    if in_report:
        found.returned_headers.append(inner)
    else:
        found.forwarded = True
        found.forwarded_mails.append(data)
    name = _filename(part) or f"{_safe_name(subject) or 'message'}.eml"
    found.attachments.append(
        Attachment(name, "message/rfc822", data, _content_id(part),
                   part.get_content_disposition() == "inline")
    )


def _delivery_status(part: Message, found: Bodies) -> None:
    """RFC 3464 per-message and per-recipient field blocks (the stdlib parses them into a
    list of header-only Messages; a broken one stays a string, parsed here)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = [block for block in payload if isinstance(block, Message)]
        text = "\n".join(block.as_string() for block in blocks)
    else:
        text = payload if isinstance(payload, str) else ""
        blocks = [
            message_from_bytes(chunk.strip().encode("utf-8", "surrogateescape") + b"\n\n",
                               policy=policy.default)
            for chunk in re.split(r"\r?\n\s*\r?\n", text) if chunk.strip()
        ]
    found.delivery_status.extend(blocks)
    found.attachments.append(
        Attachment("delivery-status.txt", "message/delivery-status",
                   text.encode("utf-8", "surrogateescape"))
    )


def _transfer_encoding(part: Message) -> str:
    for key, value in part.raw_items():
        if key.lower() == "content-transfer-encoding":
            return str(value).strip().lower()
    return ""


def _payload_bytes(part: Message) -> bytes:
    if part.is_multipart() and part.get_content_maintype() == "message":
        # RFC 2046 §5.2.1 allows only 7bit/8bit/binary here, yet mailers base64 it, and
        # the stdlib then parses the encoded text as a header-less message
        encoded = _generate(part.get_payload(0))
        if _transfer_encoding(part) == "base64":
            try:
                return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", encoded) + b"==")
            except binascii.Error:
                return encoded  # damaged: keep what came, undecoded
        return quopri.decodestring(encoded)
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return _generate(part)


def _generate(msg: Message) -> bytes:
    """The message as bytes, headers not refolded, so it reads as it was received."""
    buffer = io.BytesIO()
    generator = BytesGenerator(
        buffer, mangle_from_=False, policy=policy.default.clone(refold_source="none")
    )
    try:
        generator.flatten(msg)
    except (ValueError, LookupError, TypeError, UnicodeError):
        generator = BytesGenerator(buffer, mangle_from_=False, policy=policy.compat32)
        buffer.seek(0)
        buffer.truncate()
        generator.flatten(msg)
    return buffer.getvalue()


def _filename(part: Message) -> str | None:
    """The attachment's name: RFC 2231 (``filename*=``) or the encoded words many mailers
    put in a quoted ``filename=`` or in ``Content-Type: name=`` instead."""
    try:
        name = part.get_filename() or part.get_param("name")
    except (ValueError, LookupError, TypeError, IndexError):
        name = None
    if isinstance(name, tuple):  # an RFC 2231 value the stdlib could not collapse
        charset, _, value = name
        name = value.encode("latin-1", "replace").decode(charset or "utf-8", "replace")
    if not isinstance(name, str) or not name.strip():
        name = _raw_filename(part)
    if not name:
        return None
    name = decode_words(name)
    return _safe_name(name) or None


_RAW_NAME = re.compile(r"""(?:^|;)\s*(?:file)?name\s*=\s*(?:"([^"]*)"|([^;\s]+))""", re.IGNORECASE)


def _raw_filename(part: Message) -> str | None:
    """``filename==?utf-8?B?…?=`` (unquoted, so not a valid parameter) still names a file."""
    for header in ("content-disposition", "content-type"):
        for key, value in part.raw_items():
            if key.lower() == header:
                match = _RAW_NAME.search(str(value).split(";", 1)[-1].join(";;"))
                if match:
                    return match.group(1) or match.group(2)
    return None


def _safe_name(name: str) -> str:
    """A name without path separators or control characters, so no one writes it out of
    the directory it is saved to."""
    return _FILENAME_UNSAFE.sub("_", name).strip().strip(".")[:255]


def _content_id(part: Message) -> str | None:
    for key, value in part.raw_items():
        if key.lower() == "content-id":
            cid = str(value).strip().strip("<>").strip()
            return cid or None
    return None


def _note_defects(part: Message, found: Bodies) -> None:
    for defect in getattr(part, "defects", ()):
        found.defects.append(type(defect).__name__)


def unflow(text: str, *, delsp: bool = False) -> str:
    """Undo ``format=flowed`` (RFC 3676): join soft line breaks, drop space-stuffing."""
    out: list[str] = []
    carry = ""
    for line in text.split("\n"):
        line = line.rstrip("\r")
        line = line.removeprefix(" ")
        if line.endswith(" ") and line != "-- ":
            carry += line[:-1] if delsp else line
            continue
        out.append(carry + line)
        carry = ""
    if carry:
        out.append(carry)
    return "\n".join(out)
