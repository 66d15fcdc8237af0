"""HTML sanitizing for the agent workbench, and UTF-8-safe text bounds."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnihub.normalizer.sanitize import bound_html, bound_text, sanitize_html

REL = 'rel="noopener noreferrer nofollow"'


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>Hi <b>Ann</b></p>", "<p>Hi <b>Ann</b></p>"),
        ("<script>alert(1)</script>ok", "ok"),
        ("<style>p{display:none}</style>ok", "ok"),
        ("<p onclick=\"steal()\" onmouseover=x>hi</p>", "<p>hi</p>"),
        ('<a href="https://s.example/o">o</a>', f'<a href="https://s.example/o" {REL}>o</a>'),
        ('<a href="mailto:help@s.example">m</a>', f'<a href="mailto:help@s.example" {REL}>m</a>'),
        ('<a href="javascript:alert(1)">x</a>', f"<a {REL}>x</a>"),
        ('<a href=" JaVaScRiPt:alert(1)">x</a>', f"<a {REL}>x</a>"),
        ('<a href="java&#x09;script:alert(1)">x</a>', f"<a {REL}>x</a>"),
        ('<a href="data:text/html,<script>alert(1)</script>">x</a>', f"<a {REL}>x</a>"),
        ('<a href="/account">x</a>', f"<a {REL}>x</a>"),
        ('<a href="//evil.example">x</a>', f"<a {REL}>x</a>"),
        ('<a href="https://x.example" rel="opener" target="_blank">x</a>',
         f'<a href="https://x.example" {REL}>x</a>'),
        ('<img src="https://cdn.example/a.png" alt="logo">',
         '<img src="https://cdn.example/a.png" alt="logo">'),
        ('<img src="cid:part1@mail">', '<img src="cid:part1@mail">'),
        ('<img src="data:image/png;base64,iVBO">', '<img src="data:image/png;base64,iVBO">'),
        ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', "<img>"),
        ('<img src="http://cdn.example/a.png">', "<img>"),
        ('<img src="x" onerror="alert(1)">', "<img>"),
        ('<iframe src="https://evil.example"></iframe>ok', "ok"),
        ('<form action="https://evil.example"><input name="pw"></form>ok', "ok"),
        ('<p style="position:fixed" class="x">hi</p>', "<p>hi</p>"),
        ("<!-- tracking comment -->hi", "hi"),
        (
            "<table><tr><td colspan=2>a</td></tr></table>",
            '<table><tbody><tr><td colspan="2">a</td></tr></tbody></table>',
        ),
        ("<ol start=3><li>c</li></ol>", '<ol start="3"><li>c</li></ol>'),
        ("<html><head><title>Receipt</title></head><body>Thanks</body></html>", "Thanks"),
        ("<svg><script>alert(1)</script></svg>x", "x"),
    ],
)
def test_sanitize_html(html: str, expected: str) -> None:
    assert sanitize_html(html) == expected


_DANGEROUS = [
    "<script>alert(1)</script>", "<script src=//evil.example/x.js>", "<SCRIPT>", "<scr<script>ipt>",
    "</script>", "<img src=x onerror=alert(1)>", "<svg onload=alert(1)>", "<body onload=x()>",
    '<a href="javascript:alert(1)">', "<a href='JAVASCRIPT:x'>", "<a href=javascript&colon;x>",
    '<a href="jav&#x61;script:x">', '<iframe src="javascript:x">', "<style>@import 'x'</style>",
    '<div style="background:url(javascript:x)">', "<math><mi xlink:href=javascript:x>",
    '<object data="javascript:x">', "<p", ">", '"', "'", "=", "<", "on", "onclick=", " onerror=",
    "javascript:", "<a ", "href=", "<!--", "-->", "<![CDATA[", "]]>", "&lt;script&gt;",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">", "<textarea>", "<title>",
    "<template><script>x</script></template>", "<base href=javascript:/>", "text", "\n", "\x00",
]  # fmt: skip


class _Tags(HTMLParser):
    """Collect what a browser would see as tags and attributes in sanitized output."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


