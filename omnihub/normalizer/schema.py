"""The one message schema that every connector produces and every other part consumes.

Past a connector nothing looks at provider payloads (DESIGN invariant 5): these models
are the whole vocabulary of the hub. Field names are also the JSON names of the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

Direction = Literal["in", "out"]
MessageStatus = Literal["received", "queued", "sent", "delivered", "read", "failed"]
ConversationStatus = Literal["open", "pending", "snoozed", "resolved", "closed"]
OPEN_STATUSES: tuple[ConversationStatus, ...] = ("open", "pending", "snoozed")


class Model(BaseModel):
    """Base for schema models: unknown fields are an error, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


M = TypeVar("M", bound=Model)


def assemble(cls: type[M], **values: Any) -> M:
    """A `cls` from values already validated, with every field given.

    What `model_construct` builds, without its walk over the fields for aliases and
    defaults: that walk costs ~4.6 µs for a Message against ~1 µs here, and the ingest
    path builds several models per message. A field left out (or one the model does
    not have) is a bug in the caller, refused here rather than failing later on access.
    """
    if values.keys() != cls.__pydantic_fields__.keys():
        missing = sorted(cls.__pydantic_fields__.keys() - values.keys())
        unknown = sorted(values.keys() - cls.__pydantic_fields__.keys())
        raise TypeError(f"assemble({cls.__name__}): missing {missing}, unknown {unknown}")
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


class MediaRef(Model):
    """A content-addressed blob in the media store (the same bytes are stored once)."""

    sha256: str
    mime: str
    size: int
    name: str | None = None


class TextPart(Model):
    kind: Literal["text"] = "text"
    text: str
    html: str | None = None  # sanitized HTML, kept beside the plain rendering in `text`


class _MediaPart(Model):
    media: MediaRef | None = None
    url: str | None = None  # provider URL when the blob is not (yet) downloaded
    caption: str | None = None


class ImagePart(_MediaPart):
    kind: Literal["image"] = "image"


class AudioPart(_MediaPart):
    kind: Literal["audio"] = "audio"
    duration: float | None = None
    transcript: str | None = None


class VideoPart(_MediaPart):
    kind: Literal["video"] = "video"
    duration: float | None = None


class FilePart(_MediaPart):
    kind: Literal["file"] = "file"


class LocationPart(Model):
    kind: Literal["location"] = "location"
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    title: str | None = None


class ContactPart(Model):
    kind: Literal["contact"] = "contact"
    name: str | None = None
    phone: str | None = None
    email: str | None = None


class CallPart(Model):
    kind: Literal["call"] = "call"
    direction: Direction = "in"
    status: str | None = None  # completed, no-answer, busy, voicemail …
    duration: float | None = None
    answered_by: str | None = None
    recording: MediaRef | None = None
    transcript: str | None = None


Part = Annotated[
    Union[TextPart, ImagePart, AudioPart, VideoPart, FilePart, LocationPart, ContactPart, CallPart],
    Field(discriminator="kind"),
]


class Identity(Model):
    """One way to reach a customer: (kind, address), e.g. ("email", "ann@example.com").

    `kind` is the address space, not the channel: SMS, WhatsApp and a phone call all
    share kind "phone", so one person on all three is one customer.
    """

    kind: str
    address: str
    verified: bool = False


class Customer(Model):
    id: str
    display_name: str | None = None
    identities: list[Identity] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    #: tags the rules of customer_tags.yaml derived; kept apart from `tags`, set by agents
    derived_tags: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class Message(Model):
    id: str
    conversation_id: str
    customer_id: str
    channel_id: str
    channel_type: str
    direction: Direction
    author: str  # customer | agent:<id> | bot | system
    external_id: str | None = None
    reply_to: str | None = None
    parts: list[Part]
    created_at: datetime
    received_at: datetime
    status: MessageStatus
    edited_at: datetime | None = None
    recalled_at: datetime | None = None
    private: bool = False
    raw_ref: str | None = None
    #: machine-sent (an out-of-office reply, a bounce, list mail): no automatic answer
    automated: Literal["auto_reply", "bounce", "list"] | None = None


class Conversation(Model):
    id: str
    customer_id: str
    channel_id: str
    channel_type: str
    thread_key: str | None = None
    status: ConversationStatus = "open"
    category: str | None = None
    group: str | None = None
    assignee: str | None = None
    priority: int = 0
    tags: list[str] = Field(default_factory=list)
    first_response_due: datetime | None = None
    next_response_due: datetime | None = None
    resolution_due: datetime | None = None
    first_response_at: datetime | None = None
    waiting_since: datetime | None = None
    last_message_at: datetime | None = None
    csat: int | None = None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    snoozed_until: datetime | None = None
    escalation_level: int = 0
    #: sha256 of the routing.yaml version that routed it (stable or canary); None: unrouted
    routing_version: str | None = None


class Event(Model):
    """What agents and their systems receive (SSE, webhooks). `id` is the idempotency key."""

    id: str
    type: str
    created_at: datetime
    data: dict[str, Any]


class Sender(Model):
    """Who sent an inbound message, as the connector saw it.

    `identities` lists every address the provider vouches for (a Telegram user id; an
    e-mail and phone pushed by the shop's signed API). The first one is the primary
    identity of this channel; `verified` says whether it may link to an existing customer.
    """

    identities: list[Identity] = Field(min_length=1)
    display_name: str | None = None


def primary_language(tag: str | None) -> str | None:
    """`zh-Hans`, `ZH_cn` -> `zh`: routing rules name languages, not scripts or regions;
    a tag that isn't BCP-47-ish is dropped rather than failing the whole message."""
    primary = (tag or "").strip().replace("_", "-").split("-")[0].lower()
    return primary if 2 <= len(primary) <= 8 and primary.isascii() and primary.isalpha() else None


#: the tag of a conversation that machine-sent mail opened (`automated:bounce`): it gets no
#: automatic answer — no off-hours reply (router/ingest_hook.py), no survey on close
AUTOMATED_TAG_PREFIX = "automated:"


class InboundMessage(Model):
    """A connector's parse result for one new customer message, before the store."""

    channel_id: str
    channel_type: str
    external_id: str = Field(min_length=1, max_length=255)
    sender: Sender
    thread_key: str | None = None  # a provider thread (Slack thread, group chat, mail thread)
    parts: list[Part] = Field(min_length=1)
    sent_at: datetime | None = None
    reply_to_external_id: str | None = None
    raw: bytes | None = None  # the provider's bytes, kept bounded for audit/re-parse
    raw_content_type: str | None = None
    language: Annotated[str | None, AfterValidator(primary_language)] = None  # if known
    #: a machine sent it (an auto-reply, a bounce, list mail; RFC 3834): stored and shown,
    #: never answered automatically (no off-hours reply, no survey, no bot)
    automated: Literal["auto_reply", "bounce", "list"] | None = None


class InboundUpdate(Model):
    """A change the customer made at the provider to a message already stored (an edit or a
    deletion), addressed by that message's external id so the store can find it."""

    kind: Literal["edit", "delete"]
    channel_id: str
    external_id: str = Field(min_length=1, max_length=255)  # of the TARGET message
    parts: list[Part] = Field(default_factory=list)  # the new content; edits only
    at: datetime

    @model_validator(mode="after")
    def _edit_has_content(self) -> InboundUpdate:
        if self.kind == "edit" and not self.parts:
            raise ValueError("an edit needs the new parts")
        return self
