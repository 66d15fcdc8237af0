"""The Connector interface: a provider's edge, turning its traffic into the one schema.

A connector is a folder under connectors/ with a settings model (unknown keys rejected),
`parse_webhook` (verify the provider's signature, then provider payload -> schema) and
`send` (schema -> provider). The hub owns everything else: the route, durability,
error-to-status mapping, retries.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from omnihub.connectors.errors import NotSupported
from omnihub.normalizer.schema import Identity, InboundMessage, InboundUpdate, Part

if TYPE_CHECKING:
    import aiohttp

    from omnihub.hub.intake import Intake
    from omnihub.normalizer.media import MediaStore


class ChannelSettings(BaseModel):
    """Base of every connector's settings: `id` and `type` are common, the rest is the
    connector's own, and a typo in a key is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid")

    id: str
    type: str


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What a connector may look at of an inbound HTTP request: raw bytes first, because
    signatures are computed over them."""

    method: str
    url: str  # the public URL as the provider called it (server.public_url + path)
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    content_type: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """The provider's word on one of OUR outbound messages (a delivery receipt, a bounce),
    addressed by the external id the provider gave it when it was sent."""

    external_id: str
    status: Literal["sent", "delivered", "read", "failed"]
    error: str | None = None  # the provider's error code and text, for failures


@dataclass(frozen=True, slots=True)
class GroupChoice:
    """The customer picked a skill group at the provider (a phone menu's key, a chat
    bot's topic button): the conversation of the message `external_id` goes there."""

    external_id: str
    group: str
    reason: str


@dataclass(slots=True)
class ParsedWebhook:
    """A verified webhook: the new customer messages it carries, and what to answer."""

    messages: list[InboundMessage] = field(default_factory=list)
    updates: list[InboundUpdate] = field(default_factory=list)  # edits/deletions of stored ones
    statuses: list[DeliveryUpdate] = field(default_factory=list)  # receipts for outbound ones
    choices: list[GroupChoice] = field(default_factory=list)  # the customer's own routing
    response: web.StreamResponse | None = None  # None: the hub answers {"ok": true}
    ignored: str | None = None  # an event type the connector does not handle


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """An agent's answer, ready to go out on the customer's own channel."""

    message_id: str
    conversation_id: str
    channel_id: str
    recipient: Identity  # the customer's identity on this channel
    thread_key: str | None
    parts: list[Part]
    author: str
    reply_to_external_id: str | None = None
    buttons: list[str] | None = None  # quick replies, where the channel can show them


@dataclass(frozen=True, slots=True)
class SendReceipt:
    external_id: str | None


@dataclass(slots=True)
class ConnectorContext:
    """Shared services a connector may use; given by the hub at start."""

    http: aiohttp.ClientSession
    public_url: str
    media: MediaStore
    max_body_bytes: int = 1024 * 1024
    extra: dict[str, Any] = field(default_factory=dict)
    #: how a connector that pulls (an IMAP poller) hands in what it fetched: the same
    #: normalize-and-commit path as a webhook; set by the hub before connectors start
    intake: Intake | None = None


class Connector(abc.ABC):
    """One configured channel of one provider type."""

    type: ClassVar[str]
    settings_model: ClassVar[type[ChannelSettings]]
    #: the identity kind of this channel's recipients (outbound address space)
    identity_kind: ClassVar[str]

    def __init__(self, settings: ChannelSettings, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context

    @property
    def channel_id(self) -> str:
        return self.settings.id

    @classmethod
    def http_routes(cls, settings: ChannelSettings) -> list[web.RouteDef]:
        """Extra HTTP routes beyond `POST /webhooks/{id}` (a web chat's widget and socket).

        Declared from settings before the hub starts, because the app's router freezes
        at start-up; handlers find the running connector as
        `request.app[HUB].connectors[settings.id]`.
        """
        return []

    async def start(self) -> None:
        """Open provider sessions, start pollers. Default: nothing to do."""

    async def stop(self) -> None:
        """Release what start() opened. Default: nothing to do."""

    async def shutdown(self) -> None:
        """The server is stopping: end long-lived client connections (a web chat's
        sockets) so that it need not wait out their timeout. Default: nothing to do."""

    def health(self) -> dict[str, Any] | None:
        """How a connector with a connection of its own (an IMAP poller) is doing, for
        /readyz: `{"status": "ok" | "down", ...details}`. Default: None, nothing to tell."""
        return None

    def pick_recipient(self, identities: list[Identity]) -> Identity | None:
        """Which of the customer's identities this channel delivers to."""
        return next((i for i in identities if i.kind == self.identity_kind), None)

    @abc.abstractmethod
    async def parse_webhook(self, request: WebhookRequest) -> ParsedWebhook:
        """Verify the request the provider's way, then parse it.

        Raise InvalidSignature/Forbidden before looking at the body, BadPayload for a
        body that is not the provider's shape, UnsupportedEvent for events not handled.
        """

    @abc.abstractmethod
    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Deliver one message; raise TemporarySendError or PermanentSendError."""

    async def edit(self, message: OutboundMessage, external_id: str, parts: list[Part]) -> None:
        """Replace the content of a message already sent as `external_id`."""
        raise NotSupported(f"channel type {self.type!r} cannot edit sent messages")

    async def recall(self, message: OutboundMessage, external_id: str) -> None:
        """Delete a message already sent as `external_id` from the customer's view."""
        raise NotSupported(f"channel type {self.type!r} cannot recall sent messages")
