"""Customer HTML made safe to show to agents, a plain-text rendering, and size bounds.

Inbound e-mail HTML is attacker-controlled and ends up in the agent workbench, so it goes
through nh3 (the Rust ammonia sanitizer) with a small allow-list made for reading mail:

- tags: text structure (p, br, div, span, headings, hr, lists, blockquote, pre, code),
  inline emphasis (b, i, u, s, strong, em, small, sub, sup), links, images and basic
  tables. No forms, frames, media players, SVG/MathML, style or class attributes.
- ``<script>``, ``<style>``, ``<title>`` and ``<template>`` are dropped with their content.
- links keep ``href`` only for http, https and mailto, and always get
  ``rel="noopener noreferrer nofollow"``; relative URLs mean nothing in a mail and are
  dropped, as is every ``on*`` handler and every ``javascript:`` URL.
- images keep ``src`` only for ``https:`` (remote, the workbench decides whether to
  load them), ``cid:`` (an inline attachment of the same mail) and ``data:`` raster
  images (png, jpeg, gif, webp; never ``data:image/svg+xml``, which can carry script).
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

import nh3

__all__ = ["bound_html", "bound_text", "html_to_text", "sanitize_html"]

_TAGS = frozenset({
    "p", "br", "div", "span", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
    "a", "b", "i", "u", "s", "strong", "em", "small", "sub", "sup",
    "ul", "ol", "li", "blockquote", "pre", "code",
    "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
    "img",
})  # fmt: skip
_DROP_WITH_CONTENT = frozenset({"script", "style", "title", "template"})
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "th": {"colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
}
_LINK_REL = "noopener noreferrer nofollow"
_HREF_SCHEMES = ("http:", "https:", "mailto:")
_IMG_SCHEMES = ("https:", "cid:")
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp)[;,]", re.IGNORECASE)


def _allow_url(tag: str, attr: str, value: str) -> str | None:
    """Keep a URL attribute only with the schemes its tag may use (nh3 calls this)."""
    if attr == "href":
        return value if value.strip().lower().startswith(_HREF_SCHEMES) else None
    if tag == "img" and attr == "src":
        url = value.strip()
        if url.lower().startswith(_IMG_SCHEMES) or _DATA_IMAGE.match(url):
            return value
        return None
    return value


def sanitize_html(html: str) -> str:
    """Return ``html`` reduced to the mail-reading allow-list above."""
    return nh3.clean(
        html,
        tags=set(_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={tag: set(attrs) for tag, attrs in _ATTRIBUTES.items()},
        attribute_filter=_allow_url,
        url_schemes={"http", "https", "mailto", "cid", "data"},
        url_relative="deny",
        link_rel=_LINK_REL,
        strip_comments=True,
    )


_BLOCK_TAGS = frozenset({
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table",
    "ul", "ol", "hr", "section", "article", "header", "footer", "address", "dl",
})  # fmt: skip
_LINE_TAGS = frozenset({"tr", "li", "dt", "dd", "caption"})
_SKIP_TAGS = frozenset({"script", "style", "title", "template", "head"})
_SHOWN_LINK_SCHEMES = ("http:", "https:", "mailto:", "tel:")
_WHITESPACE = re.compile(r"\s+")


class _TextRenderer(HTMLParser):
    """Render HTML as the text a person would read: blocks on their own lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._newlines = 0  # line breaks owed before the next text
        self._skip = 0
        self._pre = 0
        self._pre_opened = False  # HTML drops one newline right after <pre>
        self._links: list[tuple[str, int]] = []

    def text(self) -> str:
        self.close()
        return "".join(self._out).rstrip().lstrip("\n")

    def _break(self, count: int) -> None:
        self._newlines = max(self._newlines, count)

    def _write(self, text: str, *, verbatim: bool = False) -> None:
        if not verbatim:
            text = _WHITESPACE.sub(" ", text)
            at_line_start = not self._out or self._newlines or self._out[-1].endswith("\n")
            if at_line_start or self._out[-1].endswith(" "):
                text = text.lstrip(" ")
        if not text:
            return
        if self._newlines and self._out:
            last = self._out[-1] = self._out[-1].rstrip(" ")
            owed = self._newlines - (len(last) - len(last.rstrip("\n")))
            self._out.append("\n" * max(owed, 0))
        self._newlines = 0
        self._out.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += tag != "head"  # an unclosed <head> must not hide the body
            return
        if tag == "br":
            self._newlines = min(self._newlines + 1, 2)
        elif tag in _BLOCK_TAGS:
            self._break(2)
            self._pre += tag == "pre"
            self._pre_opened = tag == "pre"
        elif tag in _LINE_TAGS:
            self._break(1)
            if tag == "li":
                self._write("- ", verbatim=True)
        elif tag in ("td", "th"):
            self._write(" ")
        elif tag == "a":
            self._links.append((dict(attrs).get("href") or "", len(self._out)))
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self._write(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(self._skip - (tag != "head"), 0)
        elif tag in _BLOCK_TAGS:
            self._pre = max(self._pre - (tag == "pre"), 0)
            self._break(2)
        elif tag in _LINE_TAGS:
            self._break(1)
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            self._close_link(href.strip(), "".join(self._out[start:]).strip())

    def _close_link(self, href: str, label: str) -> None:
        """Show the target after the link text, unless the text already is the target."""
        if not href.lower().startswith(_SHOWN_LINK_SCHEMES):
            return
        shown = href.split(":", 1)[1] if href.lower().startswith(("mailto:", "tel:")) else href
        if label in (href, shown):
            return
        self._write(f" ({href})" if label else href)

    def handle_data(self, data: str) -> None:
        if self._pre_opened and data.startswith("\n"):
            data = data[1:]
        self._pre_opened = False
        if not self._skip:
            self._write(data, verbatim=bool(self._pre))


def html_to_text(html: str) -> str:
    """Return a readable plain-text rendering of ``html`` (for agents, search, previews)."""
    renderer = _TextRenderer()
    renderer.feed(html)
    return renderer.text()


_SURROGATE = re.compile("[\ud800-\udfff]")
_ZWJ = "\u200d"


def _continues_previous(ch: str) -> bool:
    """True for a code point that belongs to the character before it (a combining mark,
    variation selector, emoji modifier or joiner), so a cut just before it splits a letter."""
    return (
        unicodedata.category(ch) in ("Mn", "Mc", "Me")
        or ch == _ZWJ
        or "\U0001f3fb" <= ch <= "\U0001f3ff"
        or "\U000e0020" <= ch <= "\U000e007f"
    )


def bound_text(text: str, max_bytes: int) -> tuple[str, bool]:
    """Return ``text`` cut to at most ``max_bytes`` of UTF-8, and whether it was cut.

    The cut falls on a character boundary and backs off over combining marks and emoji
    joiners so that no letter is left half-drawn. Lone surrogates (possible in a str
    decoded from JSON escapes) cannot be encoded at all and become U+FFFD.
    """
    if max_bytes < 0:
        raise ValueError("max_bytes must not be negative")
    if text.isascii():  # the common case: no surrogates, one byte per character
        return (text, False) if len(text) <= max_bytes else (text[:max_bytes], True)
    text = _SURROGATE.sub("\ufffd", text)
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text, False
    end = len(encoded[:max_bytes].decode("utf-8", errors="ignore"))
    while end > 0 and (_continues_previous(text[end]) or text[end - 1] == _ZWJ):
        end -= 1
    return text[:end], True


def bound_html(html: str, max_bytes: int) -> tuple[str | None, bool]:
    """Return sanitized ``html`` within ``max_bytes``, and whether it was cut.

    A cut can leave tags open, so the cut is sanitized again (which closes them); when the
    closing tags take it back over the limit, the cut is shortened by the overflow and
    tried again. None when nothing but empty markup fits.
    """
    cleaned, truncated = bound_text(html, max_bytes)
    budget = max_bytes
    for _ in range(8):
        if truncated:
            cleaned = sanitize_html(cleaned)
        size = len(cleaned.encode("utf-8"))
        if size <= max_bytes:
            return (cleaned or None), truncated
        budget -= size - max_bytes
        if budget <= 0:
            break
        cleaned, _ = bound_text(html, budget)
        truncated = True
    return None, True
