"""SMS (`type: twilio_sms`) and WhatsApp (`type: twilio_whatsapp`) through Twilio.

In: one signed webhook URL per channel, `<public_url>/webhooks/<id>`, for incoming
messages and for the status callbacks of ours (Twilio's StatusCallback points there too).
Out: the Messages API through the twilio SDK, aimed at `api_base_url`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import ClassVar

from aiohttp import web
from twilio.base.exceptions import TwilioException

from omnihub.connectors.base import (
    Connector,
    ConnectorContext,
    OutboundMessage,
    ParsedWebhook,
    SendReceipt,
    WebhookRequest,
)
from omnihub.connectors.errors import TemporarySendError
from omnihub.connectors.pending import Pending
from omnihub.connectors.twilio.client import (
    MediaUnavailable,
    TwilioClient,
    TwilioRateLimited,
    TwilioUnreachable,
    send_error,
)
from omnihub.connectors.twilio.media_links import media_link, media_route
from omnihub.connectors.twilio.messaging_settings import (
    TwilioSmsSettings,
    TwilioWhatsappSettings,
    MessagingSettings,
)
from omnihub.connectors.twilio.parse_messaging import (
    IDENTITY_KIND,
    MediaToFetch,
    parse_messaging,
)
from omnihub.connectors.twilio.send_messaging import render
from omnihub.connectors.twilio.signature import verified_form
from omnihub.connectors.twilio.vcard import contact_from_vcard
from omnihub.normalizer.media import MediaError, MediaTooLarge
from omnihub.normalizer.schema import Identity, InboundMessage, MediaRef, Part

__all__ = ["TwilioSmsConnector", "TwilioWhatsappConnector"]

log = logging.getLogger("omnihub.connectors.twilio")

_MAX_PROGRESS = 1000  # partly sent messages remembered for their retry

#: Twilio expects TwiML back from a messaging webhook; an empty one sends no reply
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


class _TwilioMessagingConnector(Connector):
    """What SMS and WhatsApp share; they differ in the address prefix and the settings."""

    identity_kind: ClassVar[str] = IDENTITY_KIND
    address_prefix: ClassVar[str] = ""
    settings: MessagingSettings

    def __init__(self, settings: MessagingSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.twilio = TwilioClient(settings, context.http)
        #: message id -> (pieces Twilio already accepted, the first one's SID)
        self._progress: OrderedDict[str, tuple[int, str | None]] = OrderedDict()

    @classmethod
    def http_routes(cls, settings: MessagingSettings) -> list[web.RouteDef]:  # type: ignore[override]
        return [media_route(settings.id)]

    @property
    def webhook_url(self) -> str:
        """Where Twilio sends incoming messages and status callbacks for this channel."""
        return f"{self.context.public_url.rstrip('/')}/webhooks/{self.channel_id}"

    # --- in -----------------------------------------------------------------------

    async def parse_webhook(self, request: WebhookRequest) -> ParsedWebhook:
        form = verified_form(request, auth_token=self.settings.auth_token,
                             signing_key=self.settings.webhook_signing_key)
        event = parse_messaging(self.type, self.channel_id, form, raw=request.body)  # type: ignore[arg-type]
        return ParsedWebhook(
            messages=[await self._with_media(p) for p in event.messages],
            statuses=event.statuses,
            ignored=event.ignored,
            response=web.Response(text=EMPTY_TWIML, content_type="text/xml"),
        )

    async def _with_media(self, pending: Pending[InboundMessage, MediaToFetch]) -> InboundMessage:
        """Download the attachments (at once: Twilio waits 15 s for the answer); one that
        can't be had keeps its Twilio URL instead of failing the message, since Twilio does
        not by default send a messaging webhook again."""
        if not pending.files:
            return pending.item
        parts: list[Part] = list(pending.item.parts)
        refs = await asyncio.gather(*(self._download(f) for f in pending.files.values()))
        for (index, file), ref in zip(pending.files.items(), refs, strict=True):
            if ref is None:
                continue
            contact = await self._contact(ref) if file.contact else None
            parts[index] = contact or parts[index].model_copy(update={"media": ref})
        return pending.item.model_copy(update={"parts": parts})

    async def _download(self, file: MediaToFetch) -> MediaRef | None:
        try:
            return await self.twilio.download_media(file.url, self.context.media,
                                                    mime=file.mime, name=file.name)
        except (MediaTooLarge, MediaUnavailable, TwilioRateLimited, TwilioUnreachable) as exc:
            log.warning("channel %s: media not downloaded: %s", self.channel_id, exc)
            return None

    async def _contact(self, ref: MediaRef) -> Part | None:
        """A shared WhatsApp contact arrives as a vCard file: show it as a contact."""
        try:
            data = await asyncio.to_thread(self.context.media.open(ref.sha256).read_bytes)
        except MediaError:
            return None
        return contact_from_vcard(data)

    # --- out ----------------------------------------------------------------------

    def address_of(self, recipient: Identity) -> str:
        return self.address_prefix + recipient.address

    def _link(self, ref: MediaRef) -> str:
        return media_link(self.context.public_url, self.channel_id, self.settings.auth_token,
                          ref, ttl_seconds=self.settings.media_link_seconds)

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """One Twilio message per text chunk and per attachment. The first one's SID is
        the message's external id, and only it asks for status callbacks: receipts are
        matched on that id. After a 429 or an outage mid-way, the retry (in this process)
        goes on after the pieces already accepted instead of sending them twice."""
        to = self.address_of(message.recipient)
        done, first = self._progress.pop(message.message_id, (0, None))
        items = render(message, limit=self.settings.max_text_length, link_for=self._link)
        for index, item in enumerate(items[done:], start=done):
            params: dict[str, object] = {"to": to, "from_": self.settings.from_}
            if item.body:
                params["body"] = item.body
            if item.media_url:
                params["media_url"] = [item.media_url]
            if index == 0 and self.settings.status_callbacks:
                params["status_callback"] = self.webhook_url
            try:
                created = await self.twilio.create_message(**params)
            except (TwilioException, TwilioRateLimited, TwilioUnreachable) as exc:
                error = send_error(exc)
                if index > 0 and isinstance(error, TemporarySendError):
                    self._remember(message.message_id, index, first)
                raise error from None
            if index == 0:
                first = getattr(created, "sid", None)
        return SendReceipt(external_id=first)

    def _remember(self, message_id: str, done: int, first: str | None) -> None:
        self._progress[message_id] = (done, first)
        while len(self._progress) > _MAX_PROGRESS:
            self._progress.popitem(last=False)


class TwilioSmsConnector(_TwilioMessagingConnector):
    type: ClassVar[str] = "twilio_sms"
    settings_model = TwilioSmsSettings


class TwilioWhatsappConnector(_TwilioMessagingConnector):
    type: ClassVar[str] = "twilio_whatsapp"
    settings_model = TwilioWhatsappSettings
    address_prefix: ClassVar[str] = "whatsapp:"
