"""The part of a mail a person just wrote: quoted replies and signatures cut off.

Agents read the new text; the whole body stays in ``ParsedMail.full_text``. Handwritten
rather than a library because the reply parsers on PyPI know English and a few European
languages, while our customers write from QQ Mail, 163, Foxmail and Chinese Outlook.
Patterns recognised (one line, or a header wrapped over up to three lines):

- attribution lines: ``On <date>, <name> wrote:`` (and the German, French, Spanish,
  Italian, Portuguese, Dutch forms), 163's ``At <date>, <name> wrote:``, Chinese
  ``在 <date>，<name> 写道：`` and Gmail's ``<name> 于2024年3月5日周二 10:12写道：``,
  Japanese ``…のメッセージ:``, Korean ``… 작성:``;
- separators: ``-----Original Message-----``, QQ's ``------ 原始邮件 ------`` and
  ``------ Original ------``, German/French equivalents;
- Outlook/Foxmail header blocks: a ``From:``/``发件人:``/``寄件者:``/``Von:``/``差出人:``
  line followed within three lines by ``Sent:``/``Date:``/``发送时间:``/``日期:`` …,
  together with the ``____`` rule Outlook draws above it;
- a trailing block of ``>`` lines. Interleaved quotes (an answer written between quoted
  lines) are kept, since the answers make no sense without them;
- signatures after the ``-- `` delimiter (RFC 3676 §4.3) and the mobile footers
  ("Sent from my iPhone", "发自我的iPhone", "Get Outlook for iOS", "发自网易邮箱大师" …).

A forwarded mail is the message, not a quote: with ``forwarded=True`` (or a
"Forwarded message" marker) only the forwarder's own note is cleaned and the forwarded
block is kept intact. When stripping would leave nothing (a bottom-posted reply, a mail
that is only a quote), the quote header and ``>`` lines go and the rest stays; failing
that, the text comes back unchanged.
"""

from __future__ import annotations

import re

__all__ = ["find_forward_marker", "shown_text", "strip_quotes", "strip_signature"]

_ATTRIBUTION = re.compile(
    r"^\s*(?:"
    r"(?:On|At|Am|Le|El|Il|Em|Op|Den|W dniu)\s.{0,400}?"
    r"(?:wrote|schrieb|a écrit|escribió|ha scritto|escreveu|schreef|skrev|napisał)\s*:"
    r"|Am\s.{0,200}?\sschrieb\s.{0,300}:"
    r"|.{0,400}?(?:写道|寫道|のメッセージ|は書きました|작성)\s*[:：]"
    r"|.{0,200}<[^<>\s]{1,64}@[^<>\s]{1,255}>\s+(?:wrote|schrieb)\s*:"
    r")\s*$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Original|原始邮件|原始郵件|原邮件|Ursprüngliche Nachricht"
    r"|Message d'origine|Mensaje original|Messaggio originale|元のメッセージ)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(
    r"^\s*\*?\s*(?:From|发件人|發件人|寄件者|寄件人|Von|De|Da|Van|差出人|보낸 사람)\s*\*?\s*[:：]",
    re.IGNORECASE,
)
_HEADER_DATE = re.compile(
    r"^\s*\*?\s*(?:Sent|Date|发送时间|發送時間|时间|日期|寄件日期|傳送時間|Gesendet|Datum"
    r"|Envoyé|Date d'envoi|Enviado|Inviato|Verzonden|送信日時|日付|보낸 날짜)\s*\*?\s*[:：]",
    re.IGNORECASE,
)
_OUTLOOK_RULE = re.compile(r"^\s*_{10,}\s*$")
_QUOTED = re.compile(r"^\s*>")
_FORWARD = re.compile(
    r"^\s*(?:-{3,}\s*(?:Forwarded message|Forwarded Message|Weitergeleitete Nachricht"
    r"|Message transféré|Mensaje reenviado|转发的邮件|转发邮件信息|轉寄的郵件|転送されたメッセージ)"
    r"\s*-{3,}|Begin forwarded message\s*:|Anfang der weitergeleiteten Nachricht\s*:"
    r"|以下是转发的邮件\s*[:：]?)\s*$",
    re.IGNORECASE,
)
_SIG_DELIMITER = re.compile(r"^-- ?$")
_MOBILE_FOOTER = re.compile(
    r"^\s*(?:Sent from my .{1,60}|Sent from (?:Mail|Outlook|Yahoo Mail) for .{1,60}"
    r"|Sent from (?:Outlook|Yahoo Mail|Gmail Mobile)|Get Outlook for .{1,60}"
    r"|Sent with Proton Mail.{0,60}|Von meinem .{1,60} gesendet|Envoyé de mon .{1,60}"
    r"|Enviado desde mi .{1,60}|发自我的\s?.{0,30}|来自我的\s?.{1,30}|從我的\s?.{1,30}傳送"
    r"|发自\s?(?:网易|QQ|139|163|126|Foxmail|阿里|新浪).{0,30}|iPhoneから送信"
    r"|Sent from Huawei Mobile|Sent from Xiaomi.{0,30})\s*$",
    re.IGNORECASE,
)
_MAX_FOOTER_TAIL = 12  # lines a mobile footer may be followed by and still be a footer


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


