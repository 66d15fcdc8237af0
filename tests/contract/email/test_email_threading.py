"""Threading: In-Reply-To/References first, then the subject's ticket token; never the
subject alone. The store's lookups are plain dicts here."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnihub.connectors.email.parse import ParsedMail, parse_mail
from omnihub.connectors.email.threading import (
    ThreadCandidate,
    find_token,
    normalize_subject,
    parse_message_ids,
    resolve_thread,
    root_message_id,
    strip_token,
    subject_with_token,
    thread_candidates,
)

FIXTURES = Path(__file__).parent / "fixtures"

# What the store knows: Message-IDs of mails already in conversations, and ticket numbers.
KNOWN_IDS = {
    "first@mail.example.com": "conv-1042",
    "out-1042-1@shop.example": "conv-1042",
    "out-1042-2@shop.example": "conv-1042",
    "out-1043-1@shop.example": "conv-1043",
}
KNOWN_TOKENS = {"1042": "conv-1042", "1043": "conv-1043", "1044": "conv-1044"}


def parse(name: str) -> ParsedMail:
    return parse_mail((FIXTURES / f"{name}.eml").read_bytes())


def conversation_of(mail: ParsedMail) -> str | None:
    return resolve_thread(mail.thread_candidates(), KNOWN_IDS.get, KNOWN_TOKENS.get)


def test_reply_threads_by_in_reply_to() -> None:
    mail = parse("reply__gmail_en")
    assert mail.thread_candidates() == [
        ThreadCandidate("message_id", "out-1042-1@shop.example"),
        ThreadCandidate("message_id", "first@mail.example.com"),
        ThreadCandidate("token", "1042"),
    ]
    assert conversation_of(mail) == "conv-1042"


def test_reply_with_a_changed_subject_stays_in_its_thread() -> None:
    mail = parse("reply__changed_subject")
    assert mail.ticket_token is None and mail.subject == "Another question entirely"
    assert conversation_of(mail) == "conv-1042"


def test_headers_win_over_a_token_that_points_elsewhere() -> None:
    mail = parse("reply__qq_zh")  # In-Reply-To of conv-1043, token 1043
    assert conversation_of(mail) == "conv-1043"
    tokens = {"1043": "conv-somewhere-else"}
    assert resolve_thread(mail.thread_candidates(), KNOWN_IDS.get, tokens.get) == "conv-1043"


def test_token_threads_when_the_client_dropped_the_headers() -> None:
    mail = parse("reply__token_only")
    assert (mail.in_reply_to, mail.references, mail.ticket_token) == (None, [], "1042")
    assert conversation_of(mail) == "conv-1042"


def test_unknown_references_fall_through_to_the_token() -> None:
    mail = parse("reply__outlook_zh")  # In-Reply-To unknown to the store, token 1044
    assert conversation_of(mail) == "conv-1044"


def test_unrelated_mail_with_the_same_subject_does_not_merge() -> None:
    mail = parse("inbound__same_subject_unrelated")
    assert normalize_subject(mail.subject) == normalize_subject(parse("reply__gmail_en").subject)
    assert mail.thread_candidates() == []
    assert conversation_of(mail) is None


def test_a_mail_is_never_its_own_thread_candidate() -> None:
    candidates = thread_candidates(in_reply_to="a@x", references=["root@x", "a@x", "self@x"],
                                   ticket_token=None, own_message_id="self@x")
    assert candidates == [ThreadCandidate("message_id", "a@x"),
                          ThreadCandidate("message_id", "root@x")]


def test_root_message_id() -> None:
    assert root_message_id(["root@x", "b@x"], "b@x", "self@x") == "root@x"
    assert root_message_id([], "b@x", "self@x") == "b@x"
    assert root_message_id([], None, "self@x") == "self@x"


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        ("<a@x> <b@x>\r\n <c@x>", ["a@x", "b@x", "c@x"]),
        ("<a@x>,<b@x> <a@x>", ["a@x", "b@x"]),
        ("<a@x> (comment) <b@x>", ["a@x", "b@x"]),
        ("a@x b@x", ["a@x", "b@x"]),  # brackets forgotten
        ("", []),
        (None, []),
        ("   ", []),
    ],
)
def test_parse_message_ids(value: str | None, ids: list[str]) -> None:
    assert parse_message_ids(value) == ids


@pytest.mark.parametrize(
    ("subject", "prefix", "token"),
    [
        ("Re: Parcel late [#1042]", "#", "1042"),
        ("[#7] Re: x", "#", "7"),
        ("Re: [# 12 ] spaced", "#", "12"),
        ("Fwd: [#1] and [#2]", "#", "2"),
        ("Re: [ACME-991] order", "ACME-", "991"),
        ("Re: [Ticket#A7K2] order", "Ticket#", "A7K2"),
        ("Re: [#1042] but prefix differs", "ACME-", None),
        ("order #1042 without brackets", "#", None),
        ("", "#", None),
    ],
)
def test_find_token(subject: str, prefix: str, token: str | None) -> None:
    assert find_token(subject, prefix) == token


def test_subject_with_token_round_trips_and_is_idempotent() -> None:
    subject = subject_with_token("Parcel late", "1042")
    assert subject == "Parcel late [#1042]"
    assert find_token(subject) == "1042"
    assert subject_with_token(subject, "1042") == subject
    assert subject_with_token("Re: Parcel late [#9]", "1042") == "Re: Parcel late [#1042]"
    assert subject_with_token("", "1042") == "[#1042]"
    assert subject_with_token("订单", "A7", prefix="工单#") == "订单 [工单#A7]"
    assert find_token("回复：订单 [工单#A7]", "工单#") == "A7"


@pytest.mark.parametrize("bad", ["", "12 3", "[1]", "a" * 65, "-1"])
def test_subject_with_token_rejects_tokens_that_would_not_parse_back(bad: str) -> None:
    with pytest.raises(ValueError):
        subject_with_token("x", bad)


def test_empty_prefix_is_refused() -> None:
    with pytest.raises(ValueError):
        find_token("x [1]", "")


@pytest.mark.parametrize(
    ("subject", "normal"),
    [
        ("Re: Parcel late", "Parcel late"),
        ("RE: re: Fwd: FW: Parcel late", "Parcel late"),
        ("AW: WG: Lieferung", "Lieferung"),
        ("SV: VS: Paket", "Paket"),
        ("回复：订单未发货", "订单未发货"),
        ("回复: 转发：答复: 订单", "订单"),
        ("轉寄: 回覆：訂單", "訂單"),
        ("Re[2]: Parcel", "Parcel"),
        ("Re^3: Parcel", "Parcel"),
        ("Re: Parcel late [#1042]", "Parcel late"),
        ("  Re:   Parcel    late  ", "Parcel late"),
        ("Regarding your order", "Regarding your order"),
        ("Ref: 123", "Ref: 123"),
        ("", ""),
    ],
)
def test_normalize_subject(subject: str, normal: str) -> None:
    assert normalize_subject(subject) == normal


def test_normalize_subject_can_keep_the_token() -> None:
    assert normalize_subject("Re: late [#1]", prefix=None) == "late [#1]"
    assert strip_token("a [#1] b [#2]") == "a b"


def test_a_huge_references_list_keeps_its_root_and_newest() -> None:
    ids = " ".join(f"<m{i}@x>" for i in range(500))
    raw = f"From: a@example.com\r\nSubject: x\r\nReferences: {ids}\r\n\r\nhi".encode()
    mail = parse_mail(raw)
    assert len(mail.references) == 50
    assert mail.references[0] == "m0@x" and mail.references[-1] == "m499@x"
    assert mail.references[1] == "m451@x"
    assert len(mail.thread_candidates()) == 50
