"""Address canonical forms: one spelling per person, and clear errors for garbage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnihub.normalizer.addresses import (
    InvalidAddress,
    normalize_email,
    normalize_identity,
    normalize_phone,
)
from omnihub.normalizer.schema import Identity


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ann@example.com", "ann@example.com"),
        ("Ann.Lee@Example.COM", "ann.lee@example.com"),
        ("  ann@example.com \n", "ann@example.com"),
        ("Ann@BÜCHER.example", "ann@xn--bcher-kva.example"),
        ("kunde@straße.de", "kunde@xn--strae-oqa.de"),  # IDNA 2008: ß is kept, not "ss"
        ("ann@xn--bcher-kva.example", "ann@xn--bcher-kva.example"),
        ("ann@example.com.", "ann@example.com"),
        ("ann+orders@shop.example", "ann+orders@shop.example"),
        ("JÖRG@example.com", "jörg@example.com"),
        ("用户@例子.测试", "用户@xn--fsqu00a.xn--0zwm56d"),  # IANA's IDN test domain
    ],
)
def test_email_canonical_form(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ann.example.com", "exactly one '@'"),
        ("ann@@example.com", "exactly one '@'"),
        ('"a@b"@example.com', "exactly one '@'"),
        ("ann lee@example.com", "spaces or control"),
        ("ann@exa mple.com", "spaces or control"),
        ("ann\x00@example.com", "spaces or control"),
        ("ann@example.com\r\nBcc: x@evil.example", "exactly one '@'"),
        ("ann\r\n@example.com", "spaces or control"),
        ("ann\u200b@example.com", "spaces or control"),  # zero-width space
        ("@example.com", "empty local part"),
        ("ann@", "empty domain"),
        ("ann@.", "empty domain"),
        ("ann@exa..mple.com", "bad domain"),
        ("ann@-example.com", "bad domain"),
        ("ann@ex_ample.com", "bad domain"),
        ("a" * 65 + "@example.com", "local part longer"),
        ("ann@" + ".".join(["a" * 60] * 5), "bad domain"),  # domain over 253
        ("a" * 20 + "@" + ".".join(["a" * 60] * 4), "longer than 254"),
    ],
)
def test_email_rejected_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidAddress, match="invalid email address") as info:
        normalize_email(raw)
    assert reason in info.value.reason
    assert info.value.kind == "email"


def test_invalid_address_is_a_value_error_without_the_address_in_its_message() -> None:
    with pytest.raises(ValueError) as info:
        normalize_email("secret.person example.com")
    assert "secret.person" not in str(info.value)
    assert isinstance(info.value, InvalidAddress)
    assert info.value.address == "secret.person example.com"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+14155552671", None, "+14155552671"),
        ("+1 415 555 2671", None, "+14155552671"),
        ("whatsapp:+14155552671", None, "+14155552671"),
        ("WhatsApp:+1 415 555 2671", None, "+14155552671"),
        ("tel:+1-415-555-2671", None, "+14155552671"),
        ("sms:+14155552671", None, "+14155552671"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "us", "+14155552671"),
        ("+86 138 0013 8000", None, "+8613800138000"),
        ("138 0013 8000", "CN", "+8613800138000"),
        ("+86 138 0013 8000", "US", "+8613800138000"),
        ("+44 20 7946 0958", None, "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("0049 30 901820", "DE", "+4930901820"),
    ],
)
def test_phone_to_e164(raw: str, region: str | None, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("", None, "empty"),
        ("whatsapp:", None, "empty"),
        ("(415) 555-2671", None, "country code"),
        ("hello", None, "not a phone number"),
        ("+1 415", None, "impossible length"),
        ("+86 138 0013 8000 0000", None, "impossible length"),
        ("+1 415 555 2671 ext. 12", None, "extensions"),
        ("+999 1234 5678", None, "country code"),
        ("(200) 555-0100", "US", "not a valid number"),  # area codes never start with 2-0-0
        ("+1\x00415 555 2671", None, "control"),
        ("+49 000000", None, "malformed national number"),
    ],
)
def test_phone_rejected_with_reason(raw: str, region: str | None, reason: str) -> None:
    with pytest.raises(InvalidAddress, match="invalid phone address") as info:
        normalize_phone(raw, region)
    assert reason in info.value.reason


def test_phone_possible_but_unallocated_is_kept_without_a_region() -> None:
    # Carriers open ranges before phonenumbers' metadata knows them; WhatsApp and Twilio
    # already routed the number, so only its length is checked.
    assert normalize_phone("+1 200 555 0100") == "+12005550100"


def test_unknown_default_region_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="unknown default phone region") as info:
        normalize_phone("415 555 2671", "XX")
    assert not isinstance(info.value, InvalidAddress)


def test_identity_kinds() -> None:
    assert normalize_identity(Identity(kind="email", address="Ann@Example.com")).address == (
        "ann@example.com"
    )
    local = Identity(kind="phone", address="(415) 555-2671", verified=True)
    phone = normalize_identity(local, default_region="US")
    assert phone == Identity(kind="phone", address="+14155552671", verified=True)
    telegram = normalize_identity(Identity(kind="telegram", address="  AbC123 "))
    assert telegram.address == "AbC123"  # verbatim: ids are case-sensitive


@pytest.mark.parametrize(
    ("address", "reason"),
    [("   ", "empty"), ("x" * 256, "longer than 255"), ("U1\x00", "control")],
)
def test_identity_ids_bounded(address: str, reason: str) -> None:
    with pytest.raises(InvalidAddress, match="invalid slack address") as info:
        normalize_identity(Identity(kind="slack", address=address))
    assert reason in info.value.reason


def test_identity_id_at_limit_is_kept() -> None:
    assert normalize_identity(Identity(kind="api", address="x" * 255)).address == "x" * 255


def test_identity_unchanged_is_returned_as_is() -> None:
    identity = Identity(kind="email", address="ann@example.com")
    assert normalize_identity(identity) is identity


# Property tests: normalizing twice changes nothing more than normalizing once.

_label = st.from_regex(
    r"[a-zA-Z0-9äöüßÄÖÜéÉ漢字]([a-zA-Z0-9äöüÉ漢字-]{0,10}[a-zA-Z0-9])?", fullmatch=True
)
_local_chars = st.characters(
    blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"), blacklist_characters="@"
)
_emails = st.builds(
    lambda local, labels, junk: f"{junk}{local}@{'.'.join(labels)}{junk}",
    st.text(_local_chars, min_size=1, max_size=20),
    st.lists(_label, min_size=1, max_size=3),
    st.sampled_from(["", " ", "\t"]),
)


@given(_emails)
def test_email_normalize_is_idempotent(raw: str) -> None:
    try:
        once = normalize_email(raw)
    except InvalidAddress:
        return
    assert normalize_email(once) == once
    assert once == once.strip() and once.count("@") == 1
    assert once.split("@")[1].isascii()


_phones = st.builds(
    lambda prefix, country, digits, seps: (
        prefix + "+" + country + "".join(d + s for d, s in zip(digits, seps))
    ),
    st.sampled_from(["", "whatsapp:", "tel:", "sms:", " "]),
    st.sampled_from(["1", "44", "49", "86", "33", "91", "55"]),
    st.lists(st.sampled_from("0123456789"), min_size=4, max_size=14),
    st.lists(st.sampled_from(["", " ", "-", "."]), min_size=14, max_size=14),
)


@given(_phones, st.sampled_from([None, "US", "DE"]))
def test_phone_normalize_is_idempotent(raw: str, region: str | None) -> None:
    try:
        once = normalize_phone(raw, region)
    except InvalidAddress:
        return
    assert normalize_phone(once, region) == once
    assert normalize_phone(once) == once
    assert once.startswith("+") and once[1:].isdigit()


@given(st.text(max_size=300))
def test_identity_ids_are_idempotent_or_rejected(raw: str) -> None:
    try:
        once = normalize_identity(Identity(kind="telegram", address=raw))
    except InvalidAddress:
        return
    assert normalize_identity(once) == once
    assert once.address == raw.strip()


@given(st.text(max_size=40), st.sampled_from(["email", "phone", "telegram"]))
def test_any_input_is_normalized_or_rejected_with_invalid_address(raw: str, kind: str) -> None:
    try:
        once = normalize_identity(Identity(kind=kind, address=raw), default_region="US")
    except InvalidAddress:
        return
    assert normalize_identity(once, default_region="US") == once
