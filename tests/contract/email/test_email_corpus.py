"""Every mail of the shared real-world corpus parses without an undocumented error.

The corpus (the test mails of the Ruby `mail` gem: broken headers, odd charsets, bounces,
RFC 2822 and RFC 6532 examples) is read in place from ``../shared/fixtures/mail/
real-world`` beside the repository, or from ``$OMNIHUB_MAIL_CORPUS``. Missing, it fails
the run in CI (``$CI`` set) and skips on a developer's machine without it.

Every file must come back from ``parse_mail_or_flag`` without raising, with text free of
lone surrogates (they cannot be stored as UTF-8), a dedupe key, and a sender, a body or an
attachment — unless it is listed in EXPECTED below with the reason. Several files also
have their decoded content checked.
"""

from __future__ import annotations

import os
from datetime import UTC
from pathlib import Path

import pytest

from omnihub.connectors.email.parse import ParsedMail, parse_mail_or_flag

REPO = Path(__file__).resolve().parents[3]
CORPUS = Path(
    os.environ.get("OMNIHUB_MAIL_CORPUS") or REPO.parent / "shared/fixtures/mail/real-world"
)
FILES = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.eml")) if CORPUS.is_dir() else []

# Files whose shape is documented: no sender, or no body at all (the corpus file ends
# after its headers). Anything else without a sender or content fails the test.
NO_SENDER = {
    "error_emails/bad_encoded_subject.eml": "has no From header at all",
}
NO_CONTENT = {
    "error_emails/bad_date_header.eml": "headers only",
    "error_emails/bad_date_header2.eml": "multipart whose boundary never appears",
    "error_emails/empty_in_reply_to.eml": "multipart whose boundary never appears",
    "error_emails/missing_body.eml": "multipart whose boundary never appears",
    "error_emails/must_supply_encoding.eml": "multipart whose boundary never appears",
}


def _strings(mail: ParsedMail) -> list[str]:
    return [mail.subject, mail.text, mail.full_text, mail.html or "", mail.from_name or "",
            mail.from_address, *mail.to, *mail.cc, *mail.references, *mail.defects,
            *(a.filename or "" for a in mail.attachments)]


def require_corpus() -> None:
    """Fail in CI, skip elsewhere, when the corpus is not there."""
    if not FILES:
        message = f"mail corpus missing or empty at {CORPUS} (set OMNIHUB_MAIL_CORPUS)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def test_corpus_is_present() -> None:
    require_corpus()
    assert len(FILES) >= 100


@pytest.mark.parametrize("name", FILES or ["(corpus missing)"])
def test_every_corpus_mail_parses(name: str) -> None:
    require_corpus()
    mail = parse_mail_or_flag((CORPUS / name).read_bytes())
    assert mail.dedupe_key
    for value in _strings(mail):
        assert not any("\ud800" <= ch <= "\udfff" for ch in value), value[:80]
        value.encode("utf-8")
    assert mail.date is None or mail.date.tzinfo is UTC
    if name in NO_SENDER:
        assert mail.from_address == "" and mail.flag == "no usable sender address"
    else:
        assert "@" in mail.from_address and mail.flag is None, mail.defects
    has_content = bool(mail.text.strip() or mail.html or mail.attachments)
    assert has_content is (name not in NO_CONTENT)
    for attachment in mail.attachments:
        assert attachment.content_type and "/" in attachment.content_type


def parsed(name: str) -> ParsedMail:
    require_corpus()
    return parse_mail_or_flag((CORPUS / name).read_bytes())


@pytest.mark.parametrize(
    ("name", "subject", "text"),
    [
        ("multi_charset/japanese.eml", "まみむめも", "かきくえこ"),
        ("multi_charset/japanese_iso_2022.eml", "まみむめも", "すみません。"),
        ("multi_charset/ks_c_5601-1987.eml", "test", "스티해"),
        ("plain_emails/raw_email.eml", "NOTE: 한국말로 하는 것",
         "대부분의 마찬가지로, 우리는 하나님을 믿습니다.\n\n제 이름은 Jamis입니다."),
        ("plain_emails/raw_email_with_partially_quoted_subject.eml",
         'Re: Test: "漢字" mid "漢字" tail', None),
        ("rfc6532/utf8_headers.eml", "Säying Hello", "body"),
        ("rfc2822/example13.eml", "Saying Hello", None),
        ("plain_emails/raw_email_reply.eml", "Re: Test reply email", "Message body"),
        ("error_emails/invalid_subject_characters.eml",
         "Formação FrenetikPolis: Mega Campanha Final Verão | Cursos de Setembro", None),
    ],
)
def test_corpus_content(name: str, subject: str, text: str | None) -> None:
    mail = parsed(name)
    assert mail.subject == subject
    if text is not None:
        assert mail.text == text


def test_corpus_shift_jis_body() -> None:
    mail = parsed("multi_charset/japanese_shift_jis.eml")
    assert mail.text.startswith("あいうえお\n\nこのメールはテスト用のメールです。")


@pytest.mark.parametrize(
    ("name", "filename"),
    [
        ("multi_charset/japanese_attachment.eml", "てすと.txt"),
        ("multi_charset/japanese_attachment_long_name.eml", "かきくけこ" * 5 + ".txt"),
        ("attachment_emails/attachment_nonascii_filename.eml", "ciële.txt"),
        ("attachment_emails/attachment_with_quoted_filename.eml", "Eelanalüüsi päring.jpg"),
        ("attachment_emails/attachment_with_base64_encoded_name.eml", "This is a test.pdf"),
        ("attachment_emails/attachment_pdf.eml", "broken.pdf"),
    ],
)
def test_corpus_attachment_names(name: str, filename: str) -> None:
    assert filename in [a.filename for a in parsed(name).attachments]


def test_corpus_attached_mail_is_a_forward() -> None:
    mail = parsed("attachment_emails/attachment_message_rfc822.eml")
    assert mail.forwarded
    assert [a.content_type for a in mail.attachments] == ["message/rfc822"]


def test_corpus_sender_recovered_from_broken_headers() -> None:
    assert parsed("rfc2822/example13.eml").from_address == "jdoe@machine.example"
    assert parsed("plain_emails/raw_email_incorrect_header.eml").from_address == "xxx@xxx.xxx"
    assert parsed("plain_emails/mix_caps_content_type.eml").from_address == "bb@bug.com"
    assert parsed("rfc6532/utf8_headers.eml").from_address == "jdöe@xn--mchine-bua.example"


@pytest.mark.parametrize(
    ("name", "ids", "recipients"),
    [
        ("multipart_report_emails/multi_address_bounce1.eml",
         ["118707422.15521266992174819.JavaMail.root@lvmail01"], 5),
        ("multipart_report_emails/multipart_report_multiple_status.eml",
         ["4c2a146147ac8_61ff157c4ec1652df@s.h.c.mail"], 1),
        ("multipart_report_emails/report_530.eml",
         ["200712232303.lBNN3jDq002941@mail12.rrrr.com.au"], None),
        # "could not send message for past 4 hours": a delay, nothing failed yet
        ("multipart_report_emails/report_422.eml", [], 0),
    ],
)
def test_corpus_bounces(name: str, ids: list[str], recipients: int | None) -> None:
    mail = parsed(name)
    assert mail.auto == "bounce" and not mail.may_answer_automatically
    assert mail.bounced_message_ids == ids
    if recipients is not None:
        assert len(mail.bounced_recipients) == recipients
