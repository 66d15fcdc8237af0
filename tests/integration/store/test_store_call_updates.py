"""A call reported in pieces: each update merges into the stored call part, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from omnihub.normalizer.schema import CallPart, InboundUpdate, MediaRef, TextPart

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RECORDING = MediaRef(sha256="ab" * 32, mime="audio/mpeg", size=1234, name="RE1.mp3")


def piece(at: datetime = T0, **fields: object) -> InboundUpdate:
    return InboundUpdate(kind="edit", channel_id="phone", external_id="CA1",
                         parts=[CallPart(**fields)], at=at)  # type: ignore[arg-type]


async def store_call(store, inbound):  # type: ignore[no-untyped-def]
    message = inbound("CA1", ("phone", "+14155550100", True), channel_id="phone",
                      channel_type="twilio_voice")
    message = message.model_copy(update={"parts": [CallPart(status="ringing")]})
    return (await store.ingest(message)).message


async def test_pieces_merge_in_any_order_without_marking_an_edit(store, inbound, events):
    original = await store_call(store, inbound)

    await store.apply_update(piece(T0 + timedelta(minutes=3), transcript="Please call back"))
    await store.apply_update(piece(T0 + timedelta(minutes=1), answered_by="voicemail",
                                   recording=RECORDING))
    done = await store.apply_update(piece(T0 + timedelta(minutes=2), status="completed",
                                          duration=42))

    assert done is not None and done.id == original.id and done.edited_at is None
    assert done.parts == [CallPart(status="completed", duration=42, answered_by="voicemail",
                                   recording=RECORDING, transcript="Please call back")]
    page = await store.conversation_messages(original.conversation_id)
    assert page.items[0].parts == done.parts and page.items[0].edited_at is None
    updated = await events("message.updated")
    assert len(updated) == 3
    assert updated[-1]["data"]["parts"][0]["transcript"] == "Please call back"
    assert updated[-1]["data"]["parts"][0]["recording"]["sha256"] == RECORDING.sha256


async def test_a_replayed_piece_changes_nothing(store, inbound, events):
    await store_call(store, inbound)
    await store.apply_update(piece(status="completed", duration=42))

    again = await store.apply_update(piece(status="completed", duration=42))

    assert again is not None and again.parts == [CallPart(status="completed", duration=42)]
    assert len(await events("message.updated")) == 1


async def test_a_text_edit_of_a_call_still_replaces_it(store, inbound):
    await store_call(store, inbound)

    edited = await store.apply_update(InboundUpdate(
        kind="edit", channel_id="phone", external_id="CA1", parts=[TextPart(text="x")], at=T0))

    assert edited is not None and edited.parts == [TextPart(text="x")]
    assert edited.edited_at == T0
