"""Pure parsing of Slack Events API payloads into the schema: no I/O, no clock.

Files are not downloaded here: a file part comes back with a `FileToFetch` beside it and
the connector fetches it with the bot token.
Events API: https://api.slack.com/apis/events-api ; message events and their subtypes:
https://api.slack.com/events/message
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from omnihub.connectors.errors import BadPayload, UnsupportedEvent
from omnihub.connectors.pending import Pending
from omnihub.normalizer.schema import (
    AudioPart,
    FilePart,
    Identity,
    ImagePart,
    InboundMessage,
    InboundUpdate,
    Part,
    Sender,
    TextPart,
    VideoPart,
)

__all__ = [
    "HANDLERS",
    "IDENTITY_KIND",
    "FileToFetch",
    "Pending",
    "SlackEvent",
    "event_type",
    "parse_event",
]

IDENTITY_KIND = "slack"
T = TypeVar("T", InboundMessage, InboundUpdate)
_SKIPPED_FILE_MODES = {"hidden_by_limit", "tombstone", "external"}  # nothing we may fetch


@dataclass(frozen=True, slots=True)
class FileToFetch:
    """A Slack file a part stands for; fetched from `url` with the bot token."""

    url: str
    mime: str
    name: str | None = None
    size: int | None = None




@dataclass(slots=True)
class SlackEvent:
    """Everything one Events API request asks of the hub."""

    messages: list[Pending[InboundMessage, FileToFetch]] = field(default_factory=list)
    updates: list[Pending[InboundUpdate, FileToFetch]] = field(default_factory=list)
    challenge: str | None = None  # url_verification: echo it back
    ignored: str | None = None  # handled on purpose but not stored (our own bot's messages)


@dataclass(frozen=True, slots=True)
class Context:
    channel_id: str
    team_id: str
    bot_user_id: str | None
    raw: bytes | None


def ts_time(ts: str) -> datetime:
    """Slack's message ids are epoch seconds with microseconds ("1767261600.000100")."""
    return datetime.fromtimestamp(float(ts), UTC)


def external_id(channel: str, ts: str) -> str:
    """A `ts` is unique within its channel only."""
    return f"{channel}:{ts}"


def thread_key(event: dict[str, Any]) -> str:
    """A Slack thread is one conversation; a DM outside threads is one conversation too
    (every top-level DM message has its own ts and must not open a new one)."""
    channel, thread_ts = event["channel"], event.get("thread_ts")
    if event.get("channel_type") == "im" and not thread_ts:
        return channel
    return f"{channel}:{thread_ts or event['ts']}"


def _part_for(file: dict[str, Any]) -> tuple[Part, FileToFetch] | None:
    url = file.get("url_private_download") or file.get("url_private")
    if file.get("mode") in _SKIPPED_FILE_MODES or not url:
        return None
    mime = file.get("mimetype") or "application/octet-stream"
    kind = mime.partition("/")[0]
    part: Part = (ImagePart() if kind == "image" else AudioPart() if kind == "audio"
                  else VideoPart() if kind == "video" else FilePart())
    return part, FileToFetch(url, mime, file.get("name"), file.get("size"))


def _content(message: dict[str, Any]) -> tuple[list[Part], dict[int, FileToFetch]]:
    parts: list[Part] = []
    files: dict[int, FileToFetch] = {}
    if message.get("text"):
        parts.append(TextPart(text=message["text"]))
    for file in message.get("files") or ():
        found = _part_for(file)
        if found is not None:
            files[len(parts)] = found[1]
            parts.append(found[0])
    if not parts:
        raise UnsupportedEvent("message without text or files we can fetch")
    return parts, files


def _is_bot(message: dict[str, Any], ctx: Context) -> bool:
    return bool(message.get("bot_id") or message.get("subtype") == "bot_message"
                or (ctx.bot_user_id and message.get("user") == ctx.bot_user_id))


