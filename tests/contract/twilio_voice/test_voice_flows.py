"""Whole calls through a real hub: in hours to a queue or the agents' phones, off hours to
voicemail with its recording and transcript — each callback merged into the one message."""

from __future__ import annotations

import hashlib

from voice_support import (
    CALL_SID,
    MP3,
    PUBLIC_URL,
    RECORDING_SID,
    FakeTwilio,
    VoiceHub,
)

from omnihub.connectors.twilio.voice_settings import MAX_VOICEMAIL_SECONDS

TRANSCRIPT = ("Hi, this is Alex Doe. My parcel for order 10483 has not arrived yet. "
              "Please call me back.")


async def test_off_hours_call_leaves_a_voicemail_with_recording_and_transcript(
        make_voice_hub, twilio_api: FakeTwilio) -> None:
    voice_hub: VoiceHub = await make_voice_hub(open_now=False)
    twilio_api.recordings[RECORDING_SID] = MP3
    await voice_hub.post("incoming_call__ringing")

    record = await (await voice_hub.post("gather__digits")).text()

    assert "<Record " in record and f'maxLength="{MAX_VOICEMAIL_SECONDS}"' in record
    assert 'transcribe="true"' in record and 'playBeep="true"' in record
    base = f"{PUBLIC_URL}/webhooks/phone"
    assert f'transcribeCallback="{base}?event=transcription"' in record
    assert f'recordingStatusCallback="{base}?event=recording"' in record
    assert f'action="{base}?event=recorded"' in record

    for name in ("record_action__recorded", "recording_status__completed",
                 "transcription__completed", "call_status__completed"):
        assert (await voice_hub.post(name)).status == 200

    call = await voice_hub.call()
    assert call["answered_by"] == "voicemail" and call["transcript"] == TRANSCRIPT
    assert call["status"] == "completed" and call["duration"] == 63.0
    recording = call["recording"]
    assert recording["sha256"] == hashlib.sha256(MP3).hexdigest()
    assert recording["mime"] == "audio/mpeg" and recording["size"] == len(MP3)
    assert recording["name"] == f"{RECORDING_SID}.mp3"
    media = voice_hub.hub.connectors["phone"].context.media
    assert media.open(recording["sha256"]).read_bytes() == MP3
    # the stand-in serves it only with basic auth of the account SID and Auth Token
    assert twilio_api.downloads == [f"{RECORDING_SID}.mp3"]
    [row] = await voice_hub.messages()
    assert row["edited_at"] is None  # a call completed is not a customer's edit
    updated = await voice_hub.events("message.updated")
    assert len(updated) == 4
    assert updated[-1]["data"]["parts"][0]["transcript"] == TRANSCRIPT


async def test_replayed_callbacks_change_nothing(make_voice_hub, twilio_api: FakeTwilio) -> None:
    voice_hub: VoiceHub = await make_voice_hub(open_now=False)
    twilio_api.recordings[RECORDING_SID] = MP3
    names = ("incoming_call__ringing", "record_action__recorded",
             "recording_status__completed", "transcription__completed",
             "call_status__completed")
    for name in names:
        await voice_hub.post(name)
    before = (await voice_hub.messages(), await voice_hub.events("message.updated"))

    for name in reversed(names):
        assert (await voice_hub.post(name)).status == 200

    assert (await voice_hub.messages(), await voice_hub.events("message.updated")) == before
    assert len(await voice_hub.events("message.received")) == 1


async def test_in_hours_call_waits_in_the_groups_queue(voice_hub: VoiceHub) -> None:
    await voice_hub.post("incoming_call__ringing")

    enqueue = await (await voice_hub.post("gather__digits")).text()
    hold = await (await voice_hub.post("queue_wait__waiting")).text()
    served = await voice_hub.post("queue_result__bridged")
    await voice_hub.post("call_status__completed")

    assert ">after-sales</Enqueue>" in enqueue
    assert "waitUrl=\"https://hub.example.test/webhooks/phone?event=wait&amp;group=after-sales\"" \
        in enqueue
    assert "Please stay on the line." in hold
    assert served.status == 200 and "<Hangup" in await served.text()
    call = await voice_hub.call()
    assert call["answered_by"] == "agent" and call["status"] == "completed"
    assert call["recording"] is None


async def test_a_caller_who_waits_too_long_is_offered_voicemail(voice_hub: VoiceHub) -> None:
    await voice_hub.post("incoming_call__ringing")

    leave = await (await voice_hub.post("queue_wait__too_long")).text()
    after = await (await voice_hub.post("queue_result__leave")).text()

    assert "<Leave" in leave and "<Record " in after


