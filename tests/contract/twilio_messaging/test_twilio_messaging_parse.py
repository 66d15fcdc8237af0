"""Parse: one test per fixture (named test_<fixture>), a coverage test, and bad forms."""

from __future__ import annotations

import pytest
from twilio_msg_support import CUSTOMER, fixture_names, form, raw

from omnihub.connectors.base import DeliveryUpdate
from omnihub.connectors.errors import BadPayload, UnsupportedEvent
from omnihub.connectors.twilio.parse_messaging import (
    EVENTS,
    MessagingEvent,
    event_type,
    parse_messaging,
)
from omnihub.connectors.twilio.vcard import contact_from_vcard
from omnihub.normalizer.schema import ContactPart, InboundMessage, LocationPart, TextPart


def parse(name: str) -> MessagingEvent:
    kind = "twilio_whatsapp" if "whatsapp" in name else "twilio_sms"
    return parse_messaging(kind, "ch", form(name), raw=raw(name))  # type: ignore[arg-type]


def message(name: str) -> tuple[InboundMessage, dict[int, str]]:
    event = parse(name)
    assert event.statuses == [] and event.ignored is None
    [pending] = event.messages
    return pending.item, {i: f.mime for i, f in pending.files.items()}


def status(name: str) -> DeliveryUpdate:
    event = parse(name)
    assert event.messages == []
    [update] = event.statuses
    return update


def test_message__sms_text() -> None:
    msg, files = message("message__sms_text")
    assert msg.external_id == "SM1f0e2d3c4b5a69788796a5b4c3d2e1f0" and files == {}
    assert msg.channel_type == "twilio_sms"
    assert msg.parts == [TextPart(text="Hi, where is my order #1042? It was due Tuesday.")]
    [identity] = msg.sender.identities
    assert (identity.kind, identity.address) == ("phone", CUSTOMER)
    assert msg.sender.display_name is None
    assert msg.raw == raw("message__sms_text")
    assert msg.raw_content_type == "application/x-www-form-urlencoded"


def test_message__mms_image() -> None:
    msg, files = message("message__mms_image")
    assert [p.kind for p in msg.parts] == ["text", "image"]
    assert files == {1: "image/jpeg"}
    assert msg.parts[1].url == form("message__mms_image")["MediaUrl0"]  # type: ignore[union-attr]


def test_message__mms_two_media() -> None:
    msg, files = message("message__mms_two_media")
    assert [p.kind for p in msg.parts] == ["image", "video"]  # empty Body: no text part
    assert files == {0: "image/png", 1: "video/mp4"}


def test_message__whatsapp_text() -> None:
    msg, _ = message("message__whatsapp_text")
    assert msg.channel_type == "twilio_whatsapp"
    assert msg.parts == [TextPart(text="Olá! Can I change the delivery address? 🙏")]
    assert msg.sender.identities[0].address == CUSTOMER  # `whatsapp:` stripped
    assert msg.sender.display_name == "Ana Souza"


def test_message__whatsapp_image() -> None:
    msg, files = message("message__whatsapp_image")
    assert [p.kind for p in msg.parts] == ["text", "image"] and files == {1: "image/jpeg"}


def test_message__whatsapp_voice() -> None:
    msg, files = message("message__whatsapp_voice")
    assert [p.kind for p in msg.parts] == ["audio"] and files == {0: "audio/ogg"}


def test_message__whatsapp_document() -> None:
    msg, files = message("message__whatsapp_document")
    assert [p.kind for p in msg.parts] == ["file"] and files == {0: "application/pdf"}
    [pending] = parse("message__whatsapp_document").messages
    assert pending.files[0].name == "MEd5e6f708192a3b4c5d6e7f8091a2b3c4.pdf"


def test_message__whatsapp_location() -> None:
    msg, files = message("message__whatsapp_location")
    assert files == {}
    assert msg.parts == [LocationPart(latitude=-23.5613, longitude=-46.6565, title="MASP")]


def test_message__whatsapp_contacts() -> None:
    [pending] = parse("message__whatsapp_contacts").messages
    assert [p.kind for p in pending.item.parts] == ["file"]
    assert pending.files[0].contact and pending.files[0].mime == "text/vcard"


