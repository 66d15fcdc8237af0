"""Loop safety: machine-sent mail is recognised and never answered automatically;
bounces name the outbound mail they return."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from omnihub.connectors.email.loops import classify, is_bounce_sender, may_answer_automatically
from omnihub.connectors.email.parse import ParsedMail, parse_mail

FIXTURES = Path(__file__).parent / "fixtures"


def parse(name: str) -> ParsedMail:
    return parse_mail((FIXTURES / f"{name}.eml").read_bytes())


def headers_only(*lines: str, subject: str = "") -> str | None:
    raw = "\r\n".join([*lines, "From: someone@example.com", "", "body"]).encode()
    msg = message_from_bytes(raw, policy=policy.default)
    return classify(msg, "someone@example.com", subject)


@pytest.mark.parametrize(
    ("fixture", "kind"),
    [
        ("auto_reply__out_of_office", "auto_reply"),
        ("auto_reply__qq_subject_only", "auto_reply"),
        ("auto_reply__precedence", "auto_reply"),
        ("list__mailing_list", "list"),
        ("list__bulk_newsletter", "list"),
        ("bounce__dsn", "bounce"),
        ("bounce__delayed", "bounce"),
        ("bounce__plain_text", "bounce"),
    ],
)
def test_machine_mail_is_recognised_and_not_answered(fixture: str, kind: str) -> None:
    mail = parse(fixture)
    assert mail.auto == kind
    assert not mail.may_answer_automatically


@pytest.mark.parametrize(
    "fixture", ["reply__gmail_en", "reply__qq_zh", "inbound__gbk", "inbound__no_message_id"]
)
def test_mail_a_person_wrote_may_be_answered(fixture: str) -> None:
    mail = parse(fixture)
    assert mail.auto is None and mail.may_answer_automatically


@pytest.mark.parametrize(
    ("lines", "kind"),
    [
        (["Auto-Submitted: auto-replied"], "auto_reply"),
        (["Auto-Submitted: auto-generated; owner-email=x@example.com"], "auto_reply"),
        (["Auto-Submitted: auto-notified"], "auto_reply"),
        (["Auto-Submitted: no"], None),
        (["Auto-Submitted: No"], None),
        (["X-Autoreply: yes"], "auto_reply"),
        (["X-Autorespond: Out of office"], "auto_reply"),
        (["X-Auto-Response-Suppress: All"], "auto_reply"),
        (["Precedence: auto_reply"], "auto_reply"),
        (["Precedence: bulk"], "list"),
        (["Precedence: junk"], "list"),
        (["Precedence: list"], "list"),
        (["Precedence: first-class"], None),
        (["List-Id: <users.lists.example.org>"], "list"),
        (["List-Unsubscribe: <https://example.org/u>"], "list"),
        (["X-Failed-Recipients: gone@example.org"], "bounce"),
        (["Content-Type: multipart/report; report-type=delivery-status; boundary=x"], "bounce"),
        (['Content-Type: multipart/report; report-type="Delivery-Status"; boundary=x'], "bounce"),
        (["Content-Type: multipart/report; report-type=disposition-notification; boundary=x"],
         "auto_reply"),
        # a bounce that is also list mail is a bounce; an auto-reply to a list is a reply
        (["List-Id: <l.example.org>", "X-Failed-Recipients: a@example.org"], "bounce"),
        (["List-Id: <l.example.org>", "Auto-Submitted: auto-replied"], "auto_reply"),
        ([], None),
    ],
)
def test_header_rules(lines: list[str], kind: str | None) -> None:
    assert headers_only(*lines) == kind


@pytest.mark.parametrize(
    ("subject", "kind"),
    [
        ("Automatic reply: Parcel", "auto_reply"),
        ("Auto: Parcel", "auto_reply"),
        ("Out of Office: Parcel", "auto_reply"),
        ("Abwesenheitsnotiz: Paket", "auto_reply"),
        ("自动回复: 订单", "auto_reply"),
        ("自動回覆：訂單", "auto_reply"),
        ("Re: out of office hours delivery?", None),
        ("Automobile parts order", None),
    ],
)
def test_auto_reply_subjects(subject: str, kind: str | None) -> None:
    assert headers_only(subject=subject) == kind


@pytest.mark.parametrize(
    ("address", "bounce"),
    [
        ("MAILER-DAEMON@mx.example.org", True),
        ("postmaster@example.org", True),
        ("mailer-daemon", True),
        ("daemon@example.org", False),
        ("ann@example.org", False),
    ],
)
def test_bounce_senders(address: str, bounce: bool) -> None:
    assert is_bounce_sender(address) is bounce


def test_may_answer_automatically() -> None:
    assert may_answer_automatically(None)
    assert not any(may_answer_automatically(k) for k in ("auto_reply", "bounce", "list"))


def test_dsn_names_the_returned_mail_and_the_failed_recipient() -> None:
    mail = parse("bounce__dsn")
    assert mail.bounced_message_ids == ["out-1050-1@shop.example"]
    assert mail.bounced_recipients == ["nobody@customer.example"]
    assert mail.from_address == "mailer-daemon@mx.shop.example"
    assert "550 5.1.1 User unknown" in mail.text
    names = [a.filename for a in mail.attachments]
    assert names == ["delivery-status.txt", "returned-headers.txt"]
    assert b"Action: failed" in mail.attachments[0].data


def test_delay_notice_fails_nothing() -> None:
    mail = parse("bounce__delayed")
    assert mail.auto == "bounce"
    assert mail.bounced_message_ids == [] and mail.bounced_recipients == []


def test_plain_text_bounce_names_the_returned_mail() -> None:
    mail = parse("bounce__plain_text")
    assert mail.bounced_message_ids == ["out-1051-1@shop.example"]


def test_ordinary_mail_names_no_bounced_ids_even_when_it_quotes_headers() -> None:
    mail = parse("forward__gmail_inline")
    assert mail.auto is None and mail.bounced_message_ids == []


def test_a_bounce_is_shown_whole() -> None:
    mail = parse("bounce__plain_text")
    assert mail.text == mail.full_text
    assert mail.text.endswith("Subject: Your order [#1051]\n\nHello.")
