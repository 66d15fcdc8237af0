"""Parse: one test per fixture (named test_<fixture>), and a coverage test over both."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tg_support import fixture_names, load

from omnihub.connectors.errors import BadPayload, UnsupportedEvent
from omnihub.connectors.telegram.parse import (
    CONTENT,
    HANDLERS,
    FileToFetch,
    TelegramEvent,
    content_type,
    parse_update,
    update_type,
)
from omnihub.normalizer.schema import (
    AudioPart,
    ContactPart,
    FilePart,
    Identity,
    ImagePart,
    InboundMessage,
    LocationPart,
    TextPart,
    VideoPart,
)

LENA = Identity(kind="telegram", address="5218043771", verified=True)
SENT = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def parse(name: str) -> TelegramEvent:
    return parse_update("tg", load(name))


def only_message(name: str) -> tuple[InboundMessage, dict[int, FileToFetch]]:
    event = parse(name)
    assert event.updates == [] and len(event.messages) == 1
    return event.messages[0].item, event.messages[0].files


def test_message__text() -> None:
    msg, files = only_message("message__text")
    assert msg.external_id == "5218043771:101" and msg.thread_key is None
    assert msg.sender.identities == [LENA] and msg.sender.display_name == "Lena Fischer"
    assert msg.parts == [TextPart(text="Hi! Where is my order #10482?")]
    assert msg.sent_at == SENT and files == {}
    assert msg.raw is None and msg.channel_type == "telegram"


def test_message__photo() -> None:
    msg, files = only_message("message__photo")
    assert msg.parts == [ImagePart(caption="The box arrived like this")]
    assert files == {0: FileToFetch("AgACAgIAAxkBAAIBZmcLarge", "image/jpeg", size=70213)}


def test_message__voice() -> None:
    msg, files = only_message("message__voice")
    assert msg.parts == [AudioPart(duration=4.0)]
    assert files == {0: FileToFetch("AwACAgIAAxkBAAIBZ2VoiceId", "audio/ogg", size=10240)}


def test_message__audio() -> None:
    msg, files = only_message("message__audio")
    assert msg.parts == [AudioPart(duration=31.0, caption="my notes on the delivery")]
    assert files == {0: FileToFetch("CQACAgIAAxkBAAIBaGAudioId", "audio/mpeg",
                                    "unboxing-notes.mp3", 498211)}


def test_message__video() -> None:
    msg, files = only_message("message__video")
    assert msg.parts == [VideoPart(duration=12.0, caption="see the scratch at 0:05")]
    assert files[0].file_id == "BAACAgIAAxkBAAIBaVideoId" and files[0].name == "scratch.mp4"


def test_message__video_note() -> None:
    msg, files = only_message("message__video_note")
    assert msg.parts == [VideoPart(duration=7.0)]
    assert files == {0: FileToFetch("DQACAgIAAxkBAAIBalNoteId", "video/mp4", size=402117)}


def test_message__document() -> None:
    msg, files = only_message("message__document")
    assert msg.parts == [FilePart(caption="Invoice attached")]
    assert files == {0: FileToFetch("BQACAgIAAxkBAAIBa2DocId", "application/pdf",
                                    "invoice-10482.pdf", 58214)}


def test_message__sticker() -> None:
    msg, files = only_message("message__sticker")
    assert msg.parts == [ImagePart(caption="👍")]
    assert files == {0: FileToFetch("CAACAgIAAxkBAAIBbFStickerId", "image/webp", size=22154)}


def test_message__location() -> None:
    msg, _ = only_message("message__location")
    assert msg.parts == [LocationPart(latitude=52.520008, longitude=13.404954,
                                      title="Packstation 112")]


def test_message__contact() -> None:
    """Sharing one's own contact adds the phone as a verified identity."""
    msg, _ = only_message("message__contact")
    assert msg.parts == [ContactPart(name="Lena Fischer", phone="+4915112345678")]
    assert msg.sender.identities == [
        LENA, Identity(kind="phone", address="+4915112345678", verified=True)]


