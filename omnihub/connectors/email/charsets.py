"""Decode the bytes of real mail, whose charset labels are often wrong or missing.

Senders lie about charsets in predictable ways, so a label is read as the superset that
real software means by it (the same choices browsers make, see the WHATWG Encoding
standard https://encoding.spec.whatwg.org/#names-and-labels):

- ``gb2312``/``gbk``/``euc-cn``/``x-gbk`` -> ``gb18030``: Chinese mailers label GBK (and
  characters only GB18030 has) as GB2312, and a strict GB2312 decoder would drop them.
- ``big5`` -> ``big5hkscs`` (Hong Kong characters); ``shift_jis`` -> ``cp932`` (Windows
  vendor characters such as circled digits); ``euc-kr``/``ks_c_5601-1987`` -> ``cp949``.
- ``iso-2022-jp`` -> ``iso2022_jp_2``, which also reads the JIS X 0212 escapes some send.
- ``iso-8859-1``/``us-ascii`` -> ``cp1252``: Outlook writes curly quotes and the euro
  sign into "Latin-1" mail.

An unknown or failing label never raises: the bytes are tried as UTF-8 and then as
``cp1252`` (which maps every byte), and the caller is told a fallback happened so it can
record a defect.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

__all__ = ["decode_bytes", "decode_words", "resolve_charset", "unescape_8bit"]

_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "cp936": "gb18030",
    "csgb2312": "gb18030",
    "chinese": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "iso-2022-jp": "iso2022_jp_2",
    "csiso2022jp": "iso2022_jp_2",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "iso-8859-8-i": "iso8859_8",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
}
# Labels Python knows but that are never what a mail means: decoding a body as one of
# these would turn text into noise (or, for "unicode_escape", interpret backslashes).
_REFUSED = frozenset({
    "base64", "base64_codec", "hex", "hex_codec", "quopri", "quopri_codec", "rot13",
    "rot_13", "uu", "uu_codec", "zip", "zlib", "zlib_codec", "bz2", "bz2_codec",
    "unicode_escape", "raw_unicode_escape", "idna", "punycode", "mbcs", "oem",
    "palmos", "undefined", "string_escape",
})  # fmt: skip
_FALLBACK = "cp1252"


def resolve_charset(label: str | None) -> str | None:
    """Return the Python codec to read ``label`` with, or None when it names nothing
    usable (empty, unknown, or a transfer encoding posing as a charset)."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    if name in _REFUSED:
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if info.name in _REFUSED or not getattr(info, "_is_text_encoding", True):
        return None
    return _ALIASES.get(info.name, info.name)


def decode_bytes(data: bytes, label: str | None) -> tuple[str, bool]:
    """Return ``data`` as text and whether the label could not be used as it stands.

    With a usable label, undecodable bytes become U+FFFD (one bad byte must not lose the
    mail). Without one, UTF-8 is tried strictly first because it is what unlabelled mail
    mostly is, then ``cp1252``.
    """
    codec = resolve_charset(label)
    if codec is not None:
        try:
            return data.decode(codec), False
        except UnicodeDecodeError:
            if codec != "utf-8":
                try:  # a mislabelled UTF-8 body is the commonest lie of all
                    return data.decode("utf-8"), True
                except UnicodeDecodeError:
                    pass
            return data.decode(codec, errors="replace"), True
    try:
        return data.decode("utf-8"), label is not None and not _is_ascii_label(label)
    except UnicodeDecodeError:
        return data.decode(_FALLBACK, errors="replace"), True


def _is_ascii_label(label: str) -> bool:
    return label.strip().lower() in ("", "us-ascii", "ascii")


# RFC 2047 encoded word: =?charset[*language]?B|Q?text?=
_ENCODED_WORD = re.compile(
    r"=\?(?P<charset>[^?\s*]+)(?:\*[^?\s]*)?\?(?P<enc>[bBqQ])\?(?P<text>[^?\s]*)\?="
)
_BETWEEN_WORDS = re.compile(r"(\?=)\s+(=\?)")


def _word_bytes(enc: str, text: str) -> bytes:
    if enc in "bB":
        padded = text + "=" * (-len(text) % 4)
        try:
            return base64.b64decode(padded)
        except (binascii.Error, ValueError):
            return base64.b64decode(re.sub(r"[^A-Za-z0-9+/]", "", text) + "==", validate=False)
    raw = text.replace("_", " ")
    return re.sub(
        r"=([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), raw
    ).encode("latin-1", errors="replace")


def decode_words(value: str, hint: str | None = None) -> str:
    """Decode RFC 2047 encoded words in a raw header value, with the lenient charsets above.

    Adjacent encoded words are joined without the whitespace between them (RFC 2047 §6.2),
    and consecutive words in the same charset are decoded together, because senders split
    a multibyte character across two words. Raw 8-bit bytes (surrogate-escaped by the
    stdlib parser, or RFC 6532 UTF-8 headers) go through :func:`unescape_8bit`.
    """
    value = unescape_8bit(value, hint)
    if "=?" not in value:
        return value
    value = _BETWEEN_WORDS.sub(r"\1\2", value)
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset: str | None = None
    last = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            out.append(decode_bytes(b"".join(pending), pending_charset)[0])
        pending, pending_charset = [], None

    for match in _ENCODED_WORD.finditer(value):
        if match.start() != last:
            flush()
            out.append(value[last:match.start()])
        charset = match.group("charset").lower()
        if pending and charset != pending_charset:
            flush()
        pending_charset = charset
        pending.append(_word_bytes(match.group("enc"), match.group("text")))
        last = match.end()
    flush()
    out.append(value[last:])
    return "".join(out)


def unescape_8bit(value: str, hint: str | None = None) -> str:
    """Turn the stdlib's surrogate escapes for raw 8-bit header bytes back into text.

    Raw 8-bit headers are RFC 6532 UTF-8, or (from older mailers) the body's charset,
    which the caller passes as ``hint``; cp1252 reads anything else.
    """
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    data = value.encode("utf-8", errors="surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    return data.decode(resolve_charset(hint) or _FALLBACK, errors="replace")
