"""Slack connector: signed Events API requests in, slack-sdk Web API calls out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import ClassVar, TypeVar
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp import web
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

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
    InvalidSignature,
    PermanentSendError,
    ProviderUnavailable,
    SendError,
    TemporarySendError,
)
from omnihub.connectors.pending import with_media
from omnihub.connectors.slack.parse import (
    IDENTITY_KIND,
    FileToFetch,
    external_id,
    parse_event,
)
from omnihub.connectors.slack.settings import SlackSettings
from omnihub.connectors.text import split_text as split_into
from omnihub.normalizer.media import MediaError, MediaTooLarge
from omnihub.normalizer.schema import (
    ContactPart,
    InboundMessage,
    InboundUpdate,
    LocationPart,
    MediaRef,
    Part,
    TextPart,
)

__all__ = ["SlackConnector"]

log = logging.getLogger("omnihub.connectors.slack")

T = TypeVar("T", InboundMessage, InboundUpdate)
TEXT_LIMIT = 40_000  # chat.postMessage truncates longer text
# Web API errors worth retrying (https://api.slack.com/web#evaluating_responses).
_TEMPORARY_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                     "request_timeout"}
_CHUNK = 64 * 1024


class _DownloadFailed(Exception):
    """Slack's file server failed; worth another try."""


class _DownloadRefused(Exception):
    """Slack refused the file (deleted, no access); retrying will not help."""


def _as_text(part: Part) -> str | None:
    """What Slack shows of a part that is not a file upload."""
    if isinstance(part, TextPart):
        return part.text
    if isinstance(part, LocationPart):
        return f"{part.title or 'Location'}: {part.latitude}, {part.longitude}"
    if isinstance(part, ContactPart):
        return " ".join(filter(None, (part.name, part.phone, part.email))) or None
    return None


def _send_error(exc: Exception) -> SendError:
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        error = str(exc.response.get("error", ""))
        if status == 429 or status >= 500 or error in _TEMPORARY_ERRORS:
            header = str(exc.response.headers.get("Retry-After", ""))  # case-insensitive
            retry_after = float(header) if header.isdigit() else None
            return TemporarySendError(f"Slack: {error or status}", retry_after=retry_after)
        return PermanentSendError(f"Slack: {error or status}")
    return TemporarySendError(f"Slack unreachable: {type(exc).__name__}: {exc}")


_FAILURES = (SlackApiError, SlackRequestError, aiohttp.ClientError, TimeoutError)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    return split_into(text, limit)


