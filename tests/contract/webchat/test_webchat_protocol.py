"""The widget's frames: what is accepted, what is refused by name, how messages look."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from omnihub.connectors.webchat.protocol import (
    MAX_FRAME_BYTES,
    Hello,
    ProtocolError,
    Read,
    Resume,
    SendText,
    Typing,
    message_view,
    parse_client_frame,
)
from omnihub.normalizer.schema import ImagePart, LocationPart, MediaRef, TextPart

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("frame", "model"), [
    ({"type": "hello"}, Hello),
    ({"type": "hello", "token": "wc1.x.y", "user": {"user_id": "42", "user_hash": "ab"}}, Hello),
    ({"type": "resume", "last_id": "01JABCDEF0123456789ABCDEFG"}, Resume),
    ({"type": "resume", "last_id": None}, Resume),
    ({"type": "message", "client_id": "c-12345678", "text": "Hi 👋 where is my order?"}, SendText),
    ({"type": "typing", "active": False}, Typing),
    ({"type": "read", "message_id": "01JABCDEF0123456789ABCDEFG"}, Read),
])
def test_valid_frames_parse_to_their_model(frame: dict[str, object], model: type) -> None:
    parsed = parse_client_frame(orjson.dumps(frame))
    assert isinstance(parsed, model)
    assert parse_client_frame(orjson.dumps(frame).decode()) == parsed


def test_emoji_text_is_kept_verbatim() -> None:
    parsed = parse_client_frame(orjson.dumps(
        {"type": "message", "client_id": "abcdefgh", "text": "🙂👍🏽 ok"}))
    assert isinstance(parsed, SendText) and parsed.text == "🙂👍🏽 ok"


@pytest.mark.parametrize(("raw", "code"), [
    (b"{not json", "bad_json"),
    (b"[1, 2]", "bad_frame"),
    (b'"hello"', "bad_frame"),
    (b"{}", "bad_frame"),
    (b'{"type": "shout"}', "bad_frame"),
    (b'{"type": "message", "client_id": "abcdefgh"}', "bad_frame"),
    (b'{"type": "message", "client_id": "abcdefgh", "text": ""}', "bad_frame"),
    (b'{"type": "message", "client_id": "short", "text": "x"}', "bad_frame"),
    (b'{"type": "message", "client_id": "../../etc", "text": "x"}', "bad_frame"),
    (b'{"type": "resume", "last_id": "x", "extra": 1}', "bad_frame"),
    (b'{"type": "read", "message_id": "\' OR 1=1"}', "bad_frame"),
    (b'{"type": "message", "client_id": "abcdefgh", "text": "' + b"x" * MAX_FRAME_BYTES + b'"}',
     "frame_too_large"),
])
def test_bad_frames_raise_a_named_protocol_error(raw: bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame(raw)
    assert caught.value.code == code
    assert caught.value.message


def test_the_error_names_the_field() -> None:
    with pytest.raises(ProtocolError, match="text"):
        parse_client_frame(b'{"type": "message", "client_id": "abcdefgh"}')


def test_message_view_hides_agent_names_and_points_media_at_the_channel() -> None:
    ref = MediaRef(sha256="a" * 64, mime="image/jpeg", size=10, name="p.jpg")
    view = message_view(
        id="01J", conversation_id="c", direction="out", author="agent:ann",
        parts=[TextPart(text="Here"), ImagePart(media=ref),
               LocationPart(latitude=52.5, longitude=13.4, title="Store")],
        created_at=NOW, status="sent", media_url="/chat/web/media", buttons=["Yes", "No"])
    assert view["author"] == "agent"
    assert "ann" not in orjson.dumps(view).decode()
    assert view["parts"][0] == {"kind": "text", "text": "Here"}
    assert view["parts"][1]["url"] == "/chat/web/media/" + "a" * 64
    assert view["parts"][1]["mime"] == "image/jpeg"
    assert view["parts"][2]["kind"] == "text" and "52.5" in view["parts"][2]["text"]
    assert view["buttons"] == ["Yes", "No"]
    assert view["created_at"] == NOW.isoformat()


def test_a_recalled_message_keeps_its_place_but_not_its_content() -> None:
    view = message_view(id="01J", conversation_id="c", direction="out", author="agent:ann",
                        parts=[TextPart(text="oops")], created_at=NOW, status="sent",
                        media_url="/m", recalled_at=NOW, buttons=["A"])
    assert view["parts"] == [] and "buttons" not in view
    assert view["recalled_at"] == NOW.isoformat()
