"""The widget's wire protocol: JSON frames `{"type": ...}` in both directions. Pure.

Client -> server: `hello` (first; carries the visitor token and, for a logged-in user,
the shop's signed identity), `resume` (the last message id the widget saw), `message`,
`leave_message` (the off-hours form: name, contact, text), `typing`, `read`, `ping`.
Server -> client: `welcome` (with `hours`: open or closed), `history`, `ack`, `message`,
`update`, `typing`, `read`, `error`, `pong`. The same frames travel over the WebSocket and
the long-poll fallback (`POST .../send` and `.../poll`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from omnihub.normalizer.schema import Message, Part

__all__ = [
    "CLOSE_BAD_TOKEN",
    "CLOSE_FORBIDDEN",
    "MAX_FRAME_BYTES",
    "ClientFrame",
    "ProtocolError",
    "error_frame",
    "message_view",
    "parse_client_frame",
]

MAX_FRAME_BYTES = 64 * 1024
MAX_TEXT_CHARS = 10_000
#: WebSocket close codes (4000-4999 are the application's): a client must not retry them
CLOSE_BAD_TOKEN = 4401
CLOSE_FORBIDDEN = 4403

_ID = r"^[A-Za-z0-9_-]+$"


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserClaim(_Frame):
    """A logged-in user as the shop's page passes it, signed by the shop's server."""

    user_id: str = Field(min_length=1, max_length=128)
    user_hash: str = Field(min_length=1, max_length=128)
    email: str | None = Field(default=None, max_length=320)
    email_hash: str | None = Field(default=None, max_length=128)
    name: str | None = Field(default=None, max_length=255)


class Hello(_Frame):
    type: Literal["hello"]
    token: str | None = Field(default=None, max_length=2048)
    user: UserClaim | None = None
    language: str | None = Field(default=None, max_length=35)  # navigator.language, for routing


class Resume(_Frame):
    type: Literal["resume"]
    last_id: str | None = Field(default=None, max_length=26, pattern=_ID)


class SendText(_Frame):
    type: Literal["message"]
    #: unique per message, made by the widget; a resend with the same id is stored once
    client_id: str = Field(min_length=8, max_length=64, pattern=_ID)
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


class LeaveMessage(_Frame):
    """The off-hours form: a message plus how to reach the visitor (an unchecked claim)."""

    type: Literal["leave_message"]
    client_id: str = Field(min_length=8, max_length=64, pattern=_ID)
    name: str = Field(min_length=1, max_length=120)
    #: an e-mail address or a phone number with its country code
    contact: str = Field(min_length=3, max_length=320)
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


class Typing(_Frame):
    type: Literal["typing"]
    active: bool = True


class Read(_Frame):
    type: Literal["read"]
    #: the newest agent message the visitor has seen; everything before it is read too
    message_id: str = Field(min_length=1, max_length=26, pattern=_ID)


class Ping(_Frame):
    type: Literal["ping"]


ClientFrame = Annotated[Hello | Resume | SendText | LeaveMessage | Typing | Read | Ping,
                        Field(discriminator="type")]
_CLIENT_FRAME: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


class ProtocolError(Exception):
    """A frame the server can't act on; answered with an error frame, never a crash."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_client_frame(data: str | bytes) -> ClientFrame:
    """Decode and validate one client frame, or raise ProtocolError naming the problem."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_FRAME_BYTES:
        raise ProtocolError("frame_too_large", f"a frame is at most {MAX_FRAME_BYTES} bytes")
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProtocolError("bad_json", "a frame is one JSON object") from None
    if not isinstance(decoded, dict):
        raise ProtocolError("bad_frame", "a frame is one JSON object with a `type`")
    try:
        return _CLIENT_FRAME.validate_python(decoded)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'frame'}: {e['msg']}"
            for e in exc.errors(include_url=False))
        raise ProtocolError("bad_frame", problems) from None


def error_frame(code: str, message: str, *, ref: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    return frame


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def author_kind(author: str) -> str:
    """What the visitor may know of an author: agents stay anonymous ("agent:ann" -> agent)."""
    if author == "customer":
        return "visitor"
    kind = author.partition(":")[0]
    return kind if kind in ("agent", "bot", "system") else "system"


def part_view(part: Part, media_url: str) -> dict[str, Any]:
    """One part as the widget renders it; media points at the channel's media route."""
    data = part.model_dump(mode="json", exclude_none=True)
    media = data.pop("media", None)
    if media is not None:
        data.update(url=f"{media_url}/{media['sha256']}", mime=media["mime"],
                    size=media["size"], name=media.get("name"))
    if data["kind"] not in ("text", "image", "file", "audio", "video"):
        data = {"kind": "text", "text": _summary(data)}
    return data


def _summary(data: dict[str, Any]) -> str:
    """A text rendering of the parts the widget has no view for (location, contact, call)."""
    if data["kind"] == "location":
        return f"📍 {data.get('title') or ''} {data['latitude']:.5f}, {data['longitude']:.5f}".strip()
    if data["kind"] == "contact":
        return "👤 " + " ".join(str(data[k]) for k in ("name", "phone", "email") if data.get(k))
    return f"[{data['kind']}]"


def message_view(
    *, id: str, conversation_id: str, direction: str, author: str, parts: list[Part],
    created_at: datetime, status: str, media_url: str, edited_at: datetime | None = None,
    recalled_at: datetime | None = None, buttons: list[str] | None = None,
) -> dict[str, Any]:
    """A message as the widget shows it; a recalled one keeps its place but not its content."""
    view: dict[str, Any] = {
        "id": id, "conversation_id": conversation_id, "direction": direction,
        "author": author_kind(author), "status": status, "created_at": _iso(created_at),
        "edited_at": _iso(edited_at), "recalled_at": _iso(recalled_at),
        "parts": [] if recalled_at else [part_view(p, media_url) for p in parts],
    }
    if buttons and not recalled_at:
        view["buttons"] = buttons
    return view


def stored_view(message: Message, media_url: str) -> dict[str, Any]:
    return message_view(
        id=message.id, conversation_id=message.conversation_id, direction=message.direction,
        author=message.author, parts=message.parts, created_at=message.created_at,
        status=message.status, media_url=media_url, edited_at=message.edited_at,
        recalled_at=message.recalled_at)