_GMAIL_CJK_DATE = re.compile(r"[于於]\s*\d{4}年")
_ATTRIBUTION_START = re.compile(
    r"^\s*(?:On|At|Am|Le|El|Il|Em|Op|Den|W dniu|在)\s", re.IGNORECASE)


def _attribution_at(lines: list[str], i: int) -> int:
    """Number of lines (1–3) an attribution starting at line ``i`` spans, or 0.

    Clients wrap a long attribution (Gmail breaks inside the address), so two or three
    lines are joined, but only when the first one opens an attribution or leaves an
    address bracket open; otherwise the answer above would be swallowed with it.
    """
    first = lines[i]
    may_wrap = (
        bool(_ATTRIBUTION_START.match(first) or _GMAIL_CJK_DATE.search(first))
        or first.count("<") > first.count(">")
    )
    for span in (1, 2, 3) if may_wrap else (1,):
        if i + span > len(lines) or not lines[i + span - 1].strip():
            break
        joined = " ".join(part.strip() for part in lines[i:i + span])
        if _ATTRIBUTION.match(joined):
            return span
    return 0


def _header_block_at(lines: list[str], i: int) -> bool:
    """An Outlook/Foxmail header block: a From line and a Sent/Date line right after it
    (To and Subject may come between), so "From: Shanghai / To: Beijing" is no quote."""
    if not _HEADER_FROM.match(lines[i]):
        return False
    return any(_HEADER_DATE.match(line) for line in lines[i + 1:i + 4])


def _quote_start(lines: list[str]) -> tuple[int, int] | None:
    """(index, span) of the first quote header in ``lines``, or None."""
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        span = _attribution_at(lines, i)
        if span:
            return i, span
        if _SEPARATOR.match(line):
            return i, 1
        if _header_block_at(lines, i):
            start = i
            previous = i - 1
            while previous >= 0 and not lines[previous].strip():
                previous -= 1
            if previous >= 0 and _OUTLOOK_RULE.match(lines[previous]):
                start = previous
            return start, i - start + 1
    return None


def _trailing_quote_start(lines: list[str]) -> int | None:
    """Index where a block of only ``>`` (and blank) lines runs to the end, or None."""
    start = None
    for i in range(len(lines) - 1, -1, -1):
        if not lines[i].strip():
            continue
        if _QUOTED.match(lines[i]):
            start = i
        else:
            break
    return start


def _join(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n").rstrip()


def strip_quotes(text: str) -> str:
    """Return ``text`` without the quoted earlier mail (see the module docstring)."""
    lines = _lines(text)
    cut = len(lines)
    found = _quote_start(lines)
    if found is not None:
        cut = found[0]
    trailing = _trailing_quote_start(lines[:cut])
    if trailing is not None:
        cut = trailing
    head = _join(lines[:cut])
    if head.strip():
        return head
    # Nothing above the quote: a bottom-posted answer. Drop the header and the quoted
    # lines, keep what follows them.
    rest = lines[found[0] + found[1]:] if found is not None else lines
    kept = [line for line in rest if not _QUOTED.match(line)]
    if found is not None and _quote_start(kept) is not None:
        return ""  # the rest is an unquoted copy of the older mail: no answer below it
    return _join(kept).strip()


def strip_signature(text: str) -> str:
    """Return ``text`` without its signature: everything after a ``-- `` line, or a
    mobile footer near the end."""
    lines = _lines(text)
    for i, line in enumerate(lines):
        if _SIG_DELIMITER.match(line.rstrip("\n")) and _join(lines[:i]).strip():
            return _join(lines[:i])
    for i, line in enumerate(lines):
        if _MOBILE_FOOTER.match(line) and len(lines) - i <= _MAX_FOOTER_TAIL:
            head = _join(lines[:i])
            if head.strip():
                return head
    return _join(lines)


def find_forward_marker(text: str) -> int | None:
    """Character offset of the first "Forwarded message" marker line, or None."""
    offset = 0
    for line in text.replace("\r\n", "\n").split("\n"):
        if _FORWARD.match(line):
            return offset
        offset += len(line) + 1
    return None


def shown_text(text: str, *, forwarded: bool = False) -> str:
    """Return what the agent is shown of a plain-text body: the new part of the mail.

    For a forward, the forwarder's note is cleaned and the forwarded block kept whole;
    an Outlook-style forward has no marker, only a header block, so ``forwarded`` (from
    the subject's ``Fwd:``) tells it apart from a reply.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    marker = find_forward_marker(text)
    if marker is None and forwarded:
        found = _quote_start(_lines(text))
        if found is not None:
            marker = sum(len(line) + 1 for line in _lines(text)[:found[0]])
    if marker is not None:
        note = strip_signature(strip_quotes(text[:marker])) if text[:marker].strip() else ""
        block = text[marker:].strip("\n").rstrip()
        return f"{note}\n\n{block}" if note else block
    shown = strip_signature(strip_quotes(text))
    return shown if shown.strip() else text.strip()
