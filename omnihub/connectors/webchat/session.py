"""One widget's conversation with the hub, whatever carries it (WebSocket or long-poll).

`ChatSession.handle(frame)` acts on one client frame and emits server frames through
`emit`. Visitor messages take the webhook's path: InboundMessage -> normalizer pipeline ->
`Store.ingest` (durable, deduplicated by the widget's client id), and only then the `ack`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from omnihub.connectors.webchat.connector import Outlet, WebchatConnector
from omnihub.connectors.webchat.hours import ChatHours, chat_hours
from omnihub.connectors.webchat.protocol import (
    CLOSE_BAD_TOKEN,
    CLOSE_FORBIDDEN,
    ClientFrame,
    Hello,
    LeaveMessage,
    Ping,
    Read,
    Resume,
    SendText,
    Typing,
    error_frame,
    stored_view,
)
from omnihub.connectors.webchat.replay import replay
from omnihub.connectors.webchat.visitor import (
    IdentityRefused,
    InvalidToken,
    Visitor,
    identify,
    issue_token,
    new_visitor,
    read_token,
)
from omnihub.normalizer.addresses import InvalidAddress, normalize_email, normalize_phone
from omnihub.normalizer.media import MediaTooLarge
from omnihub.normalizer.schema import ContactPart, InboundMessage, Part, Sender, TextPart
from omnihub.store import IngestFailed, StoreBusy

if TYPE_CHECKING:
    from omnihub.hub.runtime import Hub

__all__ = ["ChatSession", "SessionRefused"]

log = logging.getLogger("omnihub.webchat")
_TYPING_EVERY = 3.0  # seconds between repeated "still typing" signals passed on


class SessionRefused(Exception):
    """The widget can't go on (bad token, refused identity): close with `close_code`."""

    def __init__(self, close_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return 401 if self.close_code == CLOSE_BAD_TOKEN else 403


def visitor_from_token(connector: WebchatConnector, token: str) -> Visitor:
    try:
        return read_token(connector.settings.secret, token, channel_id=connector.channel_id,
                          now=time.time())
    except InvalidToken as exc:
        raise SessionRefused(CLOSE_BAD_TOKEN, "invalid_token", str(exc)) from None


class ChatSession:
    def __init__(self, hub: Hub, connector: WebchatConnector,
                 emit: Callable[[dict[str, Any]], None], *,
                 visitor: Visitor | None = None, outlet: Outlet | None = None) -> None:
        self.hub = hub
        self.connector = connector
        self.emit = emit
        self.visitor = visitor
        self.outlet = outlet  # attached to the connector while a visitor is known
        self.customer_id: str | None = None
        self.conversation_id: str | None = None
        self.language: str | None = None  # the browser's, from hello (a socket's session only)
        self._typing_sent = 0.0
        if visitor is not None and outlet is not None:
            connector.attach(visitor.primary, outlet)

    def close(self) -> None:
        if self.visitor is not None and self.outlet is not None:
            self.connector.detach(self.visitor.primary, self.outlet)

    async def handle(self, frame: ClientFrame) -> None:
        if isinstance(frame, Hello):
            await self._hello(frame)
            return
        if self.visitor is None:
            self.emit(error_frame("hello_required", "send a `hello` frame first"))
            return
        if isinstance(frame, Resume):
            await self.resume(frame.last_id)
        elif isinstance(frame, SendText):
            await self.send_message(frame.client_id, [TextPart(text=frame.text)], raw=frame)
        elif isinstance(frame, LeaveMessage):
            await self.leave_message(frame)
        elif isinstance(frame, Typing):
            await self._typing(frame.active)
        elif isinstance(frame, Read):
            await self._read(frame.message_id)
        elif isinstance(frame, Ping):
            self.emit({"type": "pong"})

    async def _hello(self, frame: Hello) -> None:
        settings = self.connector.settings
        base = visitor_from_token(self.connector, frame.token) if frame.token else None
        # A token stays anonymous at rest: who is logged in is claimed anew on every page.
        anonymous = Visitor(self.connector.channel_id, base.visitor_id) if base else \
            new_visitor(self.connector.channel_id)
        visitor = anonymous
        if frame.user is not None:
            claim = frame.user
            try:
                visitor = identify(anonymous, identity_secret=settings.identity_secret,
                                   user_id=claim.user_id, user_hash=claim.user_hash,
                                   email=claim.email, email_hash=claim.email_hash,
                                   name=claim.name, ttl_seconds=settings.identified_ttl_seconds,
                                   now=time.time())
            except IdentityRefused as exc:
                raise SessionRefused(CLOSE_FORBIDDEN, "identity_refused", str(exc)) from None
        self.set_visitor(visitor)
        self.language = frame.language
        self.emit({
            "type": "welcome",
            "token": issue_token(settings.secret, anonymous),
            "session": issue_token(settings.secret, visitor),
            "visitor": {"verified": visitor.verified, "name": visitor.name},
            "title": settings.title,
            "greeting": settings.greeting,
            "max_upload_bytes": self.max_upload_bytes,
            "hours": self.hours().to_frame(),
        })

    def hours(self) -> ChatHours:
        """Open or closed now, by the routing version in force (hours.py says which group)."""
        routing = getattr(self.hub, "routing", None)
        return chat_hours(routing.router if routing is not None else None,
                          self.connector.channel_id, self.connector.clock())

    async def leave_message(self, frame: LeaveMessage) -> bool:
        """The off-hours form becomes a message: its text, and the contact as a contact part.

        The typed e-mail or phone is an unchecked claim, so it is kept in the message for the
        agent to read, never as an identity: it can't link the visitor to anyone's history.
        """
        contact = frame.contact.strip()
        try:
            email = normalize_email(contact) if "@" in contact else None
            phone = None if email else normalize_phone(contact)
        except InvalidAddress as exc:
            self.emit(error_frame("bad_contact", f"contact: {exc}", ref=frame.client_id))
            return False
        name = frame.name.strip() or None
        card = ContactPart(name=name, email=email, phone=phone)
        return await self.send_message(frame.client_id, [TextPart(text=frame.text), card],
                                       raw=frame, display_name=name)

    @property
    def max_upload_bytes(self) -> int:
        return min(self.connector.settings.max_upload_bytes, self.connector.context.media.max_bytes)

    def set_visitor(self, visitor: Visitor) -> None:
        if self.visitor is not None and self.outlet is not None:
            self.connector.detach(self.visitor.primary, self.outlet)
        self.visitor = visitor
        self.customer_id = None
        if self.outlet is not None:
            self.connector.attach(visitor.primary, self.outlet)

    async def customer(self) -> str | None:
        if self.customer_id is None and self.visitor is not None:
            primary = self.visitor.primary
            customer = await self.hub.store.find_customer(primary.kind, primary.address)
            self.customer_id = customer.id if customer else None
        return self.customer_id

    async def resume(self, last_id: str | None) -> int:
        """Emit what the widget missed since `last_id`; return how many messages."""
        customer_id = await self.customer()
        frame: dict[str, Any] = {"type": "history", "messages": [], "updates": [],
                                 "read_up_to": None}
        if customer_id is not None:
            found = await replay(self.hub.store, customer_id, self.connector.channel_id, last_id)
            url = self.connector.media_url
            frame.update(messages=[stored_view(m, url) for m in found.missed],
                         updates=[stored_view(m, url) for m in found.changed],
                         read_up_to=found.read_up_to)
            self.conversation_id = found.conversation_id
        self.emit(frame)
        return len(frame["messages"])

    async def send_message(self, client_id: str, parts: list[Part], *, raw: Any = None,
                           display_name: str | None = None) -> bool:
        """Store a visitor message durably, then ack it; False (and an error frame) if not."""
        visitor = self.visitor
        assert visitor is not None
        inbound = InboundMessage(
            channel_id=self.connector.channel_id, channel_type="webchat",
            # scoped by the signed visitor id: one visitor can't collide with another's ids
            external_id=f"{visitor.visitor_id}:{client_id}",
            sender=Sender(identities=visitor.identities(),
                          display_name=visitor.name or display_name),
            parts=parts,
            raw=raw.model_dump_json().encode() if raw is not None else None,
            raw_content_type="application/json" if raw is not None else None,
            language=self.language,
        )
        try:
            normalized, warnings = await self.hub.pipeline.run(inbound)
            result = await self.hub.store.ingest(normalized)
        except StoreBusy:
            self.emit(error_frame("busy", "the hub is saturated; send again shortly", ref=client_id))
            return False
        except IngestFailed as exc:
            log.warning("webchat %s: %s", self.connector.channel_id, exc)
            self.emit(error_frame("not_stored", "the message could not be stored; send again",
                                  ref=client_id))
            return False
        except (InvalidAddress, MediaTooLarge) as exc:
            self.emit(error_frame("bad_message", str(exc), ref=client_id))
            return False
        for warning in warnings:
            log.info("webchat %s: message %s: %s", self.connector.channel_id, client_id, warning)
        message = result.message
        self.customer_id = message.customer_id
        self.conversation_id = message.conversation_id
        self.hub.metrics.ingest_total.labels(
            self.connector.channel_id, "duplicate" if result.duplicate else "stored").inc()
        view = stored_view(message, self.connector.media_url)
        self.emit({"type": "ack", "client_id": client_id, "id": message.id,
                   "duplicate": result.duplicate, "message": view})
        if not result.duplicate:  # the visitor's other tabs show it too
            await self.connector.publish([visitor.primary], {"type": "message", "message": view},
                                         skip=self.outlet.sid if self.outlet else None)
        return True

    async def _typing(self, active: bool) -> None:
        """Pass the visitor's typing on (bus topic "webchat", type "typing.visitor") for the
        agents' side; repeated "still typing" signals are thinned out."""
        now = time.monotonic()
        if active and now - self._typing_sent < _TYPING_EVERY:
            return
        self._typing_sent = now if active else 0.0
        if self.conversation_id is None:
            return
        await self.connector.publish([], {
            "type": "typing.visitor", "conversation_id": self.conversation_id,
            "customer_id": self.customer_id, "active": active})

    async def _read(self, message_id: str) -> None:
        """The visitor has seen the agents' messages up to `message_id`: mark them read."""
        store = self.hub.store
        customer_id = await self.customer()
        target = await store.get_message(message_id)
        if (target is None or customer_id is None or target.customer_id != customer_id
                or target.channel_id != self.connector.channel_id or target.direction != "out"):
            self.emit(error_frame("unknown_message", "no such message in your conversation",
                                  ref=message_id))
            return
        page = await store.conversation_messages(target.conversation_id, limit=50)
        for message in page.items:
            # the target itself may still be "queued": its push can beat the delivery's
            # own "sent" mark, which then (status never moves back) leaves "read" alone
            seen = message.status in ("sent", "delivered") or (
                message.id == message_id and message.status == "queued")
            if (message.direction == "out" and not message.private and message.id <= message_id
                    and seen):
                await store.mark_delivery(message.id, status="read")
