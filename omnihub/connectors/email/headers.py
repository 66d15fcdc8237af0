"""Header values read from the raw text the parser kept, never from a failing parse.

The stdlib's ``policy.default`` header objects decode RFC 2047 words with Python's strict
codecs (a GB2312 label on GBK text loses characters) and can trip over malformed values.
Everything here starts from ``Message.raw_items()`` — the header text as it came off the
wire — and decodes with the lenient charsets of :mod:`.charsets`, recording what was
wrong instead of raising.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from omnihub.connectors.email.charsets import decode_words, unescape_8bit
from omnihub.connectors.email.threading import parse_message_ids
from omnihub.normalizer.addresses import InvalidAddress, normalize_email

__all__ = [
    "decoded_header",
    "mail_addresses",
    "message_id",
    "parse_date",
    "raw_header",
    "raw_headers",
]

_FOLD = re.compile(r"\r?\n[ \t]*|\r")


def raw_headers(msg: Message, name: str) -> list[str]:
    """Every raw value of header ``name``, unfolded (RFC 5322 §2.2.3)."""
    wanted = name.lower()
    return [
        _FOLD.sub(" ", str(value)).strip()
        for key, value in msg.raw_items()
        if key.lower() == wanted
    ]


def raw_header(msg: Message, name: str) -> str | None:
    """The first raw value of header ``name``, unfolded, or None when absent."""
    values = raw_headers(msg, name)
    return values[0] if values else None


def decoded_header(msg: Message, name: str, hint: str | None = None) -> str:
    """The first value of header ``name`` as text (encoded words decoded), "" if absent;
    ``hint`` is the charset raw 8-bit bytes are read in (see :func:`charset_hint`)."""
    value = raw_header(msg, name)
    return decode_words(value, hint).strip() if value else ""


def charset_hint(msg: Message) -> str | None:
    """The charset of the first text part: what a mailer that writes raw 8-bit headers
    wrote them in."""
    for part in msg.walk():
        charset = part.get_param("charset")
        if isinstance(charset, str) and charset.strip():
            return charset
    return None


def message_id(value: str | None) -> str | None:
    """A Message-ID without its angle brackets, or None when the value holds none."""
    if not value:
        return None
    ids = parse_message_ids(value)
    if ids:
        return ids[0]
    bare = value.strip().strip("<>").strip()
    return bare if bare and not any(ch.isspace() for ch in bare) else None


def mail_addresses(
    msg: Message, name: str, defects: list[str], hint: str | None = None
) -> list[tuple[str | None, str]]:
    """(display name, canonical address) pairs of an address header.

    Addresses come in canonical form (lower-cased, IDNA domain) through the hub's own
    normalizer, so the customer who writes from ``Ann@BÜCHER.example`` today and
    ``ann@xn--bcher-kva.example`` tomorrow is one person. An address the normalizer rejects
    is recorded as a defect and left out.
    """
    values = [unescape_8bit(value, hint) for value in raw_headers(msg, name)]
    result: list[tuple[str | None, str]] = []
    for display, address in getaddresses(values):
        address = address.strip()
        if not address:
            continue
        if "=?" in address:
            address = decode_words(address)
        try:
            canonical = normalize_email(address)
        except InvalidAddress as exc:
            defects.append(f"{name}: {exc.reason}")
            continue
        shown = decode_words(display, hint).strip().strip('"').strip() if display else ""
        result.append((shown or None, canonical))
    return result


def parse_date(value: str | None, defects: list[str]) -> datetime | None:
    """The ``Date`` header as an aware UTC datetime, or None (with a defect) if unreadable.

    A date without a zone (``-0000`` or none at all) is taken as UTC, as RFC 5322 §3.3
    says ``-0000`` means "no information about the local zone".
    """
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("Date: unreadable")
        return None
    if parsed is None:
        defects.append("Date: unreadable")
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        defects.append("Date: out of range")
        return None


_FIELD = re.compile(rb"^[!-9;-~]+:")
_OBSOLETE_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]+:")
_ADDR_SPEC = re.compile(r"[^\s<>()\[\]\",;:@]+@[^\s<>()\[\]\",;:@]+\.[^\s<>()\[\]\",;:@]+")


def repair_header_section(raw: bytes) -> tuple[bytes, list[str]]:
    """Fix the two header-section faults that make the stdlib drop every header after
    them, and say what was fixed:

    - RFC 5322 §4.5 obsolete syntax, whitespace before the colon (``Subject  : hi``);
    - a stray line that is neither a field nor a continuation, followed by more fields
      (a broken relay's ``quite Delivered-To: …``), which is dropped.

    Only the section before the first empty line is touched; without one, nothing is.
    """
    separator = re.search(rb"\r?\n\r?\n", raw)
    if separator is None:
        return raw, []
    lines = raw[:separator.start()].split(b"\n")
    last_field = max(
        (i for i, line in enumerate(lines) if _FIELD.match(line) or _OBSOLETE_FIELD.match(line)),
        default=-1,
    )
    fixed: list[bytes] = []
    notes: list[str] = []
    for i, line in enumerate(lines):
        obsolete = _OBSOLETE_FIELD.match(line)
        if obsolete and not _FIELD.match(line):
            line = obsolete.group(1) + line[obsolete.end() - 1:]
            notes.append("obsolete header syntax (space before colon) repaired")
        elif i == 0 and line.startswith(b"From "):
            pass  # the mbox "From " line, which the parser keeps as the unix-from
        elif not (_FIELD.match(line) or line[:1] in (b" ", b"\t")) and i < last_field:
            notes.append("malformed header line dropped")
            continue
        fixed.append(line)
    if not notes:
        return raw, []
    return b"\n".join(fixed) + raw[separator.start():], list(dict.fromkeys(notes))


def salvage_addresses(msg: Message, name: str, hint: str | None = None) -> list[str]:
    """Bare addr-specs found anywhere in header ``name``: the last resort for values like
    ``Big Bug bb@bug.com`` that no address grammar accepts."""
    found: list[str] = []
    for value in raw_headers(msg, name):
        for candidate in _ADDR_SPEC.findall(unescape_8bit(value, hint)):
            try:
                found.append(normalize_email(candidate))
            except InvalidAddress:
                continue
    return found
