"""Webhooks through the real hub app, every request signed the way Twilio signs it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from twilio_msg_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CUSTOMER,
    PUBLIC_URL,
    FakeTwilio,
    MessagingHub,
    fixture_names,
    media_bytes,
    media_of,
    raw,
    sign,
)

# What each inbound fixture becomes: the kinds of its parts once stored
STORED: dict[str, list[str]] = {
    "message__sms_text": ["text"],
    "message__mms_image": ["text", "image"],
    "message__mms_two_media": ["image", "video"],
    "message__whatsapp_text": ["text"],
    "message__whatsapp_image": ["text", "image"],
    "message__whatsapp_voice": ["audio"],
    "message__whatsapp_document": ["file"],
    "message__whatsapp_location": ["location"],
    "message__whatsapp_contacts": ["contact"],
    "message__whatsapp_button": ["text"],
    "message__whatsapp_reply": ["text"],
}


def channel_of(name: str) -> str:
    return "wa" if "whatsapp" in name else "sms"


def test_every_message_fixture_has_a_webhook_outcome() -> None:
    assert sorted(STORED) == [n for n in fixture_names() if n.startswith("message__")]


@pytest.mark.parametrize("name", sorted(STORED))
async def test_message_fixture_through_the_hub(name: str, messaging_hub: MessagingHub,
                                               fake_twilio: FakeTwilio) -> None:
    fake_twilio.serve_media_of(name)

    resp = await messaging_hub.post(channel_of(name), raw(name))

    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/xml" and "<Response/>" in await resp.text()
    [row] = await messaging_hub.messages()
    assert [p["kind"] for p in row["parts"]] == STORED[name]
    assert row["direction"] == "in" and row["channel_id"] == channel_of(name)
    media = media_of(name)
    assert len(fake_twilio.media_requests) == len(media)
    for part, (sid, (url, mime)) in zip(
            [p for p in row["parts"] if p["kind"] not in ("text", "location")], media.items(),
            strict=True):
        if part["kind"] == "contact":
            assert part == {"kind": "contact", "name": "Bruno Lima", "phone": "+55 11 98888-7777",
                            "email": None}
            continue
        content = media_bytes(mime, sid)
        assert part["media"]["sha256"] == hashlib.sha256(content).hexdigest()
        assert part["media"]["mime"] == mime and part["media"]["size"] == len(content)
        assert part["url"] == url
        stored = Path(messaging_hub.hub.settings.media.dir) / part["media"]["sha256"][:2] / \
            part["media"]["sha256"][2:4] / part["media"]["sha256"]
        assert stored.read_bytes() == content


async def test_sender_is_an_e164_phone_and_profile_name_names_the_customer(
        messaging_hub: MessagingHub) -> None:
    await messaging_hub.post("wa", raw("message__whatsapp_text"))
    customer = await messaging_hub.hub.store.get_customer(
        (await messaging_hub.messages())[0]["customer_id"])
    assert customer is not None and customer.display_name == "Ana Souza"
    assert [(i.kind, i.address) for i in customer.identities] == [("phone", CUSTOMER)]


async def test_same_number_on_sms_whatsapp_and_a_call_is_one_customer(
        make_messaging_hub: Any, fake_twilio: FakeTwilio) -> None:
    voice = {"id": "phone", "type": "twilio_voice", "account_sid": ACCOUNT_SID,
             "auth_token": AUTH_TOKEN, "from": "+14155550100", "api_base_url": fake_twilio.url}
    hub: MessagingHub = await make_messaging_hub(voice)
    assert (await hub.post("sms", raw("message__sms_text"))).status == 200
    assert (await hub.post("wa", raw("message__whatsapp_text"))).status == 200
    call = Path(__file__).parent.parent / "twilio_voice" / "fixtures" / "incoming_call__ringing.form"
    fields = dict(parse_qsl(call.read_text(), keep_blank_values=True))
    fields.update(From=CUSTOMER, Caller=CUSTOMER, AccountSid=ACCOUNT_SID)
    resp = await hub.post("phone", urlencode(fields).encode())
    assert resp.status == 200, await resp.text()

    rows = await hub.messages()
    assert sorted(r["channel_id"] for r in rows) == ["phone", "sms", "wa"]
    assert len({r["customer_id"] for r in rows}) == 1
    assert len({r["conversation_id"] for r in rows}) == 3  # one conversation per channel


async def test_replayed_message_sid_is_stored_once(messaging_hub: MessagingHub,
                                                   fake_twilio: FakeTwilio) -> None:
    fake_twilio.serve_media_of("message__mms_image")
    for _ in range(3):
        assert (await messaging_hub.post("sms", raw("message__mms_image"))).status == 200
    assert len(await messaging_hub.messages()) == 1


@pytest.mark.parametrize("signature", [None, "bm90IGEgc2lnbmF0dXJl", "wrong"])
async def test_bad_or_missing_signature_is_403_and_stores_nothing(
        messaging_hub: MessagingHub, fake_twilio: FakeTwilio, signature: str | None) -> None:
    resp = await messaging_hub.post("sms", raw("message__mms_image"), signature=signature,
                                    signed=signature is not None)
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "invalid_signature"
    assert await messaging_hub.messages() == [] and fake_twilio.media_requests == []


async def test_signature_of_another_url_or_token_is_403(messaging_hub: MessagingHub) -> None:
    body = raw("message__sms_text")
    for signature in (sign(PUBLIC_URL + "/webhooks/wa", body),  # another channel's URL
                      sign("http://127.0.0.1:8080/webhooks/sms", body),  # the proxied URL
                      sign(PUBLIC_URL + "/webhooks/sms", body, token="another-token-0123456789")):
        resp = await messaging_hub.post("sms", body, signature=signature)
        assert resp.status == 403
    tampered = body.replace(b"order+%231042", b"order+%231043")
    resp = await messaging_hub.post("sms", tampered, signature=sign(PUBLIC_URL + "/webhooks/sms",
                                                                     body))
    assert resp.status == 403 and await messaging_hub.messages() == []


async def test_signature_covers_the_query_string(messaging_hub: MessagingHub) -> None:
    resp = await messaging_hub.post("sms", raw("message__sms_text"), query="source=console")
    assert resp.status == 200  # signed over PUBLIC_URL + path + query
    assert len(await messaging_hub.messages()) == 1


@pytest.mark.parametrize(("body", "content_type"), [
    (b"From=%2B14155550123&Body&MessageSid=SMx", "application/x-www-form-urlencoded"),
    (b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded"),
    (b'{"From": "+14155550123"}', "application/json"),
    (b"NumMedia=abc&From=%2B14155550123&MessageSid=SMx&Body=", "application/x-www-form-urlencoded"),
    (b"NumMedia=0&Body=hi&MessageSid=SMx", "application/x-www-form-urlencoded"),  # no From
    (b"NumMedia=0&Body=hi&From=not-a-number&MessageSid=SMx",
     "application/x-www-form-urlencoded"),
])
async def test_malformed_form_is_400_and_stores_nothing(messaging_hub: MessagingHub,
                                                        body: bytes, content_type: str) -> None:
    resp = await messaging_hub.post("sms", body, content_type=content_type)
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error"]["code"] in ("bad_payload", "invalid_address")
    assert await messaging_hub.messages() == []


async def test_media_that_cannot_be_fetched_keeps_the_message(messaging_hub: MessagingHub,
                                                              fake_twilio: FakeTwilio) -> None:
    fake_twilio.media_failures.append(500)  # Twilio does not retry a failed messaging webhook
    resp = await messaging_hub.post("wa", raw("message__whatsapp_image"))
    assert resp.status == 200
    [row] = await messaging_hub.messages()
    image = row["parts"][1]
    assert image["media"] is None and image["url"].startswith("https://api.twilio.com/")


async def test_unsupported_request_is_answered_200_and_counted(
        messaging_hub: MessagingHub) -> None:
    body = urlencode({"AccountSid": ACCOUNT_SID, "SmsStatus": "sending",
                      "MessageSid": "SMabc"}).encode()
    resp = await messaging_hub.post("sms", body)
    assert resp.status == 200 and "ignored" in await resp.json()
    metrics = await (await messaging_hub.http.get("/metrics")).text()
    assert 'omnihub_webhook_ignored_total{channel="sms"' in metrics


async def test_status_for_a_message_we_never_sent_changes_nothing(
        messaging_hub: MessagingHub) -> None:
    resp = await messaging_hub.post("sms", raw("status__sms_delivered"))
    assert resp.status == 200 and await messaging_hub.messages() == []
    assert await messaging_hub.events("message.status") == []


async def test_attachment_link_serves_the_blob_only_when_signed(messaging_hub: MessagingHub,
                                                                fake_twilio: FakeTwilio) -> None:
    from omnihub.connectors.twilio.media_links import media_link

    fake_twilio.serve_media_of("message__mms_image")
    await messaging_hub.post("sms", raw("message__mms_image"))
    [row] = await messaging_hub.messages()
    from omnihub.normalizer.schema import MediaRef

    ref = MediaRef(**row["parts"][1]["media"])
    link = media_link(PUBLIC_URL, "sms", AUTH_TOKEN, ref, ttl_seconds=60)
    path = link.removeprefix(PUBLIC_URL)
    resp = await messaging_hub.http.get(path)
    assert resp.status == 200 and resp.content_type == "image/jpeg"
    assert hashlib.sha256(await resp.read()).hexdigest() == ref.sha256
    for bad in (path.replace("signature=", "signature=0"), path.replace("sms", "wa", 1),
                path.replace("image%2Fjpeg", "text%2Fhtml"),
                media_link(PUBLIC_URL, "sms", AUTH_TOKEN, ref, ttl_seconds=60,
                           now=0).removeprefix(PUBLIC_URL)):
        assert (await messaging_hub.http.get(bad)).status == 403, bad


async def test_oversized_media_keeps_the_message_without_the_file(
        messaging_hub: MessagingHub, fake_twilio: FakeTwilio) -> None:
    fake_twilio.serve_media_of("message__mms_two_media")
    messaging_hub.hub.connectors["sms"].context.media.max_bytes = 100
    resp = await messaging_hub.post("sms", raw("message__mms_two_media"))
    assert resp.status == 200
    [row] = await messaging_hub.messages()
    assert [p["media"] for p in row["parts"]] == [None, None]
    assert all(p["url"].startswith("https://api.twilio.com/") for p in row["parts"])
