"""Visitor tokens and the shop's identity verification: nothing a browser can forge."""

from __future__ import annotations

import time

import pytest

from omnihub.connectors.webchat.visitor import (
    IdentityRefused,
    InvalidToken,
    Visitor,
    identify,
    issue_token,
    new_visitor,
    read_token,
    sign_user,
)

SECRET = "visitor-secret-0123456789"
SHOP_KEY = "shop-identity-key-0123456789"
NOW = time.time()


def test_a_token_round_trips_to_the_same_visitor() -> None:
    visitor = new_visitor("web")
    assert read_token(SECRET, issue_token(SECRET, visitor), channel_id="web", now=NOW) == visitor
    assert visitor.primary.kind == "webchat" and visitor.primary.verified is False
    assert visitor.identities() == [visitor.primary]


def test_visitor_ids_are_unique_and_unguessable() -> None:
    ids = {new_visitor("web").visitor_id for _ in range(200)}
    assert len(ids) == 200 and all(len(i) >= 20 for i in ids)


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
    lambda t: t.split(".")[0] + ".eyJjIjoid2ViIiwidiI6Im1hbGxvcnkifQ." + t.split(".")[2],
    lambda t: "wc2" + t[3:],
    lambda t: "garbage",
    lambda t: "wc1..",
    lambda t: "wc1.!!!.###",
    lambda t: t + "x" * 3000,
], ids=["signature", "payload-swapped", "version", "garbage", "empty-parts", "bad-base64",
        "too-long"])
def test_tampered_tokens_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    token = issue_token(SECRET, new_visitor("web"))
    with pytest.raises(InvalidToken):
        read_token(SECRET, mangle(token), channel_id="web", now=NOW)


def test_a_token_of_another_secret_or_channel_is_refused() -> None:
    token = issue_token(SECRET, new_visitor("web"))
    with pytest.raises(InvalidToken, match="signature"):
        read_token("another-secret-0123456789", token, channel_id="web", now=NOW)
    other = issue_token(SECRET, new_visitor("other"))
    with pytest.raises(InvalidToken, match="another channel"):
        read_token(SECRET, other, channel_id="web", now=NOW)


def test_a_verified_user_links_by_user_id_and_email() -> None:
    anonymous = new_visitor("web")
    user = identify(anonymous, identity_secret=SHOP_KEY, user_id="u-42",
                    user_hash=sign_user(SHOP_KEY, "u-42"), email="Ann@Example.COM",
                    email_hash=sign_user(SHOP_KEY, "Ann@Example.COM"), name="Ann",
                    ttl_seconds=3600, now=NOW)
    assert user.visitor_id == anonymous.visitor_id and user.verified
    assert [(i.kind, i.address, i.verified) for i in user.identities()] == [
        ("webchat-user", "u-42", True), ("email", "ann@example.com", True)]
    again = read_token(SECRET, issue_token(SECRET, user), channel_id="web", now=NOW)
    assert again == user


def test_an_identified_token_expires() -> None:
    user = identify(new_visitor("web"), identity_secret=SHOP_KEY, user_id="u-42",
                    user_hash=sign_user(SHOP_KEY, "u-42"), ttl_seconds=60, now=NOW)
    token = issue_token(SECRET, user)
    assert read_token(SECRET, token, channel_id="web", now=NOW + 59).user_id == "u-42"
    with pytest.raises(InvalidToken, match="expired"):
        read_token(SECRET, token, channel_id="web", now=NOW + 61)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"user_hash": sign_user(SHOP_KEY, "u-43")}, "user_hash"),  # someone else's hash
    ({"user_hash": sign_user("guessed-key-0123456789", "u-42")}, "user_hash"),
    ({"user_hash": ""}, "user_hash"),
    ({"user_hash": None}, "user_hash"),
    # the user's own valid hash with somebody else's address: refused, not linked
    ({"user_hash": sign_user(SHOP_KEY, "u-42"), "email": "victim@example.com"}, "email_hash"),
    ({"user_hash": sign_user(SHOP_KEY, "u-42"), "email": "victim@example.com",
      "email_hash": sign_user(SHOP_KEY, "me@example.com")}, "email_hash"),
])
def test_forged_identities_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(IdentityRefused, match=match):
        identify(new_visitor("web"), identity_secret=SHOP_KEY, user_id="u-42",
                 ttl_seconds=60, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_without_an_identity_secret_nobody_is_verified() -> None:
    with pytest.raises(IdentityRefused, match="identity_secret"):
        identify(new_visitor("web"), identity_secret=None, user_id="u-42",
                 user_hash=sign_user(SHOP_KEY, "u-42"), ttl_seconds=60, now=NOW)


def test_a_forged_token_claiming_a_user_is_refused() -> None:
    forged = Visitor("web", "v", user_id="u-42")
    token = issue_token("not-the-channel-secret-012", forged)
    with pytest.raises(InvalidToken):
        read_token(SECRET, token, channel_id="web", now=NOW)
