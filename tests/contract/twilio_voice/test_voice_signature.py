"""signature.py on its own: the URL Twilio called, the form it posted, the SDK's checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from voice_support import AUTH_TOKEN, SIGNING_KEY, load, sign

from omnihub.connectors.base import WebhookRequest
from omnihub.connectors.errors import BadPayload
from omnihub.connectors.twilio.signature import InvalidTwilioSignature, verified_form

URL = "https://hub.example.test/webhooks/phone?event=status"
FORM = "application/x-www-form-urlencoded"


def request(body: bytes, signature: str | None, *, url: str = URL, method: str = "POST",
            content_type: str = FORM, **headers: str) -> WebhookRequest:
    sent = dict(headers)
    if signature is not None:
        sent["X-Twilio-Signature"] = signature
    return WebhookRequest(method=method, url=url, headers=sent, query={}, body=body,
                          content_type=content_type, received_at=datetime.now(UTC))


def test_a_good_signature_gives_the_form() -> None:
    body = load("call_status__completed")

    form = verified_form(request(body, sign(URL, body)), auth_token=AUTH_TOKEN)

    assert form["CallStatus"] == "completed" and form["CallDuration"] == "63"


def test_twilio_may_have_signed_the_url_with_its_default_port() -> None:
    body = load("call_status__completed")
    with_port = URL.replace("hub.example.test", "hub.example.test:443")

    assert verified_form(request(body, sign(with_port, body)), auth_token=AUTH_TOKEN)


def test_a_get_request_is_signed_over_its_url_alone() -> None:
    url = URL + "&CallSid=CA1"

    form = verified_form(request(b"", sign(url, b""), url=url, method="GET", content_type=""),
                         auth_token=AUTH_TOKEN)

    assert dict(form) == {}


@pytest.mark.parametrize("signature", [None, "", "bm90IGl0"])
def test_a_missing_or_wrong_signature_is_403(signature: str | None) -> None:
    with pytest.raises(InvalidTwilioSignature) as caught:
        verified_form(request(load("call_status__completed"), signature), auth_token=AUTH_TOKEN)

    assert caught.value.status == 403 and caught.value.code == "invalid_signature"


def test_the_shared_key_signs_only_requests_that_say_so() -> None:
    body = load("call_status__completed")
    sha256 = sign(URL, body, secret=SIGNING_KEY, algorithm="HMAC_SHA256")
    settings = {"X-Twilio-Webhooks-Signature-Settings": "key=k1,algorithm=HMAC_SHA256"}

    assert verified_form(request(body, sha256, **settings), auth_token=AUTH_TOKEN,
                         signing_key=SIGNING_KEY)
    with pytest.raises(InvalidTwilioSignature):  # without the header: the Auth Token's SHA-1
        verified_form(request(body, sha256), auth_token=AUTH_TOKEN, signing_key=SIGNING_KEY)


def test_an_unknown_algorithm_is_refused() -> None:
    body = load("call_status__completed")
    settings = {"X-Twilio-Webhooks-Signature-Settings": "key=k1,algorithm=HMAC_SHA512"}

    with pytest.raises(InvalidTwilioSignature):
        verified_form(request(body, sign(URL, body), **settings), auth_token=AUTH_TOKEN)


@pytest.mark.parametrize(("body", "content_type"), [
    (b"CallSid=CA1", "application/json"),
    (b"CallSid=CA1&&=", FORM),
    (b"CallSid=\xc3\x28", FORM),
])
def test_a_malformed_form_is_400(body: bytes, content_type: str) -> None:
    with pytest.raises(BadPayload):
        verified_form(request(body, "c2ln", content_type=content_type), auth_token=AUTH_TOKEN)
