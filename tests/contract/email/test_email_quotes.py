"""Quoted replies and signatures are cut from the text agents are shown, never from
``full_text``; forwards stay whole. One test per client pattern."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnihub.connectors.email.parse import parse_mail
from omnihub.connectors.email.quotes import (
    find_forward_marker,
    shown_text,
    strip_quotes,
    strip_signature,
)

FIXTURES = Path(__file__).parent / "fixtures"
ANSWER = "Thanks, that fixed it!"


@pytest.mark.parametrize(
    "quote",
    [
        # Gmail (English), the attribution wrapped over two lines
        ("On Wed, Mar 4, 2026 at 10:00 AM Shop Support <support@shop.example> wrote:\n"
        "> Please try again.\n"),
        ("On Wed, Mar 4, 2026 at 10:00 AM Shop Support <\nsupport@shop.example> wrote:\n\n"
        "> Please try again.\n"),
        # Apple Mail
        ("On 4 Mar 2026, at 10:00, Shop Support <support@shop.example> wrote:\n\n"
        "> Please try again.\n"),
        # 163 / 126 webmail, English UI
        ('At 2026-03-04 10:00:00, "Shop Support" <support@shop.example> wrote:\n'
        ">Please try again.\n"),
        # 163 / Foxmail, Chinese UI
        '在 2026-03-04 10:00:00，"客服" <support@shop.example> 写道：\n>请再试一次。\n',
        # Gmail, Chinese UI
        "Shop Support <support@shop.example> 于2026年3月4日周三 10:00写道：\n\n> 请再试一次。\n",
        "Shop Support <support@shop.example> 于2026年3月4日周三\n10:00写道：\n\n> 请再试一次。\n",
        # Apple Mail, Chinese UI
        "2026年3月4日 上午10:00，客服 <support@shop.example> 写道：\n\n> 请再试一次。\n",
        # Traditional Chinese
        "客服 <support@shop.example> 於 2026年3月4日 週三 上午10:00 寫道：\n> 請再試一次。\n",
        # Japanese Gmail
        "2026年3月4日(水) 10:00 Shop Support のメッセージ:\n> もう一度お試しください。\n",
        # German
        "Am 04.03.2026 um 10:00 schrieb Shop Support <support@shop.example>:\n> Bitte.\n",
        # Outlook desktop (English)
        ("________________________________\nFrom: Shop Support <support@shop.example>\n"
        "Sent: Wednesday, March 4, 2026 10:00 AM\nTo: Ann\nSubject: RE: Parcel\n\nPlease try.\n"),
        ("-----Original Message-----\nFrom: Shop Support [mailto:support@shop.example]\n"
        "Sent: Wednesday, March 4, 2026 10:00 AM\n\nPlease try.\n"),
        # Outlook, Chinese UI
        ("________________________________\n发件人: 客服 <support@shop.example>\n"
        "发送时间: 2026年3月4日 10:00\n收件人: 王五\n主题: 答复: 包裹\n\n请再试一次。\n"),
        # Outlook, Traditional Chinese UI
        ("寄件者: 客服 <support@shop.example>\n寄件日期: 2026年3月4日 上午 10:00\n"
        "收件者: 王五\n\n請再試一次。\n"),
        # QQ Mail (Chinese and English UI)
        ("------------------ 原始邮件 ------------------\n发件人: \"客服\"<support@shop.example>;\n"
        "发送时间: 2026年3月4日(星期三) 上午10:00\n收件人: \"王五\"<5@qq.example>;\n\n请再试一次。\n"),
        ("------------------ Original ------------------\nFrom: \"Shop\"<support@shop.example>;\n"
        "Date: Wed, Mar 4, 2026 10:00 AM\n\nPlease try.\n"),
        # QQ Mail's HTML, rendered to text: the separator is padded with no-break spaces
        ("------------------\xa0原始邮件\xa0------------------\n发件人:\xa0\"客服\"<s@shop.example>;\n"
        "发送时间:\xa02026年3月4日(星期三) 上午10:00\n\n请再试一次。\n"),
        # Outlook's HTML rendered to text, with the labels in bold
        ("*From:* Shop Support <support@shop.example>\n*Sent:* Wednesday, March 4, 2026\n"
         "*To:* Ann\n\nPlease try.\n"),
        # Outlook for Mac, Chinese UI
        "发件人: 客服 <support@shop.example>\n日期: 2026年3月4日 星期三 10:00\n\n请再试一次。\n",
        # Foxmail
        "From: Shop Support\nDate: 2026-03-04 10:00\nTo: Ann\nSubject: Parcel\n\nPlease try.\n",
        "发件人：客服\n发送时间：2026-03-04 10:00\n收件人：王五\n主题：包裹\n\n请再试一次。\n",
        # bare ">" quote at the end
        "> Please try again.\n> Shop Support\n",
    ],
)
def test_quote_is_cut(quote: str) -> None:
    assert strip_quotes(f"{ANSWER}\n\n{quote}") == ANSWER
    assert shown_text(f"{ANSWER}\n\n{quote}") == ANSWER


@pytest.mark.parametrize(
    "signature",
    [
        "-- \nAnn Example\nExample Ltd.",
        "--\nAnn",
        "Sent from my iPhone",
        "Sent from my Galaxy",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Sent from Mail for Windows",
        "发自我的iPhone",
        "发自我的华为手机",
        "发自网易邮箱大师",
        "发自我的 iPad",
        "從我的 iPhone 傳送",
        "iPhoneから送信",
        "Von meinem iPhone gesendet",
    ],
)
def test_signature_is_cut(signature: str) -> None:
    assert strip_signature(f"{ANSWER}\n\n{signature}\n") == ANSWER


def test_signature_and_quote_together() -> None:
    text = (f"{ANSWER}\n\n发自我的iPhone\n\n"
            "在 2026年3月4日，10:00，客服 <support@shop.example> 写道：\n\n> 好的\n")
    assert shown_text(text) == ANSWER


@pytest.mark.parametrize(
    "text",
    [
        # a sentence that mentions writing is no attribution
        "On Monday my colleague wrote: the parcel never came.\nPlease check.",
        # a shipping note is no Outlook header block (no Sent/Date line)
        "From: Shanghai warehouse\nTo: Beijing\nThe parcel is stuck.",
        # "--" inside a sentence, a dash list
        "Sizes -- S, M and L -- all sold out?\n- red\n- blue",
        # a footer-like phrase in the middle of a long mail stays
        "Sent from my iPhone is what it says on every mail I get.\n" + "more\n" * 20,
        # 写道 inside a sentence
        "他在信里写道：包裹坏了。请处理。",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert shown_text(text) == text.strip()


def test_interleaved_quotes_are_kept() -> None:
    text = "> Which size?\nM, please.\n> Which colour?\nBlue."
    assert strip_quotes(text) == text


def test_bottom_posted_answer_survives() -> None:
    text = ("On Wed, Mar 4, 2026 at 10:00 AM Shop <support@shop.example> wrote:\n"
            "> Which size?\n\nM, please.")
    assert shown_text(text) == "M, please."


def test_mail_that_is_only_a_quote_is_shown_whole() -> None:
    text = "> Which size?\n> Which colour?"
    assert shown_text(text) == text


def test_forward_marker_keeps_the_forwarded_mail() -> None:
    text = ("FYI, see below.\n\nSent from my iPhone\n\n"
            "Begin forwarded message:\n\nFrom: Shop <orders@shop.example>\n"
            "Date: 4 March 2026 at 10:00\nSubject: Order\n\n> quoted inside the forward\n")
    marker = find_forward_marker(text)
    assert marker is not None and text[marker:].startswith("Begin forwarded message:")
    assert shown_text(text) == (
        "FYI, see below.\n\nBegin forwarded message:\n\nFrom: Shop <orders@shop.example>\n"
        "Date: 4 March 2026 at 10:00\nSubject: Order\n\n> quoted inside the forward")


def test_outlook_forward_without_marker_is_kept_when_the_subject_says_forward() -> None:
    text = ("Please handle.\n\n________________________________\nFrom: Bob <bob@example.org>\n"
            "Sent: Wednesday, March 4, 2026 10:00 AM\nSubject: Broken\n\nIt broke.")
    assert shown_text(text, forwarded=False) == "Please handle."
    assert shown_text(text, forwarded=True) == text


def test_chinese_forward_marker() -> None:
    text = "请看下面。\n\n-------- 转发的邮件 --------\n发件人: 客服\n主题: 订单\n\n已发货。"
    assert shown_text(text) == text


@pytest.mark.parametrize(
    ("fixture", "shown", "quoted"),
    [
        ("reply__gmail_en", "Thanks, it arrived today!", "> Your parcel is on its way."),
        ("reply__qq_zh", "收到了，谢谢！", "您的订单已发货。"),
        ("reply__outlook_zh", "好的，请开增值税专用发票。", "请问需要什么类型的发票？"),
    ],
)
def test_reply_fixtures_show_only_the_answer(fixture: str, shown: str, quoted: str) -> None:
    mail = parse_mail((FIXTURES / f"{fixture}.eml").read_bytes())
    assert mail.text == shown
    assert mail.full_text.startswith(shown) and quoted in mail.full_text


def test_html_only_reply_is_cut_at_the_gmail_attribution() -> None:
    html = ('<div dir="ltr">Got it, thanks!</div><br><div class="gmail_quote">'
            '<div dir="ltr" class="gmail_attr">On Wed, Mar 4, 2026 at 10:00 AM Shop Support '
            '&lt;<a href="mailto:support@shop.example">support@shop.example</a>&gt; wrote:<br>'
            '</div><blockquote class="gmail_quote">Your parcel is on its way.</blockquote></div>')
    raw = ("From: Ann <ann@example.com>\r\nSubject: Re: Parcel\r\n"
           "Content-Type: text/html; charset=utf-8\r\n\r\n" + html).encode()
    mail = parse_mail(raw)
    assert mail.text == "Got it, thanks!"
    assert "Your parcel is on its way." in mail.full_text
    assert mail.html is not None and "Your parcel is on its way." in mail.html