class SlackConnector(Connector):
    type: ClassVar[str] = "slack"
    settings_model = SlackSettings
    identity_kind: ClassVar[str] = IDENTITY_KIND
    settings: SlackSettings

    def __init__(self, settings: SlackSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.verifier = SignatureVerifier(settings.signing_secret)
        self.client = AsyncWebClient(token=settings.bot_token, base_url=settings.api_base_url,
                                     session=context.http, timeout=settings.timeout_seconds)
        api = urlsplit(settings.api_base_url)
        self._api_origin = (api.scheme, api.netloc)

    async def parse_webhook(self, request: WebhookRequest) -> ParsedWebhook:
        try:
            valid = self.verifier.is_valid_request(request.body, request.headers)
        except ValueError:  # a timestamp that is no number, a body that is not UTF-8
            valid = False
        if not valid:
            raise InvalidSignature("X-Slack-Signature is missing, wrong or older than 5 minutes")
        try:
            payload = orjson.loads(request.body)
        except orjson.JSONDecodeError as exc:
            raise BadPayload(f"body is not JSON: {exc}") from None
        event = parse_event(self.channel_id, payload, bot_user_id=self.settings.bot_user_id,
                            raw=request.body)
        if event.challenge is not None:
            return ParsedWebhook(response=web.json_response({"challenge": event.challenge}))
        # Retries (X-Slack-Retry-Num) carry the same event: the message ts dedupes them in
        # the store, and updates are idempotent.
        return ParsedWebhook(
            messages=[await with_media(p, self._download) for p in event.messages],
            updates=[await with_media(p, self._download) for p in event.updates],
            ignored=event.ignored,
        )

    def _may_fetch(self, url: str) -> bool:
        """The bot token goes only to Slack itself (or the configured API stand-in)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        slack = parts.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com"))
        return slack or (parts.scheme, parts.netloc) == self._api_origin

    async def _download(self, file: FileToFetch) -> MediaRef | None:
        limit = self.context.media.max_bytes
        if file.size is not None and file.size > limit:
            log.warning("channel %s: file of %d bytes not downloaded, over %d", self.channel_id,
                        file.size, limit)
            return None
        if not self._may_fetch(file.url):
            log.warning("channel %s: file URL is not Slack's; not fetched", self.channel_id)
            return None
        try:
            return await self.context.media.put_stream(self._stream(file.url), file.mime,
                                                       file.name)
        except MediaTooLarge as exc:
            log.warning("channel %s: %s", self.channel_id, exc)
            return None
        except _DownloadRefused as exc:
            log.warning("channel %s: file not downloaded: %s", self.channel_id, exc)
            return None
        except (TimeoutError, aiohttp.ClientError, _DownloadFailed) as exc:
            raise ProviderUnavailable(f"Slack file download failed: {exc!r}") from None

    async def _stream(self, url: str) -> AsyncIterator[bytes]:
        headers = {"Authorization": f"Bearer {self.settings.bot_token}"}
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds * 4)
        async with self.context.http.get(url, headers=headers, timeout=timeout,
                                         allow_redirects=False) as resp:
            if resp.status == 429 or resp.status >= 500:
                raise _DownloadFailed(f"HTTP {resp.status}")
            if resp.status != 200:
                raise _DownloadRefused(f"HTTP {resp.status}")
            async for chunk in resp.content.iter_chunked(_CHUNK):
                yield chunk

    @staticmethod
    def destination(message: OutboundMessage) -> tuple[str, str | None]:
        """(channel, thread_ts): the conversation's thread, or the customer's DM."""
        if message.thread_key:
            channel, _, thread_ts = message.thread_key.partition(":")
            return channel, thread_ts or None
        return message.recipient.address.partition(":")[2], None

    async def send(self, message: OutboundMessage) -> SendReceipt:
        channel, thread_ts = self.destination(message)
        first: str | None = None
        text = "\n".join(filter(None, (_as_text(p) for p in message.parts)))
        uploads = [p for p in message.parts if isinstance(getattr(p, "media", None), MediaRef)]
        if not text.strip() and not uploads:
            raise PermanentSendError("nothing in this message can be sent to Slack")
        try:
            for chunk in split_text(text):
                result = await self.client.chat_postMessage(channel=channel, text=chunk,
                                                            thread_ts=thread_ts)
                first = first or external_id(str(result["channel"]), str(result["ts"]))
            for part in uploads:
                await self._upload(channel, thread_ts, part.media, part.caption)  # type: ignore[union-attr]
        except _FAILURES as exc:
            raise _send_error(exc) from None
        return SendReceipt(external_id=first)

    async def _upload(self, channel: str, thread_ts: str | None, ref: MediaRef,
                      caption: str | None) -> None:
        try:
            path = self.context.media.open(ref.sha256)
        except MediaError as exc:
            raise PermanentSendError(f"attachment is gone from the media store: {exc}") from None
        await self.client.files_upload_v2(channel=channel, thread_ts=thread_ts, file=str(path),
                                          filename=ref.name or ref.sha256[:12],
                                          initial_comment=caption)

    async def edit(self, message: OutboundMessage, external_id: str, parts: list[Part]) -> None:
        channel, _, ts = external_id.partition(":")
        text = "\n".join(p.text for p in parts if isinstance(p, TextPart))
        if not text:
            raise PermanentSendError("an edit needs some text")
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=text)
        except _FAILURES as exc:
            raise _send_error(exc) from None

    async def recall(self, message: OutboundMessage, external_id: str) -> None:
        channel, _, ts = external_id.partition(":")
        try:
            await self.client.chat_delete(channel=channel, ts=ts)
        except SlackApiError as exc:
            if exc.response.get("error") == "message_not_found":
                return  # already gone: a retried recall is done
            raise _send_error(exc) from None
        except _FAILURES as exc:
            raise _send_error(exc) from None

