"""The hub's HMAC signature: `Omnihub-Signature: t=<unix>,v1=<hex hmac_sha256(secret, "<t>.<body>")>`.

One scheme for both directions: shops sign what they post to an API channel, and omnihub
signs its outbound webhooks and reply_url posts, so one verifier serves everyone. The
timestamp inside the signed string stops replays outside the tolerance window.
"""

from __future__ import annotations

import hmac
import time

HEADER = "Omnihub-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The header is missing, malformed, stale, or does not match the body."""


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """Return the header value for `body`."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_mac(secret, t, body)}"


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    # hmac.digest is the one-shot C path: no HMAC object per webhook
    return hmac.digest(secret.encode(), b"%d." % timestamp + body, "sha256").hex()


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check `header` against `body`; return its timestamp or raise SignatureError.

    Several `v1=` values are accepted so that a secret can be rotated without downtime.
    """
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("timestamp t= is not an integer") from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError(f"malformed {HEADER} header: expected t=<unix>,v1=<hex>")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(f"timestamp outside the {tolerance}s tolerance")
    expected = _mac(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("signature does not match")
    return timestamp