async def test_dial_rings_the_groups_agents_and_records_who_answered(
        make_voice_hub) -> None:
    voice_hub: VoiceHub = await make_voice_hub(
        connect="dial", agent_phones={"li.na": "+8613800138000", "wang.wei": "+8613900139000",
                                      "zhang.min": "+8613700137000"})
    await voice_hub.post("incoming_call__ringing")

    dial = await (await voice_hub.post("gather__digits")).text()
    await voice_hub.post("agent_leg__answered")
    done = await (await voice_hub.post("dial_action__completed")).text()

    assert '<Dial action="https://hub.example.test/webhooks/phone?event=dial&amp;group=after-sales"' \
        in dial and 'timeout="20"' in dial
    assert ">+8613800138000</Number>" in dial and ">+8613900139000</Number>" in dial
    assert "+8613700137000" not in dial  # logistics, not after-sales
    assert 'statusCallbackEvent="answered"' in dial and "event=agent&amp;agent=li.na" in dial
    assert "<Hangup" in done
    assert (await voice_hub.call())["answered_by"] == "agent:li.na"


async def test_nobody_answering_the_dial_goes_to_voicemail(make_voice_hub) -> None:
    voice_hub: VoiceHub = await make_voice_hub(connect="dial",
                                               agent_phones={"li.na": "+8613800138000"})
    await voice_hub.post("incoming_call__ringing")

    after = await (await voice_hub.post("dial_action__no_answer")).text()

    assert "<Record " in after and (await voice_hub.call())["answered_by"] is None


async def test_dial_without_any_agent_phone_goes_to_voicemail(make_voice_hub) -> None:
    voice_hub: VoiceHub = await make_voice_hub(connect="dial")
    await voice_hub.post("incoming_call__ringing")

    assert "<Record " in await (await voice_hub.post("gather__digits")).text()


async def test_no_choice_after_the_last_attempt_goes_to_the_default_group(
        make_voice_hub) -> None:
    voice_hub: VoiceHub = await make_voice_hub(menu_attempts=2, default_group="logistics")
    await voice_hub.post("incoming_call__ringing")
    url = f"{PUBLIC_URL}/webhooks/phone?event=gather&attempt=2"

    last = await (await voice_hub.post("gather__no_input", url=url)).text()

    assert ">logistics</Enqueue>" in last


async def test_without_a_menu_the_call_goes_straight_to_the_default_group(
        make_voice_hub) -> None:
    voice_hub: VoiceHub = await make_voice_hub(menu=[])

    answer = await (await voice_hub.post("incoming_call__ringing")).text()

    assert ">after-sales</Enqueue>" in answer and "<Gather" not in answer
    assert len(await voice_hub.messages()) == 1


async def test_a_recording_download_that_fails_is_retried_by_twilio(
        voice_hub: VoiceHub, twilio_api: FakeTwilio) -> None:
    twilio_api.recordings[RECORDING_SID] = MP3
    twilio_api.fail_next.append(502)
    await voice_hub.post("incoming_call__ringing")

    first = await voice_hub.post("recording_status__completed")
    retry = await voice_hub.post("recording_status__completed")

    assert first.status == 503 and (await first.json())["error"]["code"] == "provider_unavailable"
    assert retry.status == 200
    assert (await voice_hub.call())["recording"]["size"] == len(MP3)


async def test_a_callback_for_an_unknown_call_changes_nothing(voice_hub: VoiceHub) -> None:
    resp = await voice_hub.post("transcription__completed")

    assert resp.status == 200 and (await resp.json())["updated"] == []
    assert await voice_hub.messages() == []


async def test_a_call_whose_incoming_webhook_was_lost_is_stored_as_a_missed_call(
        voice_hub: VoiceHub) -> None:
    """The hub was down when the call came in: the status callback still brings it in."""
    resp = await voice_hub.post("call_status__canceled")
    again = await voice_hub.post("call_status__canceled")

    assert resp.status == 200 and again.status == 200
    assert (await again.json())["messages"][0]["duplicate"] is True
    [row] = await voice_hub.messages()
    assert row["external_id"] == CALL_SID
    assert row["parts"][0]["status"] == "canceled" and row["parts"][0]["duration"] == 0.0


async def test_the_menu_choice_routes_the_calls_conversation_to_that_group(
        voice_hub: VoiceHub) -> None:
    await voice_hub.post("incoming_call__ringing")
    [row] = await voice_hub.messages()
    before = await voice_hub.hub.store.get_conversation(row["conversation_id"])
    assert before is not None and before.group != "after-sales"

    await voice_hub.post("gather__digits")  # pressed 1: after-sales
    await voice_hub.post("gather__digits")  # Twilio retried: nothing more happens

    after = await voice_hub.hub.store.get_conversation(row["conversation_id"])
    assert after is not None and after.group == "after-sales"
    [moved] = await voice_hub.events("conversation.transferred")
    assert moved["data"]["to"]["group"] == "after-sales"
    assert moved["data"]["reason"] == "caller pressed 1 in the phone menu"


async def test_no_choice_routes_the_conversation_to_the_menus_default_group(
        make_voice_hub) -> None:
    voice_hub: VoiceHub = await make_voice_hub(menu_attempts=1, default_group="logistics")
    await voice_hub.post("incoming_call__ringing")

    await voice_hub.post("gather__no_input")

    [row] = await voice_hub.messages()
    conversation = await voice_hub.hub.store.get_conversation(row["conversation_id"])
    assert conversation is not None and conversation.group == "logistics"
