"""API channel connector: signed JSON in, signed JSON replies out to the shop's reply_url."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import aiohttp
import orjson

from omnihub.connectors.api.parse import IDENTITY_KIND, parse_post
from omnihub.connectors.api.settings import ApiChannelSettings
from omnihub.connectors.base import (
    Connector,
    OutboundMessage,
    ParsedWebhook,
    SendReceipt,
    WebhookRequest,
)
from omnihub.connectors.errors import (
    BadPayload,
    InvalidSignature,
    PermanentSendError,
    TemporarySendError,
)
from omnihub.hub import signing
from omnihub.normalizer.schema import Identity


class ApiConnector(Connector):
    type: ClassVar[str] = "api"
    settings_model = ApiChannelSettings
    identity_kind: ClassVar[str] = IDENTITY_KIND
    settings: ApiChannelSettings

    async def parse_webhook(self, request: WebhookRequest) -> ParsedWebhook:
        try:
            signing.verify(
                self.settings.secret,
                request.body,
                request.headers.get(signing.HEADER),
                tolerance=self.settings.tolerance_seconds,
            )
        except signing.SignatureError as exc:
            raise InvalidSignature(str(exc)) from None
        try:
            data = orjson.loads(request.body)
        except orjson.JSONDecodeError as exc:
            raise BadPayload(f"body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BadPayload("body must be a JSON object")
        return ParsedWebhook(messages=[parse_post(self.channel_id, data, raw=request.body)])

    def pick_recipient(self, identities: list[Identity]) -> Identity | None:
        prefix = f"{self.channel_id}:"
        for identity in identities:
            if identity.kind == IDENTITY_KIND and identity.address.startswith(prefix):
                return identity
        return None

    async def send(self, message: OutboundMessage) -> SendReceipt:
        if self.settings.reply_url is None:
            raise PermanentSendError(f"channel {self.channel_id!r} has no reply_url")
        customer_external_id = message.recipient.address.partition(":")[2]
        body = orjson.dumps({
            "message_id": message.message_id,
            "conversation_id": message.conversation_id,
            "customer": {"external_id": customer_external_id},
            "author": message.author,
            "parts": [p.model_dump(mode="json", exclude_none=True) for p in message.parts],
            "text": "\n".join(p.text for p in message.parts if p.kind == "text"),
            # quick replies (the FAQ bot's choices, a survey's 1-5): only when there are some
            **({"buttons": message.buttons} if message.buttons else {}),
        })
        headers = {
            "Content-Type": "application/json",
            signing.HEADER: signing.sign(self.settings.secret, body),
            # The receiver dedupes retries with it: the same reply is never applied twice.
            "Idempotency-Key": message.message_id,
        }
        timeout = aiohttp.ClientTimeout(total=self.settings.reply_timeout_seconds)
        try:
            async with self.context.http.post(str(self.settings.reply_url), data=body,
                                              headers=headers, timeout=timeout) as resp:
                text = await resp.text()
                if resp.status < 300:
                    return SendReceipt(external_id=_reply_id(text) or message.message_id)
                if resp.status == 429 or resp.status >= 500:
                    raise TemporarySendError(f"reply_url answered {resp.status}",
                                             retry_after=_retry_after(resp.headers.get("Retry-After")))
                raise PermanentSendError(f"reply_url answered {resp.status}: {text[:200]}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise TemporarySendError(f"reply_url unreachable: {exc!r}") from None


def _reply_id(text: str) -> str | None:
    """The shop may answer {"id": "..."}; that becomes the message's external id."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return str(value) if value is not None else None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