def test_someone_elses_contact_adds_no_identity() -> None:
    data = load("message__contact")
    data["message"]["contact"]["user_id"] = 999
    [pending] = parse_update("tg", data).messages
    assert pending.item.sender.identities == [LENA]


def test_message__reply() -> None:
    msg, _ = only_message("message__reply")
    assert msg.reply_to_external_id == "5218043771:95"
    assert msg.parts == [TextPart(text="Yes, that one")]


def test_message__group_text() -> None:
    """The group is the thread; the sender is the customer."""
    msg, _ = only_message("message__group_text")
    assert msg.thread_key == "-1001874530112"
    assert msg.external_id == "-1001874530112:4410"
    assert msg.sender.identities == [Identity(kind="telegram", address="6091827364", verified=True)]
    assert msg.sender.display_name == "Omar Haddad"


def test_edited_message__text() -> None:
    event = parse("edited_message__text")
    assert event.messages == [] and len(event.updates) == 1
    edit = event.updates[0].item
    assert (edit.kind, edit.channel_id, edit.external_id) == ("edit", "tg", "5218043771:101")
    assert edit.parts == [TextPart(text="Hi! Where is my order #10483?")]
    assert edit.at == datetime(2026, 1, 1, 10, 1, tzinfo=UTC)


def test_callback_query__button() -> None:
    """A button press is the customer saying the button's text."""
    event = parse("callback_query__button")
    assert event.callback_query_id == "4382917365120938475"
    [pending] = event.messages
    msg = pending.item
    assert msg.external_id == "callback:4382917365120938475"
    assert msg.parts == [TextPart(text="Track my order")]
    assert msg.sender.identities == [LENA] and msg.thread_key is None
    assert msg.reply_to_external_id == "5218043771:96"


def test_callback_label_comes_from_the_keyboard() -> None:
    """Long labels are cut in callback_data; the label is read back from the keyboard."""
    data = load("callback_query__button")
    keyboard = data["callback_query"]["message"]["reply_markup"]["inline_keyboard"]
    keyboard[0][0] = {"text": "Track my order " + "é" * 60, "callback_data": "cut"}
    data["callback_query"]["data"] = "cut"
    [pending] = parse_update("tg", data).messages
    assert pending.item.parts == [TextPart(text="Track my order " + "é" * 60)]


def test_my_chat_member__blocked() -> None:
    with pytest.raises(UnsupportedEvent, match="my_chat_member"):
        parse("my_chat_member__blocked")


def test_message__new_chat_members() -> None:
    with pytest.raises(UnsupportedEvent, match="without supported content"):
        parse("message__new_chat_members")


@pytest.mark.parametrize("data", [
    [], {"message": {}}, {"update_id": "1", "message": {}}, {"update_id": 1},
    {"update_id": 1, "message": None}, {"update_id": 1, "message": {"text": "no chat"}},
    {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"},
                                 "from": {"id": 1}, "text": "hi"}},
    {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"},
                                 "from": {"id": 1, "is_bot": False, "first_name": "A"},
                                 "location": {"latitude": 400, "longitude": 0}}},
])
def test_not_an_update_is_bad_payload(data: object) -> None:
    with pytest.raises(BadPayload):
        parse_update("tg", data)


def test_raw_bytes_are_kept() -> None:
    [pending] = parse_update("tg", load("message__text"), raw=b"{...}").messages
    assert pending.item.raw == b"{...}" and pending.item.raw_content_type == "application/json"


def test_every_fixture_is_tested_and_every_event_has_a_fixture() -> None:
    names = fixture_names()
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert [n for n in names if n not in tested] == [], "fixtures without a parse test"
    payloads = [load(n) for n in names]
    kinds = {update_type(p) for p in payloads}
    assert set(HANDLERS) - kinds == set(), "update types without a fixture"
    from telegram import Update

    contents = {content_type(Update.de_json(p, None).effective_message)
                for p in payloads if "message" in p}
    assert set(CONTENT) - contents == set(), "message contents without a fixture"
