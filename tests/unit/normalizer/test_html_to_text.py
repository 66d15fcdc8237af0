"""The plain-text rendering agents, search and previews see of an HTML-only message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnihub.normalizer.sanitize import html_to_text


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("", ""),
        ("plain", "plain"),
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("line<br>next<br/>last", "line\nnext\nlast"),
        ("a<br><br><br><br>b", "a\n\nb"),
        ("<div>a</div><div>b</div>", "a\n\nb"),
        ("  lots   of\n\n  space\t here ", "lots of space here"),
        ("<p>  padded  </p>", "padded"),
        ("Fish &amp; chips &lt;3 &eacute;t&eacute; &#8364;5&nbsp;now",
         "Fish & chips <3 été €5 now"),
        (
            'see <a href="https://shop.example/o/1">your order</a>.',
            "see your order (https://shop.example/o/1).",
        ),
        ('<a href="https://shop.example">https://shop.example</a>', "https://shop.example"),
        ('<a href="mailto:help@shop.example">help@shop.example</a>', "help@shop.example"),
        ('<a href="mailto:help@shop.example">write us</a>', "write us (mailto:help@shop.example)"),
        ('<a href="https://x.example/"></a>', "https://x.example/"),
        ('<a href="javascript:alert(1)">click</a>', "click"),
        ('<a href="/relative">rel</a>', "rel"),
        ("<ul><li>one</li><li>two</li></ul>after", "- one\n- two\n\nafter"),
        (
            "<table><tr><th>item</th><th>qty</th></tr><tr><td>cap</td><td>2</td></tr></table>",
            "item qty\ncap 2",
        ),
        ("<pre>  def f():\n      return 1</pre>", "  def f():\n      return 1"),
        ("x<pre>\ncode\n</pre>y", "x\n\ncode\n\ny"),
        ("<p>x</p><pre>  indented</pre>", "x\n\n  indented"),
        ("<script>alert(1)</script><style>p{}</style>shown", "shown"),
        (
            "<html><head><title>Receipt</title><meta charset=utf-8></head>"
            "<body><p>Thanks</p></body></html>",
            "Thanks",
        ),
        ("<head><title>no body tag</title>text after head", "text after head"),
        ('<img src="cid:logo" alt="Shop logo"> Hello', "[Shop logo] Hello"),
        ('<img src="cid:spacer">Hello', "Hello"),
        ("<blockquote>quoted</blockquote>reply", "quoted\n\nreply"),
        ("<h1>Title</h1>body", "Title\n\nbody"),
        ("unclosed <b>bold <i>both", "unclosed bold both"),
        ("a < b and c > d", "a < b and c > d"),
    ],
)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_html_mail_renders_readably() -> None:
    html = """
    <html><body>
      <p>Hello&nbsp;Ann,</p>
      <p>Your order <b>#1042</b> has shipped.<br>Track it
         <a href="https://track.example/1042">here</a>.</p>
      <ul><li>Blue cap &times; 2</li><li>Socks</li></ul>
      <p>-- <br>Shop Support</p>
    </body></html>
    """
    assert html_to_text(html) == (
        "Hello Ann,\n\n"
        "Your order #1042 has shipped.\n"
        "Track it here (https://track.example/1042).\n\n"
        "- Blue cap × 2\n"
        "- Socks\n\n"
        "--\n"
        "Shop Support"
    )


@given(st.text(alphabet=st.sampled_from(list("ab <>/&;#pbrli\n\t\"'=")), max_size=80))
def test_html_to_text_never_fails_and_has_no_edge_whitespace(html: str) -> None:
    text = html_to_text(html)
    assert text == text.strip()
    assert "\n\n\n" not in text
    assert all(line == line.rstrip(" ") for line in text.split("\n"))
