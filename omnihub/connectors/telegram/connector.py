"""Telegram connector: secret-checked webhooks in, paced Bot API calls out."""

from __future__ import annotations

import hmac
import logging
from pathlib import PurePosixPath
from typing import Any, ClassVar, TypeVar

import orjson
from aiohttp import web

from omnihub.connectors.base import (
    Connector,
    ConnectorContext,
    OutboundMessage,
    ParsedWebhook,
    SendReceipt,
    WebhookRequest,
)
from omnihub.connectors.errors import (
    BadPayload,
    Forbidden,
    PermanentSendError,
    ProviderUnavailable,
    SendError,
    TemporarySendError,
)
from omnihub.connectors.pending import with_media
from omnihub.connectors.telegram.api import BotApi, BotApiError, BotApiUnreachable, Upload
from omnihub.connectors.telegram.limiter import FloodLimiter
from omnihub.connectors.telegram.parse import (
    HANDLERS,
    IDENTITY_KIND,
    FileToFetch,
    external_id,
    parse_update,
)
from omnihub.connectors.telegram.send import render, text_of
from omnihub.connectors.telegram.settings import TelegramSettings
from omnihub.normalizer.media import MediaTooLarge
from omnihub.normalizer.schema import InboundMessage, InboundUpdate, MediaRef, Part

__all__ = ["SECRET_HEADER", "TelegramConnector", "WebhookSetupFailed"]

log = logging.getLogger("omnihub.connectors.telegram")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
T = TypeVar("T", InboundMessage, InboundUpdate)


class WebhookSetupFailed(RuntimeError):
    """setWebhook was refused or unreachable at start."""


def _send_error(exc: BotApiError | BotApiUnreachable) -> SendError:
    if isinstance(exc, BotApiUnreachable) or exc.temporary:
        return TemporarySendError(str(exc), retry_after=getattr(exc, "retry_after", None))
    return PermanentSendError(str(exc))