def test_message__whatsapp_button() -> None:
    msg, _ = message("message__whatsapp_button")
    assert msg.parts == [TextPart(text="Track my order")]
    assert msg.reply_to_external_id == "SM2a3b4c5d6e7f8091a2b3c4d5e6f70819"


def test_message__whatsapp_reply() -> None:
    msg, _ = message("message__whatsapp_reply")
    assert msg.parts == [TextPart(text="Yes, that one")]
    assert msg.reply_to_external_id == "SM2a3b4c5d6e7f8091a2b3c4d5e6f70819"


def test_status__sms_queued() -> None:
    event = parse("status__sms_queued")
    assert event.statuses == [] and event.messages == [] and event.ignored == "status queued"


def test_status__sms_sent() -> None:
    assert status("status__sms_sent") == DeliveryUpdate(
        external_id="SM4c5d6e7f8091a2b3c4d5e6f708192a3b", status="sent")


def test_status__sms_delivered() -> None:
    assert status("status__sms_delivered").status == "delivered"


def test_status__sms_undelivered() -> None:
    update = status("status__sms_undelivered")
    assert update.status == "failed"
    assert update.error == "Twilio error 30003: unreachable destination handset"


def test_status__whatsapp_sent() -> None:
    assert status("status__whatsapp_sent").status == "sent"


def test_status__whatsapp_delivered() -> None:
    assert status("status__whatsapp_delivered").status == "delivered"


def test_status__whatsapp_read() -> None:
    assert status("status__whatsapp_read") == DeliveryUpdate(
        external_id="SM5d6e7f8091a2b3c4d5e6f708192a3b4c", status="read")


def test_status__whatsapp_failed_63016() -> None:
    update = status("status__whatsapp_failed_63016")
    assert update.status == "failed"
    assert update.error is not None and update.error.startswith(
        "Twilio error 63016: Failed to send freeform message because you are outside")


def test_every_fixture_is_tested_and_every_event_has_a_fixture() -> None:
    names = fixture_names()
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert [n for n in names if n not in tested] == [], "fixtures without a parse test"
    assert set(EVENTS) - {event_type(form(n)) for n in names} == set(), "events without a fixture"
    for kind in ("sms", "whatsapp"):
        for event in EVENTS:
            assert any(n.startswith(f"{event}__{kind}") for n in names), (event, kind)


def test_media_error_code_without_known_text() -> None:
    f = {**form("status__sms_undelivered"), "ErrorCode": "30034"}
    [update] = parse_messaging("twilio_sms", "ch", f).statuses
    assert update.error == "Twilio error 30034: undelivered"


@pytest.mark.parametrize(("change", "error"), [
    ({"From": ""}, "missing form field From"),
    ({"MessageSid": ""}, "missing form field MessageSid"),
    ({"NumMedia": "many"}, "NumMedia is not a number"),
    ({"NumMedia": "11"}, "out of range"),
    ({"NumMedia": "1"}, "missing form field MediaUrl0"),
    ({"Latitude": "north", "Longitude": "1"}, "not coordinates"),
    ({"Latitude": "95", "Longitude": "1"}, "not coordinates"),
])
def test_malformed_message_is_bad_payload(change: dict[str, str], error: str) -> None:
    with pytest.raises(BadPayload, match=error):
        parse_messaging("twilio_sms", "ch", {**form("message__sms_text"), **change})


@pytest.mark.parametrize("fields", [
    {"AccountSid": "AC0123456789abcdef0123456789abcdef"},  # nothing that says what it is
    {**form("message__sms_text"), "SmsStatus": "sending"},
    {**form("status__sms_sent"), "MessageStatus": "exploded"},
    {**form("message__whatsapp_text"), "Body": "", "MessageType": "sticker"},
])
def test_requests_without_content_are_unsupported(fields: dict[str, str]) -> None:
    with pytest.raises(UnsupportedEvent):
        parse_messaging("twilio_whatsapp", "ch", fields)


def test_vcard_with_folded_lines_and_n_only() -> None:
    card = b"BEGIN:VCARD\r\nVERSION:4.0\r\nN:Doe;Jane;;;\r\nEMAIL;TYPE=work:jane@\r\n example.com\r\nEND:VCARD\r\n"
    assert contact_from_vcard(card) == ContactPart(name="Jane Doe", email="jane@example.com")
    assert contact_from_vcard(b"BEGIN:VCARD\r\nEND:VCARD\r\n") is None
