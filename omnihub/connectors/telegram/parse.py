"""Pure parsing of Telegram Bot API updates into the schema: no I/O, no clock.

Updates are decoded with python-telegram-bot's own `Update.de_json` (with no bot: nothing
here may call the network). Files are not downloaded here: a media part comes back with
a `FileToFetch` beside it, and the connector fetches it via getFile.
Bot API reference: https://core.telegram.org/bots/api#update
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from telegram import (
    Audio,
    CallbackQuery,
    Contact,
    Document,
    Location,
    Message,
    PhotoSize,
    Sticker,
    Update,
    User,
    Video,
    VideoNote,
    Voice,
)

from omnihub.connectors.errors import BadPayload, UnsupportedEvent
from omnihub.connectors.pending import Pending
from omnihub.normalizer.schema import (
    AudioPart,
    ContactPart,
    FilePart,
    Identity,
    ImagePart,
    InboundMessage,
    InboundUpdate,
    LocationPart,
    Part,
    Sender,
    TextPart,
    VideoPart,
)

__all__ = [
    "CONTENT",
    "HANDLERS",
    "IDENTITY_KIND",
    "FileToFetch",
    "Pending",
    "TelegramEvent",
    "content_type",
    "external_id",
    "parse_update",
    "update_type",
]

IDENTITY_KIND = "telegram"
T = TypeVar("T", InboundMessage, InboundUpdate)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class FileToFetch:
    """A Telegram file that a part stands for; the connector downloads it via getFile."""

    file_id: str
    mime: str
    name: str | None = None
    size: int | None = None




@dataclass(slots=True)
class TelegramEvent:
    """Everything one update asks of the hub."""

    messages: list[Pending[InboundMessage, FileToFetch]] = field(default_factory=list)
    updates: list[Pending[InboundUpdate, FileToFetch]] = field(default_factory=list)
    callback_query_id: str | None = None  # to answer, so the button stops spinning


Content = tuple[list[Part], dict[int, FileToFetch]]


def external_id(chat_id: int | str, message_id: int | str) -> str:
    """Message ids are only unique within a chat; edits and replies find messages by this."""
    return f"{chat_id}:{message_id}"


def _seconds(obj: Any, name: str = "duration") -> float | None:
    """A period as the Bot API sent it (PTB's own attribute warns about its future type)."""
    value = obj.to_dict().get(name)
    return float(value) if value is not None else None


def _text(msg: Message, text: str) -> Content:
    return [TextPart(text=text)], {}


def _photo(msg: Message, sizes: tuple[PhotoSize, ...]) -> Content:
    largest = max(sizes, key=lambda size: size.width * size.height)
    file = FileToFetch(largest.file_id, "image/jpeg", size=largest.file_size)
    return [ImagePart(caption=msg.caption)], {0: file}


def _voice(msg: Message, voice: Voice) -> Content:
    file = FileToFetch(voice.file_id, voice.mime_type or "audio/ogg", size=voice.file_size)
    return [AudioPart(duration=_seconds(voice), caption=msg.caption)], {0: file}


def _audio(msg: Message, audio: Audio) -> Content:
    file = FileToFetch(audio.file_id, audio.mime_type or "audio/mpeg", audio.file_name,
                       audio.file_size)
    return [AudioPart(duration=_seconds(audio), caption=msg.caption)], {0: file}


def _video(msg: Message, video: Video) -> Content:
    file = FileToFetch(video.file_id, video.mime_type or "video/mp4", video.file_name,
                       video.file_size)
    return [VideoPart(duration=_seconds(video), caption=msg.caption)], {0: file}


def _video_note(msg: Message, note: VideoNote) -> Content:
    file = FileToFetch(note.file_id, "video/mp4", size=note.file_size)
    return [VideoPart(duration=_seconds(note))], {0: file}


def _document(msg: Message, doc: Document) -> Content:
    file = FileToFetch(doc.file_id, doc.mime_type or "application/octet-stream", doc.file_name,
                       doc.file_size)
    return [FilePart(caption=msg.caption)], {0: file}


def _sticker(msg: Message, sticker: Sticker) -> Content:
    if sticker.is_animated or sticker.is_video:  # Lottie / WebM: no still image to show
        return [TextPart(text=sticker.emoji or "[sticker]")], {}
    file = FileToFetch(sticker.file_id, "image/webp", size=sticker.file_size)
    return [ImagePart(caption=sticker.emoji)], {0: file}


def _location(msg: Message, location: Location) -> Content:
    title = msg.venue.title if msg.venue else None
    return [LocationPart(latitude=location.latitude, longitude=location.longitude,
                         title=title)], {}


def _contact(msg: Message, contact: Contact) -> Content:
    name = " ".join(filter(None, (contact.first_name, contact.last_name))) or None
    return [ContactPart(name=name, phone=_phone(contact.phone_number))], {}


def _phone(number: str) -> str:
    """Telegram sends contact numbers with or without the leading '+'."""
    return number if number.startswith("+") else f"+{number}"


# What a message carries, in the order checked: an animation also sets `document`, a
# venue also sets `location`, so those land in the more general handler.
CONTENT: dict[str, Callable[[Message, Any], Content]] = {
    "text": _text,
    "photo": _photo,
    "voice": _voice,
    "audio": _audio,
    "video": _video,
    "video_note": _video_note,
    "document": _document,
    "sticker": _sticker,
    "location": _location,
    "contact": _contact,
}


def content_type(msg: Message) -> str | None:
    """The CONTENT key of a message, None for service messages (joins, pins, …)."""
    return next((kind for kind in CONTENT if getattr(msg, kind)), None)


def _content(msg: Message) -> Content:
    kind = content_type(msg)
    if kind is None:
        raise UnsupportedEvent("message without supported content (service message, poll, …)")
    return CONTENT[kind](msg, getattr(msg, kind))


def _sender(user: User, msg: Message | None = None) -> Sender:
    identities = [Identity(kind=IDENTITY_KIND, address=str(user.id), verified=True)]
    contact = msg.contact if msg is not None else None
    if contact is not None and contact.user_id == user.id:
        # Telegram shares a user's own number only from their account: it is theirs.
        identities.append(Identity(kind="phone", address=_phone(contact.phone_number),
                                   verified=True))
    return Sender(identities=identities, display_name=user.full_name or None)


def _thread_key(chat_type: str, chat_id: int) -> str | None:
    """A group chat is the thread; a private chat needs none (the sender is the chat)."""
    return None if chat_type == "private" else str(chat_id)


def _present(value: V | None, name: str) -> V:
    if value is None:
        raise BadPayload(f"Telegram update has an empty {name}")
    return value


def _message_author(msg: Message) -> User:
    if msg.from_user is None:
        raise UnsupportedEvent("message without a sender (channel post)")
    return msg.from_user


def _on_message(channel_id: str, update: Update, raw: bytes | None) -> TelegramEvent:
    msg = _present(update.message, "message")
    user = _message_author(msg)
    parts, files = _content(msg)
    reply = msg.reply_to_message
    inbound = InboundMessage(
        channel_id=channel_id,
        channel_type="telegram",
        external_id=external_id(msg.chat.id, msg.message_id),
        sender=_sender(user, msg),
        thread_key=_thread_key(msg.chat.type, msg.chat.id),
        parts=parts,
        sent_at=msg.date,
        reply_to_external_id=external_id(msg.chat.id, reply.message_id) if reply else None,
        raw=raw,
        raw_content_type="application/json",
        language=user.language_code,
    )
    return TelegramEvent(messages=[Pending(inbound, files)])


def _on_edited_message(channel_id: str, update: Update, raw: bytes | None) -> TelegramEvent:
    msg = _present(update.edited_message, "edited_message")
    _message_author(msg)
    parts, files = _content(msg)
    edit = InboundUpdate(kind="edit", channel_id=channel_id,
                         external_id=external_id(msg.chat.id, msg.message_id),
                         parts=parts, at=msg.edit_date or msg.date)
    return TelegramEvent(updates=[Pending(edit, files)])


def _button_label(query: CallbackQuery) -> str:
    """The pressed button's text, found in the keyboard it came from; else its data."""
    markup = getattr(query.message, "reply_markup", None)
    for row in markup.inline_keyboard if markup else ():
        for button in row:
            if button.callback_data == query.data:
                return button.text
    return str(query.data)


def _on_callback_query(channel_id: str, update: Update, raw: bytes | None) -> TelegramEvent:
    """A quick-reply button press: the customer 'said' the button's text."""
    query = _present(update.callback_query, "callback_query")
    if query.data is None:
        raise UnsupportedEvent("callback_query without data (game button)")
    origin = query.message
    inbound = InboundMessage(
        channel_id=channel_id,
        channel_type="telegram",
        external_id=f"callback:{query.id}",
        sender=_sender(query.from_user),
        thread_key=_thread_key(origin.chat.type, origin.chat.id) if origin else None,
        parts=[TextPart(text=_button_label(query))],
        reply_to_external_id=external_id(origin.chat.id, origin.message_id) if origin else None,
        raw=raw,
        raw_content_type="application/json",
        language=query.from_user.language_code,
    )
    return TelegramEvent(messages=[Pending(inbound)], callback_query_id=query.id)


HANDLERS: dict[str, Callable[[str, Update, bytes | None], TelegramEvent]] = {
    "message": _on_message,
    "edited_message": _on_edited_message,
    "callback_query": _on_callback_query,
}


def update_type(data: Any) -> str:
    """The update's one optional field (`message`, `edited_message`, …), or BadPayload."""
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise BadPayload("not a Telegram update: expected an object with an integer update_id")
    kind = next((key for key in data if key != "update_id"), None)
    if kind is None:
        raise BadPayload("Telegram update carries no event")
    return kind


def parse_update(channel_id: str, data: Any, *, raw: bytes | None = None) -> TelegramEvent:
    """Turn one decoded update into schema objects, or raise BadPayload/UnsupportedEvent."""
    kind = update_type(data)
    handler = HANDLERS.get(kind)
    if handler is None:
        raise UnsupportedEvent(f"update type {kind}")
    try:
        update = Update.de_json(data, None)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadPayload(f"malformed Telegram {kind}: {type(exc).__name__}: {exc}") from None
    try:
        return handler(channel_id, update, raw)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a field was missing
        raise BadPayload(f"malformed Telegram {kind}: {type(exc).__name__}: {exc}") from None
