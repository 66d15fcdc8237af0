"""Who is on the other end of a chat: signed visitor tokens and the shop's identity check.

An anonymous visitor gets a random visitor id inside a token signed with the channel's
`secret` (kept in the browser's localStorage). Anything in a token was put there by the
hub, so a visitor can't pick another visitor's id.

A shop that knows who is logged in vouches for it the way Intercom and Crisp do: its
server computes ``user_hash = hex(HMAC-SHA256(identity_secret, user_id))`` and puts it on
the page beside the user id. Only then is the visitor's identity *verified* and allowed to
link to the customer's cross-channel history (store identity rules, omnihub/store/
ingest.py). The HMAC covers the user id alone, so an e-mail address passed beside it is
verified only with its own ``email_hash = hex(HMAC-SHA256(identity_secret, email))``:
otherwise a user could claim their own id together with somebody else's address and be
linked to that person's history.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace

import orjson

from omnihub.normalizer.addresses import InvalidAddress, normalize_email
from omnihub.normalizer.schema import Identity

__all__ = [
    "ANONYMOUS_KIND",
    "USER_KIND",
    "IdentityRefused",
    "InvalidToken",
    "Visitor",
    "identify",
    "issue_token",
    "new_visitor",
    "read_token",
    "sign_user",
]

ANONYMOUS_KIND = "webchat"
USER_KIND = "webchat-user"
_PREFIX = "wc1"
_MAX_TOKEN = 2048
_MAX_USER_ID = 128


class InvalidToken(Exception):
    """A visitor token that is malformed, forged, for another channel, or expired."""


class IdentityRefused(Exception):
    """A claimed shop identity whose HMAC does not check out (or no key to check it)."""


@dataclass(frozen=True, slots=True)
class Visitor:
    """A browser (visitor_id) and, when the shop vouched for it, its logged-in user."""

    channel_id: str
    visitor_id: str
    user_id: str | None = None
    email: str | None = None  # only ever set when verified by the shop
    name: str | None = None
    expires_at: int | None = None  # unix seconds; identified tokens only

    @property
    def verified(self) -> bool:
        return self.user_id is not None

    @property
    def primary(self) -> Identity:
        """The channel's own address for this visitor: the routing key of its sockets."""
        if self.user_id is not None:
            return Identity(kind=USER_KIND, address=self.user_id, verified=True)
        return Identity(kind=ANONYMOUS_KIND, address=self.visitor_id, verified=False)

    def identities(self) -> list[Identity]:
        """The sender identities of this visitor's messages, primary first."""
        found = [self.primary]
        if self.email is not None:
            found.append(Identity(kind="email", address=self.email, verified=True))
        return found


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, message: str) -> bytes:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()


def new_visitor(channel_id: str) -> Visitor:
    return Visitor(channel_id=channel_id, visitor_id=secrets.token_urlsafe(16))


def issue_token(secret: str, visitor: Visitor) -> str:
    """`wc1.<base64url JSON>.<base64url HMAC>`; the JSON is readable, not secret."""
    claims: dict[str, object] = {"c": visitor.channel_id, "v": visitor.visitor_id}
    for key, value in (("u", visitor.user_id), ("e", visitor.email), ("n", visitor.name),
                       ("x", visitor.expires_at)):
        if value is not None:
            claims[key] = value
    body = f"{_PREFIX}.{_b64(orjson.dumps(claims))}"
    return f"{body}.{_b64(_mac(secret, body))}"


def read_token(secret: str, token: str, *, channel_id: str, now: float) -> Visitor:
    """The visitor a token names, after checking its signature, channel and expiry."""
    if not isinstance(token, str) or len(token) > _MAX_TOKEN:
        raise InvalidToken("malformed visitor token")
    prefix, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    if prefix != _PREFIX or not payload or not signature:
        raise InvalidToken("malformed visitor token")
    try:
        given = _unb64(signature)
        claims = orjson.loads(_unb64(payload))
    except (binascii.Error, ValueError):
        raise InvalidToken("malformed visitor token") from None
    if not hmac.compare_digest(given, _mac(secret, f"{prefix}.{payload}")):
        raise InvalidToken("visitor token signature does not match")
    if not isinstance(claims, dict) or not isinstance(claims.get("v"), str):
        raise InvalidToken("malformed visitor token")
    if claims.get("c") != channel_id:
        raise InvalidToken("visitor token is for another channel")
    expires = claims.get("x")
    if expires is not None and (not isinstance(expires, int) or expires < now):
        raise InvalidToken("visitor token has expired")
    return Visitor(channel_id=channel_id, visitor_id=claims["v"], user_id=claims.get("u"),
                   email=claims.get("e"), name=claims.get("n"), expires_at=expires)


def sign_user(identity_secret: str, value: str) -> str:
    """What the shop's server computes: hex HMAC-SHA256 of the user id (or e-mail)."""
    return hmac.new(identity_secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def _check(identity_secret: str, value: str, given: str | None, what: str) -> None:
    if not given or not hmac.compare_digest(sign_user(identity_secret, value), given.lower()):
        raise IdentityRefused(f"{what} does not match: the shop's server must compute it "
                              "with the channel's identity_secret")


def identify(
    visitor: Visitor, *, identity_secret: str | None, user_id: str, user_hash: str | None,
    email: str | None = None, email_hash: str | None = None, name: str | None = None,
    ttl_seconds: int, now: float,
) -> Visitor:
    """The same browser, now vouched for by the shop as `user_id` (and `email`).

    Raises IdentityRefused for a hash that doesn't check out; nothing is linked then.
    """
    if identity_secret is None:
        raise IdentityRefused("this channel has no identity_secret: visitors stay anonymous")
    user_id = user_id.strip()
    if not 1 <= len(user_id) <= _MAX_USER_ID or not user_id.isprintable():
        raise IdentityRefused(f"user_id must be 1 to {_MAX_USER_ID} printable characters")
    _check(identity_secret, user_id, user_hash, "user_hash")
    verified_email = None
    if email is not None:
        _check(identity_secret, email.strip(), email_hash, "email_hash")
        try:
            verified_email = normalize_email(email)
        except InvalidAddress as exc:
            raise IdentityRefused(f"email: {exc}") from None
    return replace(visitor, user_id=user_id, email=verified_email,
                   name=(name or "").strip()[:255] or None, expires_at=int(now) + ttl_seconds)
