"""Every Twilio Voice fixture through a real hub, signed as Twilio signs it."""

from __future__ import annotations

from typing import Any

import pytest
from voice_support import (
    CALL_SID,
    CALLER,
    MP3,
    RECORDING_SID,
    FakeTwilio,
    VoiceHub,
    fixture_names,
)

# fixture -> (what the TwiML answer contains | None, call part fields after it | None,
#             the reason it is ignored | None)
OUTCOMES: dict[str, tuple[str | None, dict[str, Any] | None, str | None]] = {
    "incoming_call__ringing": ("<Gather", {"status": "ringing", "direction": "in"}, None),
    "incoming_call__anonymous": ("<Gather", None, None),
    "gather__digits": (">after-sales</Enqueue>", None, None),
    "gather__speech": (">logistics</Enqueue>", None, None),
    "gather__unmatched": ("Sorry, I did not understand.", None, None),
    "gather__no_input": ("event=gather&amp;attempt=2", None, None),
    "queue_wait__waiting": ("<Pause", None, None),
    "queue_wait__too_long": ("<Leave", None, None),
    "queue_result__bridged": ("<Hangup", {"answered_by": "agent"}, None),
    "queue_result__leave": ("<Record", None, None),
    "queue_result__hangup": ("<Hangup", {"answered_by": None}, None),
    "dial_action__completed": ("<Hangup", None, None),
    "dial_action__no_answer": ("<Record", None, None),
    "agent_leg__answered": (None, {"answered_by": "agent:li.na"}, None),
    "record_action__recorded": ("Thank you. Goodbye.", {"answered_by": "voicemail"}, None),
    "recording_status__completed": (None, {"answered_by": "voicemail"}, None),
    "recording_status__absent": (None, {"recording": None}, "recording absent"),
    "transcription__completed": (None, {"transcript": (
        "Hi, this is Alex Doe. My parcel for order 10483 has not arrived yet. "
        "Please call me back.")}, None),
    "transcription__failed": (None, {"transcript": None}, "transcription failed"),
    "call_status__completed": (None, {"status": "completed", "duration": 63.0}, None),
    "call_status__canceled": (None, {"status": "canceled", "duration": 0.0}, None),
    # receipts of replies sent as SMS: nothing of the call changes (test_voice_send.py)
    "sms_status__delivered": (None, {"status": "ringing"}, None),
    "sms_status__undelivered": (None, {"status": "ringing"}, None),
}


def test_every_fixture_has_an_outcome() -> None:
    assert sorted(OUTCOMES) == fixture_names()


@pytest.mark.parametrize("name", sorted(OUTCOMES))
async def test_fixture_through_the_hub(name: str, voice_hub: VoiceHub,
                                       twilio_api: FakeTwilio) -> None:
    twilio_api.recordings[RECORDING_SID] = MP3
    if not name.startswith("incoming_call"):
        assert (await voice_hub.post("incoming_call__ringing")).status == 200

    resp = await voice_hub.post(name)

    text = await resp.text()
    assert resp.status == 200, text
    twiml, fields, ignored = OUTCOMES[name]
    if twiml is not None:
        assert resp.content_type == "application/xml" and twiml in text
    if ignored is not None:
        assert (await resp.json())["ignored"] == ignored
    rows = await voice_hub.messages()
    assert len(rows) == 1 and rows[0]["channel_type"] == "twilio_voice"
    for key, value in (fields or {}).items():
        assert rows[0]["parts"][0][key] == value


async def test_a_call_is_one_message_of_the_callers_phone_identity(voice_hub: VoiceHub) -> None:
    await voice_hub.post("incoming_call__ringing")
    again = await voice_hub.post("incoming_call__ringing")  # Twilio retried the webhook

    assert again.status == 200
    [row] = await voice_hub.messages()
    assert row["external_id"] == CALL_SID and row["author"] == "customer"
    customer = await voice_hub.hub.store.find_customer("phone", CALLER)
    assert customer is not None and customer.id == row["customer_id"]
