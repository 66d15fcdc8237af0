"""Canonical forms of customer addresses, so one person is one customer on every channel.

Identity resolution is an exact lookup on (kind, address) through a blind index, so two
spellings of the same address would make two customers. Every address is brought to one
canonical form here before it reaches the store:

- e-mail: trimmed, local part lower-cased (NFC), domain to IDNA 2008 A-labels (punycode,
  UTS #46 mapping), a trailing root dot dropped: ``Ann@BÜCHER.example`` ->
  ``ann@xn--bcher-kva.example``. Lower-casing the local part is what every mailbox
  provider does in practice, though RFC 5321 leaves it to the receiving host.
- phone: E.164 (``+14155552671``) via phonenumbers, after stripping the ``whatsapp:``,
  ``tel:`` and ``sms:`` prefixes providers put in front.
- any other kind (a Telegram user id, a Slack user, a shop's customer number): verbatim,
  because those ids are case-sensitive; only surrounding whitespace is removed.

Error messages name the reason but not the address, so that they can be logged without
spreading personal data; the rejected value is kept on ``InvalidAddress.address``.
"""

from __future__ import annotations

import re
import unicodedata

import idna
import phonenumbers

from omnihub.normalizer.schema import Identity

__all__ = [
    "MAX_ID_LENGTH",
    "InvalidAddress",
    "normalize_email",
    "normalize_identity",
    "normalize_phone",
    "validate_region",
]

MAX_ID_LENGTH = 255
# Unicode category Cc is exactly these two ranges (C0 and DEL + C1)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit minus the angle brackets
MAX_LOCAL_PART_LENGTH = 64
_PHONE_PREFIXES = ("whatsapp:", "tel:", "sms:")


class InvalidAddress(ValueError):
    """An address that cannot be brought to its canonical form; the input is rejected."""

    def __init__(self, kind: str, reason: str, address: str | None = None) -> None:
        super().__init__(f"invalid {kind} address: {reason}")
        self.kind = kind
        self.reason = reason
        self.address = address


def _has_space_or_control(value: str) -> bool:
    """True for whitespace, control, format (zero-width), private-use or unassigned code
    points: none of them belongs in an address, and some are invisible look-alikes."""
    return any(unicodedata.category(ch)[0] in "CZ" or ch.isspace() for ch in value)


def normalize_email(addr: str) -> str:
    """Return the canonical form of an e-mail address, or raise InvalidAddress."""
    value = addr.strip()
    if not value:
        raise InvalidAddress("email", "empty", addr)
    if value.count("@") != 1:
        raise InvalidAddress("email", "must contain exactly one '@'", addr)
    if _has_space_or_control(value):
        raise InvalidAddress("email", "contains spaces or control characters", addr)
    local, domain = value.split("@")
    if not local:
        raise InvalidAddress("email", "empty local part", addr)
    local = unicodedata.normalize("NFC", local.lower())
    if len(local.encode("utf-8")) > MAX_LOCAL_PART_LENGTH:
        raise InvalidAddress("email", f"local part longer than {MAX_LOCAL_PART_LENGTH} bytes", addr)
    if domain.endswith("."):
        domain = domain[:-1]  # the DNS root label: "example.com." is "example.com"
    if not domain:
        raise InvalidAddress("email", "empty domain", addr)
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidAddress("email", f"bad domain: {exc}", addr) from None
    result = f"{local}@{ascii_domain}"
    if len(result.encode("utf-8")) > MAX_EMAIL_LENGTH:
        raise InvalidAddress("email", f"longer than {MAX_EMAIL_LENGTH} bytes", addr)
    return result


def validate_region(default_region: str | None) -> str | None:
    """Return the upper-cased region code; a typo in it is the operator's configuration
    error, not a bad customer address, so it raises a plain ValueError."""
    if not default_region:
        return None
    region = default_region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"unknown default phone region {default_region!r} (an ISO 3166 code, e.g. 'US')"
        )
    return region


def normalize_phone(number: str, default_region: str | None = None) -> str:
    """Return a phone number in E.164 form, or raise InvalidAddress.

    A number written with its country code (``+86 138 0013 8000``, which is what WhatsApp,
    Twilio and Telegram send) only has to be *possible* (right length for its country):
    phonenumbers' range metadata lags behind the carriers, and a stricter check would
    lock real customers out. When ``default_region`` is given — the operator says where
    national numbers come from, typically typed by a person into a shop form — the number
    must also be *valid* (an allocated range), the only guard against a mistyped digit
    silently matching someone else.
    """
    value = number.strip()
    lowered = value.lower()
    for prefix in _PHONE_PREFIXES:
        if lowered.startswith(prefix):
            value = value[len(prefix):]
            break
    value = "".join(value.split())
    if not value:
        raise InvalidAddress("phone", "empty", number)
    if _has_space_or_control(value):
        raise InvalidAddress("phone", "contains control characters", number)
    region = validate_region(default_region)
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            reason = "no valid country code (write it as +<country code>…, or set a default region)"
        else:
            reason = f"not a phone number ({exc.args[0] if exc.args else exc})"
        raise InvalidAddress("phone", reason, number) from None
    if parsed.extension:
        raise InvalidAddress("phone", "extensions are not part of an E.164 address", number)
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidAddress("phone", "impossible length for its country", number)
    if region is not None and not phonenumbers.is_valid_number(parsed):
        raise InvalidAddress("phone", f"not a valid number (default region {region})", number)
    e164 = _e164(parsed)
    if _e164(phonenumbers.parse(e164, None)) != e164:
        # e.g. "+49 000000": leading zeros that E.164 cannot carry; re-parsing would
        # yield yet another number, so there is no canonical form to store
        raise InvalidAddress("phone", "malformed national number", number)
    return e164


def _e164(parsed: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _normalize_id(kind: str, address: str) -> str:
    """Keep a provider id verbatim (ids are case-sensitive) but reject what a database
    column or a log line would choke on."""
    value = address.strip()
    if not value:
        raise InvalidAddress(kind, "empty", address)
    if len(value) > MAX_ID_LENGTH:
        raise InvalidAddress(kind, f"longer than {MAX_ID_LENGTH} characters", address)
    if _CONTROL.search(value):
        raise InvalidAddress(kind, "contains control characters", address)
    return value


def normalize_identity(identity: Identity, *, default_region: str | None = None) -> Identity:
    """Return the identity with its address in canonical form for its kind."""
    if identity.kind == "email":
        address = normalize_email(identity.address)
    elif identity.kind == "phone":
        address = normalize_phone(identity.address, default_region)
    else:
        address = _normalize_id(identity.kind or "identity", identity.address)
    if address == identity.address:
        return identity
    return identity.model_copy(update={"address": address})