def _on_message(event: dict[str, Any], ctx: Context) -> SlackEvent:
    if _is_bot(event, ctx):
        return SlackEvent(ignored="bot message")
    parts, files = _content(event)
    user = event["user"]
    # Slack Connect: a user of another workspace carries their own team id.
    team = event.get("user_team") or event.get("team") or ctx.team_id
    if not team:
        raise BadPayload("message event without a team id")
    profile = event.get("user_profile") or {}
    inbound = InboundMessage(
        channel_id=ctx.channel_id,
        channel_type="slack",
        external_id=external_id(event["channel"], event["ts"]),
        sender=Sender(identities=[Identity(kind=IDENTITY_KIND, address=f"{team}:{user}",
                                           verified=True)],
                      display_name=profile.get("real_name") or profile.get("display_name")),
        thread_key=thread_key(event),
        parts=parts,
        sent_at=ts_time(event["ts"]),
        raw=ctx.raw,
        raw_content_type="application/json",
    )
    return SlackEvent(messages=[Pending(inbound, files)])


def _on_message_changed(event: dict[str, Any], ctx: Context) -> SlackEvent:
    message = event["message"]
    if _is_bot(message, ctx):
        return SlackEvent(ignored="bot message changed")
    parts, files = _content(message)
    edited = (message.get("edited") or {}).get("ts") or event["ts"]
    edit = InboundUpdate(kind="edit", channel_id=ctx.channel_id,
                         external_id=external_id(event["channel"], message["ts"]),
                         parts=parts, at=ts_time(edited))
    return SlackEvent(updates=[Pending(edit, files)])


def _on_message_deleted(event: dict[str, Any], ctx: Context) -> SlackEvent:
    if _is_bot(event.get("previous_message") or {}, ctx):
        return SlackEvent(ignored="bot message deleted")
    delete = InboundUpdate(kind="delete", channel_id=ctx.channel_id,
                           external_id=external_id(event["channel"], event["deleted_ts"]),
                           at=ts_time(event["ts"]))
    return SlackEvent(updates=[Pending(delete)])


def _on_url_verification(payload: dict[str, Any], ctx: Context) -> SlackEvent:
    return SlackEvent(challenge=str(payload["challenge"]))


# Keyed by event_type(): the outer type, or for event_callback the event's type and subtype.
HANDLERS: dict[str, Callable[[dict[str, Any], Context], SlackEvent]] = {
    "url_verification": _on_url_verification,
    "message": _on_message,
    "message.file_share": _on_message,
    "message.thread_broadcast": _on_message,  # a thread reply also sent to the channel
    "message.bot_message": _on_message,  # parsed only to be ignored, on purpose
    "message.message_changed": _on_message_changed,
    "message.message_deleted": _on_message_deleted,
}


def event_type(payload: Any) -> str:
    """`url_verification`, or `message[.<subtype>]`, `reaction_added`, … for event_callback."""
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise BadPayload("not a Slack Events API payload: expected an object with a type")
    if payload["type"] != "event_callback":
        return payload["type"]
    event = payload.get("event")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise BadPayload("event_callback without an event")
    subtype = event.get("subtype")
    return f"{event['type']}.{subtype}" if isinstance(subtype, str) else event["type"]


def parse_event(channel_id: str, payload: Any, *, bot_user_id: str | None = None,
                raw: bytes | None = None) -> SlackEvent:
    """Turn one Events API payload into schema objects, or raise BadPayload/UnsupportedEvent."""
    name = event_type(payload)
    handler = HANDLERS.get(name)
    if handler is None:
        raise UnsupportedEvent(f"event {name}")
    ctx = Context(channel_id, str(payload.get("team_id") or ""), bot_user_id, raw)
    body = payload if name == "url_verification" else payload["event"]
    try:
        return handler(body, ctx)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, ValidationError):  # name the field, not pydantic's whole report
            raise BadPayload(f"malformed Slack {name}: {exc.errors()[0]['msg']}") from None
        raise BadPayload(f"malformed Slack {name}: {type(exc).__name__}: {exc}") from None
