"""Parse: the hand-built `.eml` fixtures (wire bytes from make_fixtures.py), one test per
condition, plus a check that the committed fixtures are what the generator writes."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnihub.connectors.email.charsets import decode_bytes, decode_words, resolve_charset
from omnihub.connectors.email.parse import (
    MailAttachment,
    ParsedMail,
    UnparseableMail,
    parse_mail,
    parse_mail_or_flag,
)

FIXTURES = Path(__file__).parent / "fixtures"
SENT = datetime(2026, 3, 5, 2, 12, tzinfo=UTC)


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.eml").read_bytes()


def parse(name: str) -> ParsedMail:
    return parse_mail(raw(name))


def test_fixtures_are_what_the_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.fixtures()
    mine = {p.name for p in FIXTURES.glob("*.eml") if p.name in built}
    assert mine == set(built)
    for name, data in built.items():
        assert (FIXTURES / name).read_bytes() == data, f"{name} differs: rerun make_fixtures.py"


# --- charsets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "subject", "from_name", "text"),
    [
        ("inbound__gb2312", "换货", "张三", "你好，我想换一个颜色。"),
        ("inbound__gb2312_labelled_gbk", "订单未发货 朱镕基", "王堃",
         "您好，我是朱镕基的同事王堃，订单号 123456 还没有发货。"),
        ("inbound__gbk", "退货咨询", "张三", "请问退货地址是哪里？谢谢！"),
        ("inbound__gb18030", "价格问题𠀀", "张三", "价格是 €25，商品名里有生僻字𠀀。"),
        ("inbound__big5", "到貨時間", "陳大文", "請問這件商品什麼時候到貨？"),
        ("inbound__iso_2022_jp", "注文について", "山田太郎", "注文した商品がまだ届きません。"),
        ("inbound__shift_jis", "返品①", "鈴木", "①番の商品を返品したいです。"),
        ("inbound__euc_kr", "배송 문의", "김철수", "주문한 상품이 아직 도착하지 않았습니다."),
        ("inbound__iso_8859_1", "Bestellung für Müller", "Jürgen Müller",
         "Grüße aus Köln – the “blue” one, please."),
        ("inbound__iso_8859_2", "Zamówienie", "Łukasz Żak",
         "Dzień dobry, zamówienie nie dotarło. Żółć."),
        ("inbound__iso_8859_15", "Prix en €", "Zoé", "Le prix était 25 €."),
        ("inbound__windows_1251", "Где заказ", "Иван Петров", "Здравствуйте, где мой заказ?"),
        ("inbound__windows_1252", "It’s broken", "Zoë O’Neil", "It’s “broken” — please help…"),
    ],
)
def test_charset(name: str, subject: str, from_name: str, text: str) -> None:
    mail = parse(name)
    assert (mail.subject, mail.from_name, mail.text, mail.full_text) == (
        subject, from_name, text, text)
    assert mail.from_address == "customer@example.cn"
    assert not any("charset" in defect for defect in mail.defects)


def test_gb2312_label_is_read_as_gb18030_not_strict_gb2312() -> None:
    body = "朱镕基".encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        body.decode("gb2312")
    assert resolve_charset("GB2312") == "gb18030"
    assert decode_bytes(body, "gb2312") == ("朱镕基", False)


def test_unknown_charset_falls_back_and_says_so() -> None:
    mail = parse("inbound__unknown_charset")
    assert mail.text == "Hällo, this is UTF-8 under a made-up label."
    assert "charset x-user-defined-foo unusable; decoded leniently" in mail.defects


def test_utf8_labelled_as_ascii_is_read_as_utf8() -> None:
    mail = parse("inbound__mislabelled_utf8")
    assert mail.text == "我的订单在哪里？" and mail.subject == "订单"


@pytest.mark.parametrize("label", ["base64", "rot13", "unicode_escape", "", None, "x-nope"])
def test_labels_that_name_no_text_charset_are_refused(label: str | None) -> None:
    assert resolve_charset(label) is None
    assert decode_bytes(b"caf\xc3\xa9 \\u0041", label)[0] == "café \\u0041"


def test_undecodable_bytes_never_raise() -> None:
    text, fell_back = decode_bytes(b"\xff\xfe\x81 abc", "utf-8")
    assert fell_back and text.endswith(" abc") and "\ufffd" in text


# --- RFC 2047 headers ---------------------------------------------------------------------


def test_rfc2047_b_words_split_inside_a_character() -> None:
    mail = parse("inbound__rfc2047_b")
    assert mail.subject == "退款申请 refund"
    assert (mail.from_name, mail.from_address) == ("韩梅梅", "hanmeimei@example.cn")
    assert mail.cc == ["wangwu@example.cn", "zhao@example.cn"]  # "王, 五" is one name


def test_rfc2047_q_words_and_an_idna_domain() -> None:
    mail = parse("inbound__rfc2047_q")
    assert mail.subject == "Café au lait € order #42"
    assert mail.from_name == "Zoé Lefèvre"
    assert mail.from_address == "zoe@xn--bcher-kva.example"
    assert mail.reply_to == "orders+zoe@shop-customer.example"
    assert mail.to == ["support@shop.example"]


def test_decode_words_keeps_plain_text_and_joins_adjacent_words() -> None:
    assert decode_words("plain subject") == "plain subject"
    assert decode_words("=?utf-8?q?a?= =?utf-8?q?b?= c") == "ab c"
    gbk_word = "=?gb2312?B?" + base64.b64encode("朱镕基".encode("gbk")).decode() + "?="
    assert decode_words(gbk_word) == "朱镕基"  # 镕 is GBK only, yet labelled gb2312


def test_broken_encoded_word_stays_readable() -> None:
    assert decode_words("=?NONE?B?VEVTVA=?=") == "TEST"
    assert decode_words("=?utf-8?B?***?= tail").endswith("tail")


# --- structure -----------------------------------------------------------------------------


def test_multipart_alternative_keeps_plain_text_and_sanitized_html() -> None:
    mail = parse("inbound__multipart_alternative")
    assert mail.text == "Hello team,\nmy parcel is late."
    assert mail.html is not None
    assert "<script" not in mail.html and "alert" not in mail.html
    assert "onclick" not in mail.html and "javascript:" not in mail.html
    assert "<style" not in mail.html
    assert '<a href="https://track.example/1" rel="noopener noreferrer nofollow">' in mail.html
    assert mail.attachments == []


def test_html_only_mail_gets_a_plain_text_from_its_html() -> None:
    mail = parse("inbound__html_only")
    assert mail.text == "您好，\n我要退货。\n\n订单 A-1001"
    assert mail.html == "<div>您好，<br>我要退货。</div><div>订单 <b>A-1001</b></div>"


def test_inline_image_is_kept_with_its_bytes_and_content_id() -> None:
    mail = parse("inbound__inline_image")
    assert mail.html is not None and 'src="cid:photo1@example.com"' in mail.html
    (image,) = mail.attachments
    assert image.filename == "photo.png" and image.content_type == "image/png"
    assert image.inline and image.content_id == "photo1@example.com"
    assert image.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert mail.inline_images == {"photo1@example.com": image}


def test_attachment_names_in_rfc2231_form() -> None:
    mail = parse("inbound__attachment_rfc2231")
    pdf, listing = mail.attachments
    assert (pdf.filename, pdf.content_type, pdf.inline) == ("发票 2026.pdf", "application/pdf",
                                                            False)
    assert pdf.data == b"%PDF-1.4\n% fictional invoice\n"
    assert listing.filename == "清单.txt" and listing.data == "清单".encode("gbk")
    assert mail.text == "Invoice attached."


def test_attached_mail_is_kept_whole_and_marks_a_forward() -> None:
    mail = parse("forward__rfc822_attached")
    assert mail.forwarded
    # the attached mail is also rendered into the text, the way clients show a forward
    assert mail.text == mail.full_text == (
        "See the mail below, it was wrong.\n\n---------- Forwarded message ----------\n"
        "From: Shop <orders@shop.example>\nDate: 2026-03-02 09:00 UTC\n"
        "Subject: Your order A-1001\n\nThank you for your order A-1001.")
    (attached,) = mail.attachments
    assert attached.content_type == "message/rfc822"
    assert attached.filename == "Your order A-1001.eml"
    inner = parse_mail(attached.data)
    assert inner.message_id == "order-a1001@shop.example"
    assert inner.text == "Thank you for your order A-1001."


def test_inline_forward_is_shown_whole() -> None:
    mail = parse("forward__gmail_inline")
    assert mail.forwarded
    assert mail.text.startswith("Please look at this.\n\n---------- Forwarded message")
    assert mail.text.endswith("Thank you for your order A-1001.\n> not a quote to strip")
    assert mail.text == mail.full_text


def test_headers_and_dates() -> None:
    mail = parse("inbound__rfc2047_q")
    assert mail.date == SENT and mail.date.tzinfo is UTC
    assert mail.message_id == "q-words@mail.example.fr" == mail.dedupe_key
    assert mail.auto is None and mail.may_answer_automatically and mail.flag is None


def test_parsed_mail_is_frozen() -> None:
    mail = parse("inbound__gbk")
    with pytest.raises(FrozenInstanceError):
        mail.text = "changed"  # type: ignore[misc]


# --- dedupe ---------------------------------------------------------------------------------


def test_mail_without_message_id_gets_a_stable_content_key() -> None:
    data = raw("inbound__no_message_id")
    mail = parse_mail(data)
    assert mail.message_id is None and mail.dedupe_key.startswith("sha256:")
    # the same mail fetched again, with a trace header the server added, is the same mail
    again = parse_mail(b"Received: from mx by imap; Thu, 5 Mar 2026 10:13:00 +0800\r\n" + data)
    assert again.dedupe_key == mail.dedupe_key
    # another body is another mail
    other = parse_mail(data.replace(b"no Message-ID", b"no Message-ID either"))
    assert other.dedupe_key != mail.dedupe_key
    assert len(mail.dedupe_key) == len("sha256:") + len(hashlib.sha256().hexdigest())


# --- malformed ------------------------------------------------------------------------------


def test_bytes_without_headers_raise_unparseable() -> None:
    with pytest.raises(UnparseableMail) as caught:
        parse("malformed__no_headers")
    assert caught.value.reason == "no header section"
    with pytest.raises(UnparseableMail):
        parse_mail(b"  \r\n")


def test_unparseable_mail_is_kept_raw_and_flagged() -> None:
    data = raw("malformed__no_headers")
    mail = parse_mail_or_flag(data)
    assert mail.flag == "no header section"
    assert mail.attachments == [MailAttachment("original.eml", "message/rfc822", data)]
    assert mail.dedupe_key == "sha256:" + hashlib.sha256(data).hexdigest()
    assert mail.text and not mail.may_answer_automatically


def test_broken_mime_keeps_what_can_be_read() -> None:
    mail = parse("malformed__broken_mime")
    assert mail.text == "Still readable."
    assert [a.filename for a in mail.attachments] == ["x.bin"]
    assert "CloseBoundaryNotFoundDefect" in mail.defects and mail.flag is None


def test_broken_header_section_is_repaired() -> None:
    mail = parse("malformed__bad_headers")
    assert (mail.from_address, mail.subject) == ("ann@example.com", "spaced out")
    assert mail.to == ["support@shop.example"] and mail.date is None
    assert mail.text == "Body survives."
    assert "obsolete header syntax (space before colon) repaired" in mail.defects
    assert "malformed header line dropped" in mail.defects
    assert "Date: unreadable" in mail.defects


def test_mail_without_a_sender_is_flagged_not_dropped() -> None:
    mail = parse_mail(b"Subject: who sent this?\r\n\r\nnobody knows\r\n")
    assert mail.from_address == "" and mail.flag == "no usable sender address"
    assert mail.text == "nobody knows"


def test_long_text_is_bounded() -> None:
    body = ("长" * 40_000).encode("utf-8")
    data = (b"From: a@example.com\r\nSubject: long\r\nContent-Type: text/plain; charset=utf-8"
            b"\r\n\r\n" + body)
    mail = parse_mail(data, max_text=1024)
    assert mail.truncated and len(mail.text.encode()) <= 1024 and mail.text == "长" * 341


def nested(depth: int) -> bytes:
    head = b"From: a@example.com\r\nSubject: deep\r\n"
    body = b""
    for level in range(depth):
        body += f"Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n".encode()
    body += b"Content-Type: text/plain\r\n\r\nbottom\r\n"
    for level in reversed(range(depth)):
        body += f"--b{level}--\r\n".encode()
    return head + body


def test_deep_nesting_is_cut_into_one_attachment() -> None:
    mail = parse_mail(nested(60))
    assert "MIME nesting too deep; the rest is kept as one attachment" in mail.defects
    (rest,) = mail.attachments
    assert rest.content_type == "multipart/mixed" and b"bottom" in rest.data
    assert mail.from_address == "a@example.com" and mail.flag is None


def test_absurd_nesting_is_flagged_not_raised() -> None:
    mail = parse_mail_or_flag(nested(3000))
    assert mail.flag == "more than 200 multipart sections"
    assert mail.attachments[0].data == nested(3000)


def test_parse_rejects_text() -> None:
    with pytest.raises(TypeError):
        parse_mail("From: a@example.com\r\n\r\nhi")  # type: ignore[arg-type]


def test_html_without_a_charset_label_uses_its_meta_charset() -> None:
    html = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gbk">' \
           "</head><body><p>朱镕基</p></body></html>"
    data = (b"From: a@example.com\r\nSubject: meta\r\nContent-Type: text/html\r\n\r\n"
            + html.encode("gbk"))
    mail = parse_mail(data)
    assert mail.text == "朱镕基" and mail.html == "<p>朱镕基</p>"


def test_format_flowed_is_unwrapped() -> None:
    data = (b"From: a@example.com\r\nSubject: flowed\r\n"
            b"Content-Type: text/plain; charset=utf-8; format=flowed; delsp=no\r\n\r\n"
            b"This line was wrapped \r\nby the client.\r\n \r\nFrom the start.\r\n")
    assert parse_mail(data).text == "This line was wrapped by the client.\n\nFrom the start."


def test_raw_8bit_headers_are_read_in_the_body_charset() -> None:
    data = ("From: 王堃 <wk@example.cn>\r\nSubject: 订单\r\n"
            "Content-Type: text/plain; charset=gbk\r\n\r\n好").encode("gbk")
    mail = parse_mail(data)
    assert (mail.subject, mail.from_name, mail.text) == ("订单", "王堃", "好")


# --- hostile input ---------------------------------------------------------------------------

_SEEDS = sorted(p.name for p in FIXTURES.glob("*.eml"))


def _assert_storable(mail: ParsedMail) -> None:
    assert mail.dedupe_key
    for value in (mail.subject, mail.text, mail.full_text, mail.html or "", mail.from_address,
                  mail.from_name or "", *mail.to, *mail.cc,
                  *(a.filename or "" for a in mail.attachments)):
        value.encode("utf-8")  # no lone surrogates: every field can be stored


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_any_bytes_parse_or_flag_without_raising(data: bytes) -> None:
    _assert_storable(parse_mail_or_flag(data))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SEEDS), st.lists(st.tuples(st.integers(0, 10**6), st.binary(max_size=8)),
                                         max_size=6))
def test_damaged_fixtures_parse_or_flag_without_raising(
        name: str, edits: list[tuple[int, bytes]]) -> None:
    data = bytearray((FIXTURES / name).read_bytes())
    for position, junk in edits:
        at = position % (len(data) + 1)
        data[at:at + len(junk)] = junk
    _assert_storable(parse_mail_or_flag(bytes(data)))


@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("inbound__gbk", "zh"),
        ("inbound__big5", "zh"),
        ("inbound__iso_2022_jp", "ja"),
        ("inbound__euc_kr", "ko"),
        ("inbound__windows_1252", None),
        ("reply__gmail_en", None),
    ],
)
def test_language_from_the_script(name: str, language: str | None) -> None:
    assert parse(name).language == language


def test_content_language_header_wins() -> None:
    data = (b"From: a@example.com\r\nSubject: x\r\nContent-Language: de-DE, en\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "你好".encode())
    assert parse_mail(data).language == "de-DE"


def test_base64_encoded_attached_mail_is_a_forward_too() -> None:
    inner = (FIXTURES / "forward__rfc822_attached.eml").read_bytes().split(
        b"Content-Disposition: attachment\r\n\r\n", 1)[1].rsplit(b"\r\n--FWD--", 1)[0]
    data = (b"From: a@example.com\r\nSubject: fw\r\nContent-Type: multipart/mixed; boundary=B"
            b"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nsee\r\n--B\r\n"
            b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(inner).replace(b"\n", b"\r\n") + b"--B--\r\n")
    mail = parse_mail(data)
    assert mail.forwarded
    assert mail.attachments[0].data == inner and mail.attachments[0].filename == "message.eml"
    assert "Thank you for your order A-1001." in mail.text