class TelegramConnector(Connector):
    type: ClassVar[str] = "telegram"
    settings_model = TelegramSettings
    identity_kind: ClassVar[str] = IDENTITY_KIND
    settings: TelegramSettings

    def __init__(self, settings: TelegramSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.api = BotApi(context.http, settings.api_base_url, settings.token,
                          timeout=settings.timeout_seconds)
        self.limiter = FloodLimiter(per_second=settings.max_per_second,
                                    per_chat_per_second=settings.max_per_chat_per_second,
                                    per_group_per_minute=settings.max_per_group_per_minute)

    @property
    def webhook_url(self) -> str:
        return f"{self.context.public_url.rstrip('/')}/webhooks/{self.channel_id}"

    async def start(self) -> None:
        if self.settings.set_webhook:
            await self.set_webhook()

    async def set_webhook(self) -> None:
        """Point Telegram at this channel's webhook, with the secret it must send back."""
        try:
            await self.api.call("setWebhook", {
                "url": self.webhook_url,
                "secret_token": self.settings.secret_token,
                "allowed_updates": list(HANDLERS),
            })
        except (BotApiError, BotApiUnreachable) as exc:
            raise WebhookSetupFailed(
                f"channel {self.channel_id}: setWebhook failed: {exc}") from None
        log.info("channel %s: Telegram webhook set to %s", self.channel_id, self.webhook_url)

    async def parse_webhook(self, request: WebhookRequest) -> ParsedWebhook:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.settings.secret_token.encode()):
            raise Forbidden(f"{SECRET_HEADER} is missing or wrong")
        try:
            data = orjson.loads(request.body)
        except orjson.JSONDecodeError as exc:
            raise BadPayload(f"body is not JSON: {exc}") from None
        event = parse_update(self.channel_id, data, raw=request.body)
        parsed = ParsedWebhook(
            messages=[await with_media(p, self._download) for p in event.messages],
            updates=[await with_media(p, self._download) for p in event.updates],
        )
        if event.callback_query_id is not None:
            # Answered in the webhook reply itself (Bot API "making requests when getting
            # updates"): no extra call, and only once the press is stored.
            parsed.response = web.json_response(
                {"method": "answerCallbackQuery", "callback_query_id": event.callback_query_id})
        return parsed

    async def _download(self, file: FileToFetch) -> MediaRef | None:
        limit = self.context.media.max_bytes
        if file.size is not None and file.size > limit:
            log.warning("channel %s: file of %d bytes not downloaded, over %d", self.channel_id,
                        file.size, limit)
            return None
        try:
            info = await self.api.call("getFile", {"file_id": file.file_id})
            path = info.get("file_path") if isinstance(info, dict) else None
            if not path:  # the cloud Bot API serves files up to 20 MB only
                log.warning("channel %s: getFile gave no file_path", self.channel_id)
                return None
            name = file.name or PurePosixPath(path).name
            return await self.context.media.put_stream(self.api.download(path), file.mime, name)
        except MediaTooLarge as exc:
            log.warning("channel %s: %s", self.channel_id, exc)
            return None
        except BotApiUnreachable as exc:
            raise ProviderUnavailable(f"Telegram file download failed: {exc}") from None
        except BotApiError as exc:
            if exc.temporary:
                raise ProviderUnavailable(f"Telegram file download failed: {exc}") from None
            log.warning("channel %s: file not downloaded: %s", self.channel_id, exc)
            return None

    async def _call(self, message: OutboundMessage, chat_id: str, method: str,
                    params: dict[str, Any], uploads: dict[str, Upload] | None = None) -> Any:
        """One paced call. Waiting calls go oldest message first (ids are time-ordered):
        a busy chat's reply whose second is up goes ahead of newer replies to others."""
        async with self.limiter.slot(chat_id, order=message.message_id):
            return await self.api.call(method, params, uploads=uploads)

    @staticmethod
    def chat_of(message: OutboundMessage) -> str:
        """A group conversation goes to the group; a private one to the customer."""
        return message.thread_key or message.recipient.address

    async def send(self, message: OutboundMessage) -> SendReceipt:
        chat_id = self.chat_of(message)
        first: int | None = None
        for call in render(message, chat_id, self.context.media):
            try:
                result = await self._call(message, chat_id, call.method, call.params,
                                          call.uploads)
            except (BotApiError, BotApiUnreachable) as exc:
                raise _send_error(exc) from None
            if first is None and isinstance(result, dict):
                first = result.get("message_id")
        return SendReceipt(external_id=external_id(chat_id, first) if first is not None else None)

    async def edit(self, message: OutboundMessage, external_id: str, parts: list[Part]) -> None:
        chat_id, message_id = _split_external_id(external_id)
        text = text_of(parts)
        if not text:
            raise PermanentSendError("an edit needs some text")
        params = {"chat_id": chat_id, "message_id": message_id}
        try:
            try:
                await self._call(message, chat_id, "editMessageText", {**params, "text": text})
            except BotApiError as exc:
                if "no text in the message" not in exc.description:
                    raise
                await self._call(message, chat_id, "editMessageCaption",
                                 {**params, "caption": text})
        except BotApiError as exc:
            if "message is not modified" in exc.description:
                return  # the same edit again: already done
            raise _send_error(exc) from None
        except BotApiUnreachable as exc:
            raise _send_error(exc) from None

    async def recall(self, message: OutboundMessage, external_id: str) -> None:
        chat_id, message_id = _split_external_id(external_id)
        try:
            await self._call(message, chat_id, "deleteMessage", {"chat_id": chat_id,
                                                        "message_id": message_id})
        except BotApiError as exc:
            if "message to delete not found" in exc.description:
                return  # already gone: a retried recall is done
            raise _send_error(exc) from None
        except BotApiUnreachable as exc:
            raise _send_error(exc) from None


def _split_external_id(value: str) -> tuple[str, int]:
    chat_id, _, message_id = value.rpartition(":")
    if not chat_id or not message_id.isdigit():
        raise PermanentSendError(f"not a Telegram message id: {value!r}")
    return chat_id, int(message_id)
