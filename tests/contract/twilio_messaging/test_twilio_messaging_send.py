"""Send: the connectors against the Messages API stand-in, and the whole reply round trip."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from twilio_msg_support import (
    ACCOUNT_SID,
    CUSTOMER,
    PUBLIC_URL,
    FakeTwilio,
    MessagingHub,
    encode,
    form,
    raw,
)

from omnihub.connectors.base import OutboundMessage
from omnihub.connectors.errors import PermanentSendError, TemporarySendError
from omnihub.connectors.twilio.client import MediaUnavailable, retry_after_seconds
from omnihub.connectors.twilio.media_links import verify_link
from omnihub.normalizer.schema import (
    ContactPart,
    Identity,
    ImagePart,
    LocationPart,
    Part,
    TextPart,
)


def outbound(*parts: Part, channel: str = "sms", buttons: list[str] | None = None
             ) -> OutboundMessage:
    return OutboundMessage(message_id="01JOUT", conversation_id="01JCONV", channel_id=channel,
                           recipient=Identity(kind="phone", address=CUSTOMER), thread_key=None,
                           parts=list(parts), author="agent:eve", buttons=buttons)


async def test_sms_goes_to_the_number_with_a_status_callback(make_connector: Any,
                                                             fake_twilio: FakeTwilio) -> None:
    receipt = await make_connector().send(outbound(TextPart(text="It ships today.")))

    [sent] = fake_twilio.sent
    assert sent.account_sid == ACCOUNT_SID
    assert sent.params == {"To": [CUSTOMER], "From": ["+14155550100"], "Body": ["It ships today."],
                           "StatusCallback": [f"{PUBLIC_URL}/webhooks/sms"]}
    assert receipt.external_id == "SM" + "0" * 31 + "1"


async def test_whatsapp_addresses_carry_the_prefix(make_connector: Any,
                                                   fake_twilio: FakeTwilio) -> None:
    await make_connector("twilio_whatsapp").send(outbound(TextPart(text="Olá!"), channel="wa"))
    [sent] = fake_twilio.sent
    assert sent.one("To") == f"whatsapp:{CUSTOMER}" and sent.one("From") == "whatsapp:+14155238886"
    assert sent.one("StatusCallback") == f"{PUBLIC_URL}/webhooks/wa"


def test_whatsapp_sender_given_as_a_bare_number_gets_the_prefix(make_connector: Any) -> None:
    assert make_connector("twilio_whatsapp", **{"from": "+14155238886"}).settings.from_ == \
        "whatsapp:+14155238886"
    with pytest.raises(ValueError, match="twilio_whatsapp"):
        make_connector("twilio_sms", **{"from": "whatsapp:+14155238886"})


async def test_long_text_is_split_within_twilios_limit(make_connector: Any,
                                                       fake_twilio: FakeTwilio) -> None:
    text = ("Your refund is on its way. " * 80 + "🙂" * 900).strip()
    receipt = await make_connector().send(outbound(TextPart(text=text)))

    bodies = [s.one("Body") or "" for s in fake_twilio.sent]
    assert len(bodies) > 2 and "".join(bodies).replace(" ", "") == text.replace(" ", "")
    assert all(sum(2 if ord(c) > 0xFFFF else 1 for c in b) <= 1600 for b in bodies)
    assert receipt.external_id == "SM" + "0" * 31 + "1"  # the first one's SID
    # receipts are matched on the first SID: only it asks for status callbacks
    assert [bool(s.one("StatusCallback")) for s in fake_twilio.sent] == \
        [True] + [False] * (len(bodies) - 1)


async def test_retry_after_a_429_mid_way_does_not_repeat_what_went(
        make_connector: Any, fake_twilio: FakeTwilio) -> None:
    connector = make_connector()
    message = outbound(TextPart(text="First part. " * 300))  # 3,600 characters: 3 pieces
    fake_twilio.fail(429, 20429, "Too Many Requests", retry_after="1", at=2)

    with pytest.raises(TemporarySendError):
        await connector.send(message)
    receipt = await connector.send(message)  # the durable retry

    bodies = [s.one("Body") for s in fake_twilio.sent]
    assert len(bodies) == 4 and bodies[1] == bodies[2]  # the refused one, then again
    assert "".join(b or "" for b in bodies[:1] + bodies[2:]) == "First part. " * 300
    assert receipt.external_id == "SM" + "0" * 31 + "1"  # still the first piece's SID


async def test_attachments_go_as_signed_links_with_their_caption(make_connector: Any,
                                                                 fake_twilio: FakeTwilio) -> None:
    connector = make_connector()
    ref = connector.context.media.put(b"\xff\xd8\xff\xe0 a photo", "image/jpeg", "box.jpg")
    await connector.send(outbound(
        TextPart(text="See attached"), ImagePart(media=ref, caption="Your parcel"),
        ImagePart(url="https://cdn.shop.example/catalog/42.png")))

    first, second, third = fake_twilio.sent
    assert first.one("Body") == "See attached" and "MediaUrl" not in first.params
    assert second.one("Body") == "Your parcel"
    link = urlsplit(second.one("MediaUrl") or "")
    assert f"{link.scheme}://{link.netloc}" == PUBLIC_URL
    assert link.path == f"/twilio/sms/media/{ref.sha256}"
    query = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert verify_link(connector.settings.auth_token, "sms", ref.sha256, query) == "image/jpeg"
    assert third.params.get("Body") is None
    assert third.one("MediaUrl") == "https://cdn.shop.example/catalog/42.png"


async def test_location_contact_and_buttons_go_as_text(make_connector: Any,
                                                       fake_twilio: FakeTwilio) -> None:
    await make_connector().send(outbound(
        LocationPart(latitude=-23.5613, longitude=-46.6565, title="Our store"),
        ContactPart(name="Support line", phone="+14155550199"),
        buttons=["1", "2", "3"]))
    bodies = [s.one("Body") for s in fake_twilio.sent]
    assert bodies == ["Our store\nhttps://maps.google.com/?q=-23.5613,-46.6565",
                      "Support line +14155550199\n\n1. 1\n2. 2\n3. 3"]


async def test_no_status_callback_when_turned_off(make_connector: Any,
                                                  fake_twilio: FakeTwilio) -> None:
    await make_connector(status_callbacks=False).send(outbound(TextPart(text="hi")))
    assert "StatusCallback" not in fake_twilio.sent[0].params


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), (None, None)])
async def test_429_is_temporary_and_keeps_retry_after(make_connector: Any, fake_twilio: FakeTwilio,
                                                      header: str | None,
                                                      expected: float | None) -> None:
    fake_twilio.fail(429, 20429, "Too Many Requests", retry_after=header)
    with pytest.raises(TemporarySendError) as caught:
        await make_connector().send(outbound(TextPart(text="hi")))
    assert caught.value.retry_after == expected and "429" in str(caught.value)


def test_retry_after_as_an_http_date() -> None:
    assert retry_after_seconds("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds("") is None


async def test_twilio_error_is_permanent_with_its_code(make_connector: Any,
                                                       fake_twilio: FakeTwilio) -> None:
    fake_twilio.fail(400, 21211, "Invalid 'To' Phone Number: +1415555XXXX")
    with pytest.raises(PermanentSendError) as caught:
        await make_connector().send(outbound(TextPart(text="hi")))
    assert str(caught.value) == ("Twilio error 21211: Invalid 'To' Phone Number: +1415555XXXX "
                                 "(HTTP 400)")


async def test_wrong_credentials_are_permanent(make_connector: Any) -> None:
    with pytest.raises(PermanentSendError, match="Twilio error 20003"):
        await make_connector(auth_token="not-the-right-token-000").send(
            outbound(TextPart(text="hi")))


async def test_server_error_and_unreachable_are_temporary(make_connector: Any,
                                                          fake_twilio: FakeTwilio) -> None:
    fake_twilio.fail(503, 20500, "Service Unavailable")
    with pytest.raises(TemporarySendError, match="HTTP 503"):
        await make_connector().send(outbound(TextPart(text="hi")))
    with pytest.raises(TemporarySendError, match="unreachable"):
        await make_connector(api_base_url="http://127.0.0.1:9").send(outbound(TextPart(text="hi")))


async def test_media_is_only_fetched_from_twilio(make_connector: Any,
                                                 fake_twilio: FakeTwilio) -> None:
    connector = make_connector()
    with pytest.raises(MediaUnavailable):
        await connector.twilio.download_media("https://evil.example/steal", connector.context.media)
    with pytest.raises(MediaUnavailable):
        await connector.twilio.download_media("http://api.twilio.com/x", connector.context.media)
    assert fake_twilio.media_requests == []


async def test_nothing_sendable_is_permanent(make_connector: Any) -> None:
    with pytest.raises(PermanentSendError):
        await make_connector().send(outbound(TextPart(text="   ")))


# --- the round trip through a hub -------------------------------------------------------


async def _reply(hub: MessagingHub, fake: FakeTwilio, text: str) -> tuple[dict[str, Any], Any]:
    """An agent answers the only conversation; wait until the stand-in has the message."""
    from omnihub.store.tokens import create_token

    auth = {"Authorization": f"Bearer {await create_token(hub.hub.db, 'eve', 'agent')}"}
    [conv] = (await (await hub.http.get("/api/v1/conversations", headers=auth)).json())["items"]
    resp = await hub.http.post(f"/api/v1/conversations/{conv['id']}/messages",
                               json={"text": text}, headers=auth)
    assert resp.status == 201, await resp.text()
    reply = await resp.json()
    for _ in range(500):
        message = await hub.hub.store.get_message(reply["id"])
        if message is not None and message.status != "queued":
            break
        await asyncio.sleep(0.02)
    assert message is not None and message.status == "sent"
    return reply, message


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mysql"])
async def test_inbound_sms_reply_and_delivery_receipt(make_messaging_hub: Any, backend: str,
                                                      fake_twilio: FakeTwilio) -> None:
    messaging_hub: MessagingHub = await make_messaging_hub(backend=backend)
    assert (await messaging_hub.post("sms", raw("message__sms_text"))).status == 200
    reply, message = await _reply(messaging_hub, fake_twilio, "It ships today.")

    [sent] = fake_twilio.sent
    assert sent.one("To") == CUSTOMER and sent.one("Body") == "It ships today."
    callback = sent.one("StatusCallback")
    assert callback == f"{PUBLIC_URL}/webhooks/sms"
    sid = message.external_id
    assert sid == "SM" + "0" * 31 + "1"

    for status in ("sent", "delivered"):  # as Twilio posts them to the StatusCallback URL
        body = encode({**form(f"status__sms_{status}"), "MessageSid": sid, "SmsSid": sid})
        resp = await messaging_hub.post("sms", body)
        assert resp.status == 200, await resp.text()

    delivered = await messaging_hub.hub.store.get_message(reply["id"])
    assert delivered is not None and delivered.status == "delivered"
    events = await messaging_hub.events("message.status")
    assert [(e["data"]["message_id"], e["data"]["status"]) for e in events] == [
        (reply["id"], "sent"), (reply["id"], "delivered")]

    late = encode({**form("status__sms_sent"), "MessageSid": sid, "SmsSid": sid})
    assert (await messaging_hub.post("sms", late)).status == 200  # statuses only move forward
    assert (await messaging_hub.hub.store.get_message(reply["id"])).status == "delivered"  # type: ignore[union-attr]
    assert len(await messaging_hub.events("message.status")) == 2


async def test_whatsapp_reply_outside_the_24h_window_is_recorded_failed(
        messaging_hub: MessagingHub, fake_twilio: FakeTwilio) -> None:
    assert (await messaging_hub.post("wa", raw("message__whatsapp_text"))).status == 200
    reply, message = await _reply(messaging_hub, fake_twilio, "Any news?")
    sid = message.external_id

    body = encode({**form("status__whatsapp_failed_63016"), "MessageSid": sid, "SmsSid": sid})
    assert (await messaging_hub.post("wa", body)).status == 200

    failed = await messaging_hub.hub.store.get_message(reply["id"])
    assert failed is not None and failed.status == "failed"
    [event] = [e for e in await messaging_hub.events("message.status")
               if e["data"]["status"] == "failed"]
    assert event["data"]["error"].startswith("Twilio error 63016:")
