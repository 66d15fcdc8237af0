"""Bad input at the edge: a wrong or missing signature is 403, a malformed form 400, and
neither stores anything."""

from __future__ import annotations

from voice_support import PUBLIC_URL, SIGNING_KEY, VoiceHub, load, sign


async def assert_nothing_stored(voice_hub: VoiceHub) -> None:
    assert await voice_hub.messages() == []
    assert await voice_hub.events("message.received") == []


async def test_a_wrong_signature_is_403_and_nothing_is_stored(voice_hub: VoiceHub) -> None:
    body = load("incoming_call__ringing")
    wrong = sign(f"{PUBLIC_URL}/webhooks/phone", body, secret="another-accounts-auth-token")

    resp = await voice_hub.post("incoming_call__ringing", signature=wrong)

    assert resp.status == 403 and (await resp.json())["error"]["code"] == "invalid_signature"
    await assert_nothing_stored(voice_hub)


async def test_a_missing_signature_is_403(voice_hub: VoiceHub) -> None:
    resp = await voice_hub.http.post("/webhooks/phone", data=load("incoming_call__ringing"),
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})

    assert resp.status == 403
    await assert_nothing_stored(voice_hub)


async def test_a_tampered_body_is_403(voice_hub: VoiceHub) -> None:
    body = load("incoming_call__ringing")
    signature = sign(f"{PUBLIC_URL}/webhooks/phone", body)
    tampered = body.replace(b"%2B12125550147", b"%2B12125550199")

    resp = await voice_hub.post("incoming_call__ringing", tampered, signature=signature)

    assert resp.status == 403
    await assert_nothing_stored(voice_hub)


async def test_a_signature_for_another_url_is_403(voice_hub: VoiceHub) -> None:
    """The query is signed too: a transcript can't be replayed as a different event."""
    await voice_hub.post("incoming_call__ringing")
    body = load("transcription__completed")
    signed_for = f"{PUBLIC_URL}/webhooks/phone?event=recording"

    resp = await voice_hub.post("transcription__completed", body,
                                signature=sign(signed_for, body))

    assert resp.status == 403 and (await voice_hub.call())["transcript"] is None


async def test_the_url_behind_a_proxy_is_not_the_one_signed(voice_hub: VoiceHub) -> None:
    body = load("incoming_call__ringing")
    internal = str(voice_hub.http.make_url("/webhooks/phone"))

    resp = await voice_hub.post("incoming_call__ringing", signature=sign(internal, body))

    assert resp.status == 403
    await assert_nothing_stored(voice_hub)


async def test_a_shared_key_hmac_sha256_signature_is_accepted(make_voice_hub) -> None:
    voice_hub: VoiceHub = await make_voice_hub(webhook_signing_key=SIGNING_KEY)
    body = load("incoming_call__ringing")
    url = f"{PUBLIC_URL}/webhooks/phone"
    settings = {"X-Twilio-Webhooks-Signature-Settings":
                "key=webhooks_sharedkey_0123456789,algorithm=HMAC_SHA256"}

    good = await voice_hub.post("incoming_call__ringing", headers=settings, signature=sign(
        url, body, secret=SIGNING_KEY, algorithm="HMAC_SHA256"))
    sha1 = await voice_hub.post("incoming_call__ringing", headers=settings,
                                signature=sign(url, body, secret=SIGNING_KEY))

    assert good.status == 200 and "<Gather" in await good.text()
    assert sha1.status == 403  # the header names the algorithm; another one does not pass


async def test_a_body_that_is_not_a_form_is_400(voice_hub: VoiceHub) -> None:
    body = b'{"CallSid": "CA1"}'

    resp = await voice_hub.post("incoming_call__ringing", body, signature="c2lnbmF0dXJl",
                                content_type="application/json")

    assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_payload"
    await assert_nothing_stored(voice_hub)


async def test_a_form_that_does_not_parse_is_400(voice_hub: VoiceHub) -> None:
    for body in (b"CallSid=CA1&From=%2B1&broken", b"CallSid=\xff\xfe"):
        resp = await voice_hub.post("incoming_call__ringing", body, signature="c2lnbmF0dXJl")

        assert resp.status == 400, body
    await assert_nothing_stored(voice_hub)


async def test_a_signed_form_without_a_call_sid_is_400(voice_hub: VoiceHub) -> None:
    body = b"AccountSid=AC3f2b9c0d4e5a6b7c8d9e0f1a2b3c4d5e&From=%2B12125550147&CallStatus=ringing"

    resp = await voice_hub.post("incoming_call__ringing", body)

    assert resp.status == 400 and "CallSid" in (await resp.json())["error"]["message"]
    await assert_nothing_stored(voice_hub)


async def test_an_unknown_event_is_answered_200_and_ignored(voice_hub: VoiceHub) -> None:
    url = f"{PUBLIC_URL}/webhooks/phone?event=conference"

    resp = await voice_hub.post("call_status__completed", url=url)

    assert resp.status == 200 and (await resp.json())["ignored"] == "event conference"
    await assert_nothing_stored(voice_hub)


async def test_an_anonymous_caller_is_a_customer_of_that_call_alone(voice_hub: VoiceHub) -> None:
    resp = await voice_hub.post("incoming_call__anonymous")

    assert resp.status == 200
    [row] = await voice_hub.messages()
    customer = await voice_hub.hub.store.find_customer("twilio_call", row["external_id"])
    assert customer is not None and customer.id == row["customer_id"]
    assert [i.kind for i in customer.identities] == ["twilio_call"]  # no phone to link by
