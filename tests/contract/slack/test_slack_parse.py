"""Parse: one test per fixture (named test_<fixture>), and a coverage test over both."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from slack_support import BOT_USER_ID, fixture_names, load

from omnihub.connectors.errors import BadPayload, UnsupportedEvent
from omnihub.connectors.slack.parse import (
    HANDLERS,
    FileToFetch,
    SlackEvent,
    event_type,
    parse_event,
)
from omnihub.normalizer.schema import (
    FilePart,
    Identity,
    ImagePart,
    InboundMessage,
    TextPart,
)

MAYA = Identity(kind="slack", address="T0SHOP0001:U0MAYA0001", verified=True)
RAVI = Identity(kind="slack", address="T0CUST0001:U0RAVI0001", verified=True)


def parse(name: str) -> SlackEvent:
    return parse_event("sl", load(name), bot_user_id=BOT_USER_ID)


def only_message(name: str) -> InboundMessage:
    event = parse(name)
    assert event.updates == [] and event.ignored is None and len(event.messages) == 1
    return event.messages[0].item


def test_url_verification() -> None:
    event = parse("url_verification")
    assert event.challenge == "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    assert event.messages == [] and event.updates == []


def test_event_callback__message_im() -> None:
    """A DM outside threads is one conversation: the thread key is the DM channel."""
    msg = only_message("event_callback__message_im")
    assert msg.external_id == "D0MAYADM01:1767261600.000100"
    assert msg.thread_key == "D0MAYADM01"
    assert msg.sender.identities == [MAYA]
    assert msg.parts == [TextPart(text="Hi, our pallet order PO-7731 hasn't arrived yet")]
    assert msg.sent_at == datetime(2026, 1, 1, 10, 0, 0, 100, tzinfo=UTC)


def test_event_callback__message_channel() -> None:
    """Slack Connect: the customer's own workspace is part of their identity."""
    msg = only_message("event_callback__message_channel")
    assert msg.thread_key == "C0SHARED01:1767262000.000200"  # a new thread of its own
    assert msg.sender.identities == [RAVI] and msg.sender.display_name == "Ravi Menon"


def test_event_callback__message_thread_reply() -> None:
    msg = only_message("event_callback__message_thread_reply")
    assert msg.thread_key == "C0SHARED01:1767262000.000200"  # the thread it replies in
    assert msg.external_id == "C0SHARED01:1767262300.000300"


def test_event_callback__message_thread_broadcast() -> None:
    msg = only_message("event_callback__message_thread_broadcast")
    assert msg.thread_key == "C0SHARED01:1767262000.000200"
    assert msg.parts == [TextPart(text="Update: the dock closes at 4pm")]


def test_event_callback__message_file_share() -> None:
    event = parse("event_callback__message_file_share")
    [pending] = event.messages
    assert pending.item.parts == [TextPart(text="This is how it arrived"), ImagePart(),
                                  FilePart()]
    files = "https://files.slack.com/files-pri/T0SHOP0001-"
    assert pending.files == {
        1: FileToFetch(files + "F0PHOTO001/download/img_2041.jpg", "image/jpeg",
                       "IMG_2041.jpg", 70213),
        2: FileToFetch(files + "F0PDF00001/download/delivery-note.pdf", "application/pdf",
                       "delivery-note.pdf", 58214),
    }


def test_event_callback__message_changed() -> None:
    event = parse("event_callback__message_changed")
    [pending] = event.updates
    edit = pending.item
    assert (edit.kind, edit.external_id) == ("edit", "D0MAYADM01:1767261600.000100")
    assert edit.parts == [TextPart(text="Hi, our pallet order PO-7732 hasn't arrived yet")]
    assert edit.at == datetime(2026, 1, 1, 10, 1, tzinfo=UTC)


def test_event_callback__message_deleted() -> None:
    [pending] = parse("event_callback__message_deleted").updates
    delete = pending.item
    assert (delete.kind, delete.external_id) == ("delete", "D0MAYADM01:1767261600.000100")
    assert delete.parts == [] and delete.at == datetime(2026, 1, 1, 10, 3, 20, 700, tzinfo=UTC)


def test_event_callback__message_bot_message() -> None:
    event = parse("event_callback__message_bot_message")
    assert event.ignored == "bot message" and event.messages == []


def test_event_callback__message_own_bot() -> None:
    """Our own replies come back as events; they are not the customer's."""
    event = parse("event_callback__message_own_bot")
    assert event.ignored == "bot message" and event.messages == []


def test_own_bot_known_by_user_id_alone() -> None:
    data = load("event_callback__message_im")
    data["event"]["user"] = BOT_USER_ID
    assert parse_event("sl", data, bot_user_id=BOT_USER_ID).ignored == "bot message"


def test_event_callback__reaction_added() -> None:
    with pytest.raises(UnsupportedEvent, match="event reaction_added"):
        parse("event_callback__reaction_added")


def test_event_callback__message_channel_join() -> None:
    with pytest.raises(UnsupportedEvent, match="event message.channel_join"):
        parse("event_callback__message_channel_join")


def test_edit_of_a_bot_message_is_ignored() -> None:
    data = load("event_callback__message_changed")
    data["event"]["message"]["bot_id"] = "B0SHOPBOT1"
    assert parse_event("sl", data).ignored == "bot message changed"


@pytest.mark.parametrize("data", [
    [], {"no": "type"}, {"type": "event_callback"}, {"type": "event_callback", "event": {}},
    {"type": "url_verification"},
    {"type": "event_callback", "team_id": "T1", "event": {"type": "message", "text": "x"}},
    {"type": "event_callback", "event": {"type": "message", "user": "U1", "text": "x",
                                         "channel": "D1", "ts": "1.0", "channel_type": "im"}},
    {"type": "event_callback", "team_id": "T1",
     "event": {"type": "message", "user": "U1", "text": "x", "channel": "D1", "ts": "soon"}},
])
def test_not_an_event_is_bad_payload(data: object) -> None:
    with pytest.raises(BadPayload):
        parse_event("sl", data)


def test_every_fixture_is_tested_and_every_event_has_a_fixture() -> None:
    names = fixture_names()
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert [n for n in names if n not in tested] == [], "fixtures without a parse test"
    kinds = {event_type(load(n)) for n in names}
    assert set(HANDLERS) - kinds == set(), "handled event types without a fixture"