@given(st.lists(st.sampled_from(_DANGEROUS) | st.text(max_size=5), max_size=25).map("".join))
def test_sanitize_never_leaves_script_handlers_or_javascript_urls(html: str) -> None:
    cleaned = sanitize_html(html)
    assert "<script" not in cleaned.lower()
    for tag, attrs in _tags(cleaned):
        assert tag not in ("script", "style", "iframe", "svg", "object", "base")
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            # browsers ignore ASCII whitespace and control characters inside a scheme
            squeezed = "".join(ch for ch in (value or "") if ord(ch) > 0x20).lower()
            assert "javascript:" not in squeezed, (tag, name, value)
    # "javascript:" may survive only as visible, escaped text, never inside markup
    outside_text = re.sub(r">[^<]*<", "><", f">{cleaned}<")
    assert "javascript:" not in outside_text.lower()


def test_dangerous_words_survive_only_as_escaped_text() -> None:
    assert sanitize_html("never click javascript: links") == "never click javascript: links"
    assert sanitize_html('<iframe src="javascript:x">') == ""


# bound_text


def test_bound_text_short_text_untouched() -> None:
    assert bound_text("hello", 5) == ("hello", False)
    assert bound_text("", 0) == ("", False)


def test_bound_text_cuts_on_character_boundary() -> None:
    # "é" is two bytes: a cut at 2 bytes would split it, so only "a" remains
    assert bound_text("aé", 2) == ("a", True)
    assert bound_text("aé", 3) == ("aé", False)
    assert bound_text("价格", 5) == ("价", True)
    assert bound_text("😀😀", 7) == ("😀", True)


def test_bound_text_keeps_combining_marks_with_their_letter() -> None:
    text = "ae\u0301"  # "aé" written as e + combining acute accent
    assert bound_text(text, 2) == ("a", True)  # not a bare "e" without its accent
    family = "x👩\u200d👧"  # emoji joined with a zero-width joiner
    assert bound_text(family, len("x👩\u200d".encode())) == ("x", True)


def test_bound_text_replaces_lone_surrogates() -> None:
    assert bound_text("a\ud800b", 100) == ("a\ufffdb", False)


def test_bound_text_rejects_negative_limit() -> None:
    with pytest.raises(ValueError):
        bound_text("x", -1)


@given(st.text(), st.integers(min_value=0, max_value=64))
def test_bound_text_is_valid_utf8_within_limit(text: str, max_bytes: int) -> None:
    bounded, truncated = bound_text(text, max_bytes)
    encoded = bounded.encode("utf-8")  # strict: raises on anything unencodable
    assert len(encoded) <= max_bytes
    source = re.sub("[\ud800-\udfff]", "\ufffd", text)
    assert source.startswith(bounded)
    assert truncated == (len(source.encode("utf-8")) > max_bytes)
    if not truncated:
        assert bounded == source


# bound_html


def test_bound_html_closes_what_the_cut_left_open() -> None:
    html = "<p>" + "word " * 30 + "</p>"
    bounded, truncated = bound_html(html, 50)
    assert truncated
    assert bounded is not None and bounded.startswith("<p>word") and bounded.endswith("</p>")
    assert len(bounded.encode()) <= 50


def test_bound_html_within_limit_is_untouched() -> None:
    assert bound_html("<p>hi</p>", 9) == ("<p>hi</p>", False)


@given(
    st.lists(
        st.sampled_from(["<p>", "</p>", "<b>", "<i>", "<ul><li>", "&amp;", "é", "x", "word "]),
        max_size=60,
    ).map("".join),
    st.integers(min_value=0, max_value=120),
)
def test_bound_html_always_fits_and_is_sanitized(html: str, max_bytes: int) -> None:
    bounded, truncated = bound_html(sanitize_html(html), max_bytes)
    if bounded is not None:
        assert len(bounded.encode("utf-8")) <= max_bytes
        assert sanitize_html(bounded) == bounded
    assert truncated or bounded == (sanitize_html(html) or None)
