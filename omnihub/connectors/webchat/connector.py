"""The web chat connector: visitors' open sockets on this process, fed from the bus.

A reply reaches `send` on whichever process runs the delivery consumer, while the
visitor's socket may be open on another. So `send` publishes the message on the bus topic
"webchat", and every process's connector listens to that topic and pushes it to the
sockets it holds for that visitor. A visitor with no socket open anywhere misses nothing:
the message is in the store, and the widget's `resume` replays it on (re)connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from aiohttp import web

from omnihub.connectors.base import (
    Connector,
    ConnectorContext,
    OutboundMessage,
    ParsedWebhook,
    SendReceipt,
    WebhookRequest,
)
from omnihub.connectors.errors import BadPayload, TemporarySendError
from omnihub.connectors.webchat.protocol import message_view, stored_view
from omnihub.connectors.webchat.settings import WebchatSettings
from omnihub.connectors.webchat.visitor import ANONYMOUS_KIND, USER_KIND
from omnihub.hub.bus import Bus, BusError, Envelope, ListenerLagged
from omnihub.normalizer.ids import new_id
from omnihub.normalizer.schema import Identity, Message, Part
from omnihub.store import Store

__all__ = ["TOPIC", "Outlet", "WebchatConnector"]

log = logging.getLogger("omnihub.webchat")

TOPIC = "webchat"
CHAT_KINDS = (USER_KIND, ANONYMOUS_KIND)
IdentityKey = tuple[str, str]


class Outlet(Protocol):
    """Where frames for one open widget go (a socket's send queue, a waiting long-poll)."""

    sid: str  # unique per outlet: lets a widget's own messages skip their sender

    def push(self, frame: dict[str, Any]) -> None:
        """Queue a frame without waiting; an outlet that can't keep up drops itself."""

    async def end(self) -> None:
        """The server is stopping: let the widget go (it reconnects elsewhere or later)."""


def key_of(identity: Identity) -> IdentityKey:
    return (identity.kind, identity.address)


class WebchatConnector(Connector):
    type: ClassVar[str] = "webchat"
    settings_model = WebchatSettings
    identity_kind: ClassVar[str] = ANONYMOUS_KIND
    settings: WebchatSettings

    def __init__(self, settings: WebchatSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.outlets: dict[IdentityKey, set[Outlet]] = {}  # by the visitor they serve
        self.live: set[Outlet] = set()  # every open socket and held poll, even before hello
        self._tasks: list[asyncio.Task[None]] = []
        #: what "now" is for the chat's opening hours; tests put a fixed clock here
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @classmethod
    def http_routes(cls, settings: WebchatSettings) -> list[web.RouteDef]:  # type: ignore[override]
        from omnihub.connectors.webchat.routes import routes_for

        return routes_for(settings)

    @property
    def bus(self) -> Bus:
        return self.context.extra["bus"]  # type: ignore[no-any-return]

    @property
    def store(self) -> Store:
        return self.context.extra["store"]  # type: ignore[no-any-return]

    @property
    def media_url(self) -> str:
        return f"/chat/{self.channel_id}/media"

    async def start(self) -> None:
        for topic, handle in ((TOPIC, self._on_chat), ("event", self._on_event)):
            self._tasks.append(asyncio.create_task(self._pump(topic, handle),
                                                   name=f"webchat-{self.channel_id}-{topic}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def shutdown(self) -> None:
        """Close every socket and release every held poll, so the server stops at once."""
        await asyncio.gather(*(outlet.end() for outlet in list(self.live)),
                             return_exceptions=True)

    # --- open widgets on this process ----------------------------------------------------

    def attach(self, identity: Identity, outlet: Outlet) -> None:
        self.outlets.setdefault(key_of(identity), set()).add(outlet)

    def detach(self, identity: Identity, outlet: Outlet) -> None:
        group = self.outlets.get(key_of(identity))
        if group is not None:
            group.discard(outlet)
            if not group:
                del self.outlets[key_of(identity)]

    def push_local(self, keys: Iterable[IdentityKey], frame: dict[str, Any], *,
                   skip: str | None = None) -> int:
        pushed = 0
        for key in keys:
            for outlet in list(self.outlets.get(key, ())):
                if outlet.sid == skip:
                    continue
                outlet.push(frame)
                pushed += 1
        return pushed

    async def publish(self, recipients: Iterable[Identity], frame: dict[str, Any], *,
                      skip: str | None = None) -> None:
        """Send a frame to a visitor's widgets on every process (via the bus), except the
        outlet `skip` (the widget the frame came from)."""
        payload = {"channel_id": self.channel_id, "skip": skip,
                   "to": [list(key_of(i)) for i in recipients], "frame": frame}
        await self.bus.publish([Envelope(seq=0, id=new_id(), topic=TOPIC, type=frame["type"],
                                         key=self.channel_id, payload=payload,
                                         created_at=datetime.now(UTC))])

    async def publish_to_customer(self, customer_id: str, frame: dict[str, Any]) -> bool:
        """Send a frame to every chat identity of a customer; False if it has none."""
        customer = await self.store.get_customer(customer_id)
        recipients = [i for i in (customer.identities if customer else []) if i.kind in CHAT_KINDS]
        if recipients:
            await self.publish(recipients, frame)
        return bool(recipients)

    # --- the Connector contract ----------------------------------------------------------

    def pick_recipient(self, identities: list[Identity]) -> Identity | None:
        """A shop-verified user before an anonymous browser; the newest browser of those."""
        for kind in CHAT_KINDS:
            found = [i for i in identities if i.kind == kind]
            if found:
                return found[-1]
        return None

    async def parse_webhook(self, request: WebhookRequest) -> ParsedWebhook:
        raise BadPayload(f"the web chat channel takes no webhooks; the widget talks to "
                         f"/chat/{self.channel_id}/ws")

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Push to the visitor's open widgets; one offline gets it on its next resume."""
        frame = {"type": "message", "message": message_view(
            id=message.message_id, conversation_id=message.conversation_id, direction="out",
            author=message.author, parts=message.parts, created_at=datetime.now(UTC),
            status="sent", media_url=self.media_url, buttons=message.buttons)}
        try:
            await self.publish([message.recipient], frame)
        except BusError as exc:
            raise TemporarySendError(f"bus unavailable: {exc}") from None
        return SendReceipt(external_id=message.message_id)

    async def edit(self, message: OutboundMessage, external_id: str, parts: list[Part]) -> None:
        """Nothing to call: the store's `message.updated` event reaches the widget (_on_event)."""

    async def recall(self, message: OutboundMessage, external_id: str) -> None:
        """As edit: the `message.updated` event removes it from the widget."""

    # --- bus listeners -------------------------------------------------------------------

    async def _pump(self, topic: str,
                    handle: Callable[[Envelope], Awaitable[None]]) -> None:
        """Feed one topic to `handle` for the connector's lifetime; a lag means resync."""
        while True:
            listener = self.bus.listen(topic)
            try:
                async for envelope in listener:
                    try:
                        await handle(envelope)
                    except Exception:  # one bad envelope must not stop the feed
                        log.exception("webchat %s: failed on %s %s", self.channel_id,
                                      envelope.topic, envelope.id)
                return  # the bus closed
            except ListenerLagged:
                log.warning("webchat %s: fell behind on %s; widgets resync", self.channel_id,
                            topic)
                self.push_local(list(self.outlets), {"type": "resync"})
            finally:
                await listener.aclose()

    async def _on_chat(self, envelope: Envelope) -> None:
        payload = envelope.payload
        if payload.get("channel_id") != self.channel_id:
            return
        keys = [(str(k), str(a)) for k, a in payload.get("to", ())]
        self.push_local(keys, payload["frame"], skip=payload.get("skip"))

    async def _on_event(self, envelope: Envelope) -> None:
        """Agents' edits, recalls and reading (store events) shown in this process's widgets."""
        if envelope.type not in ("message.updated", "conversation.read") or not self.outlets:
            return
        data = envelope.payload.get("data") or {}
        if envelope.type == "conversation.read":
            await self._push_read(data)
            return
        if data.get("channel_id") != self.channel_id or data.get("private"):
            return
        message = Message.model_validate({k: v for k, v in data.items()
                                          if k in Message.model_fields})
        customer = await self.store.get_customer(message.customer_id)
        if customer is None:
            return
        keys = [key_of(i) for i in customer.identities if i.kind in CHAT_KINDS]
        self.push_local(keys, {"type": "update", "message": stored_view(message, self.media_url)})

    async def _push_read(self, data: dict[str, Any]) -> None:
        """An agent read the visitor's messages up to `message_id`: show "Read" now."""
        if data.get("channel_id") != self.channel_id:
            return
        customer = await self.store.get_customer(str(data.get("customer_id")))
        if customer is None:
            return
        keys = [key_of(i) for i in customer.identities if i.kind in CHAT_KINDS]
        self.push_local(keys, {"type": "read", "up_to": data["message_id"]})
