"""Twilio's request signature: every webhook and callback is checked before it is trusted.

Twilio signs the URL it called (query string included) followed by the POST parameters
sorted by name, with HMAC-SHA1 of the Auth Token in `X-Twilio-Signature`; a request
sent through a webhook SharedKey says so in `X-Twilio-Webhooks-Signature-Settings`
(`key=…,algorithm=HMAC_SHA256`) and is signed with that key's secret.
https://www.twilio.com/docs/usage/webhooks/webhooks-security
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from multidict import MultiDict, MultiDictProxy
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from omnihub.connectors.base import WebhookRequest
from omnihub.connectors.errors import BadPayload, Forbidden

__all__ = ["InvalidTwilioSignature", "parse_form", "verified_form"]

FORM_TYPE = "application/x-www-form-urlencoded"


class InvalidTwilioSignature(Forbidden):
    """Missing or wrong X-Twilio-Signature: answered 403 and nothing is stored."""

    code = "invalid_signature"


def parse_form(request: WebhookRequest) -> MultiDictProxy[str]:
    """The request's form parameters (none for a GET: Twilio then signs only the URL).

    Raises BadPayload for a body that is not a UTF-8 url-encoded form.
    """
    if request.method.upper() == "GET":
        return MultiDictProxy(MultiDict())
    if request.content_type != FORM_TYPE:
        raise BadPayload(f"expected {FORM_TYPE}, got {request.content_type or 'no content type'}")
    try:
        text = request.body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadPayload(f"malformed form body: {exc}") from None
    return MultiDictProxy(MultiDict(pairs))


def verified_form(
    request: WebhookRequest, *, auth_token: str, signing_key: str | None = None
) -> MultiDictProxy[str]:
    """Check the request's signature against its public URL and return its form.

    `request.url` must be the URL exactly as Twilio called it (the hub's
    `server.public_url` + path and query), not the one seen behind a proxy; the SDK tries
    it with and without the default port. Raises InvalidTwilioSignature (403) or
    BadPayload (400).
    """
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise InvalidTwilioSignature(f"missing {SIGNATURE_HEADER} header")
    form = parse_form(request)
    settings_header = request.headers.get(SIGNATURE_SETTINGS_HEADER)
    algorithm = get_signature_algorithm(settings_header)
    secret = (signing_key or auth_token) if settings_header else auth_token
    if not RequestValidator(secret).validate(request.url, form, signature, algorithm=algorithm):
        raise InvalidTwilioSignature(f"{SIGNATURE_HEADER} does not match the request")
    return form
