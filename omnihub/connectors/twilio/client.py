"""The Twilio REST client every Twilio channel uses, pointed at `api_base_url`.

The SDK's REST client has no base-URL option (`ApiBase` hard-codes api.twilio.com), so
it is given an HTTP client that moves each request onto `api_base_url`, keeping Twilio's
paths (`/2010-04-01/Accounts/<sid>/Messages.json`). It runs on the hub's aiohttp
session, and turns a 429 into `TwilioRateLimited` carrying Retry-After, which the SDK's
own exceptions drop. Media (MMS and WhatsApp attachments, call recordings) is fetched
the same way, with the account's credentials, straight into the media store.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from omnihub.connectors.errors import PermanentSendError, SendError, TemporarySendError
from omnihub.connectors.twilio.settings import TwilioSettings
from omnihub.normalizer.media import MediaStore
from omnihub.normalizer.schema import MediaRef

__all__ = [
    "BaseUrlHttpClient",
    "MediaUnavailable",
    "TwilioClient",
    "TwilioRateLimited",
    "TwilioUnreachable",
    "rebase_url",
    "retry_after_seconds",
    "send_error",
]

_CHUNK = 64 * 1024
_SDK_PREFIX = re.compile(r"^Unable to \w+ record: ")  # the SDK's words before Twilio's
_TWILIO_HOSTS = ("twilio.com",)  # api.twilio.com, api.<edge>.<region>.twilio.com


class TwilioRateLimited(Exception):
    """Twilio answered 429 (error 20429, too many requests): wait `retry_after` seconds."""

    def __init__(self, what: str, retry_after: float | None) -> None:
        super().__init__(f"{what}: 429 too many requests"
                         + (f", retry after {retry_after:g}s" if retry_after is not None else ""))
        self.retry_after = retry_after


class TwilioUnreachable(Exception):
    """No usable answer from Twilio: a network error, a timeout, or a 5xx."""


class MediaUnavailable(Exception):
    """The media URL answered a definite no (404, 403): retrying will not produce it."""


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def rebase_url(url: str, base_url: str) -> str | None:
    """`url` moved onto `base_url` if it is Twilio's (or already under `base_url`); None
    for any other host, so the account's credentials never go to a stranger."""
    if url.startswith(base_url + "/"):
        return url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not any(host == h or host.endswith("." + h)
                                          for h in _TWILIO_HOSTS):
        return None
    return base_url + parts.path + (f"?{parts.query}" if parts.query else "")


class BaseUrlHttpClient(AsyncTwilioHttpClient):
    """The SDK's async HTTP client, re-aimed at `base_url` and run on a shared session."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, *,
                 timeout: float) -> None:
        super().__init__(pool_connections=False, timeout=timeout)
        self.session = session  # the hub's: closed by the hub, never by us
        self.base_url = base_url.rstrip("/")

    async def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """The SDK's request, sent to `base_url`; written out rather than inherited because
        the SDK's own builds an `aiohttp.BasicAuth`, deprecated in aiohttp 3.14."""
        parts = urlsplit(url)
        what = f"{method.upper()} {parts.path}"
        target = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        sent_headers = dict(headers or {})
        if auth is not None:
            sent_headers["Authorization"] = aiohttp.encode_basic_auth(auth[0], auth[1])
        seconds = timeout if timeout is not None else self.timeout
        try:
            async with self.session.request(  # type: ignore[union-attr]
                method.upper(), target, params=params, data=data, headers=sent_headers,
                timeout=aiohttp.ClientTimeout(total=seconds),
                allow_redirects=allow_redirects,
            ) as resp:
                response = Response(resp.status, await resp.text(), resp.headers)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TwilioUnreachable(f"{what}: {type(exc).__name__}: {exc}") from None
        if response.status_code == 429:
            raise TwilioRateLimited(what, retry_after_seconds(response.headers.get("Retry-After")))
        if response.status_code >= 500:
            raise TwilioUnreachable(f"{what}: HTTP {response.status_code}")
        return response

    async def close(self) -> None:
        """The session belongs to the hub."""


def send_error(exc: Exception) -> SendError:
    """How a failed REST call reaches the delivery retry: 429 and 5xx/network are
    temporary (Retry-After honoured), Twilio's 4xx errors permanent with their code."""
    if isinstance(exc, TwilioRateLimited):
        return TemporarySendError(f"Twilio: {exc}", retry_after=exc.retry_after)
    if isinstance(exc, TwilioUnreachable):
        return TemporarySendError(f"Twilio unreachable: {exc}")
    if isinstance(exc, TwilioRestException):
        text = _SDK_PREFIX.sub("", str(exc.msg))
        return PermanentSendError(f"Twilio error {exc.code}: {text} (HTTP {exc.status})")
    if isinstance(exc, TwilioServiceException):
        return PermanentSendError(f"Twilio error {exc.code}: {exc.title} (HTTP {exc.status})")
    return TemporarySendError(f"Twilio: {type(exc).__name__}: {exc}")


class TwilioClient:
    """One account's REST client and media downloader."""

    def __init__(self, settings: TwilioSettings, session: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.base_url = settings.api_base_url.rstrip("/")
        self.http_client = BaseUrlHttpClient(session, self.base_url,
                                             timeout=settings.timeout_seconds)
        self.rest = Client(settings.account_sid, settings.auth_token,
                           http_client=self.http_client)
        self._session = session
        self._auth = {"Authorization": aiohttp.encode_basic_auth(settings.account_sid,
                                                                  settings.auth_token)}
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds)

    async def create_message(self, **params: Any) -> Any:
        """`messages.create_async`; raises TwilioRateLimited, TwilioUnreachable, or the
        SDK's TwilioRestException (map them with `send_error`)."""
        return await self.rest.messages.create_async(**params)

    async def download_media(self, url: str, media: MediaStore, *, mime: str | None = None,
                             name: str | None = None) -> MediaRef:
        """Fetch a Twilio media URL (MediaUrl0…, RecordingUrl) into the media store.

        Twilio answers with a redirect to its CDN; aiohttp follows it and drops the
        credentials on the way to the other host. Raises MediaUnavailable (a 4xx, or a
        URL that is not Twilio's), TwilioRateLimited, TwilioUnreachable, MediaTooLarge.
        """
        target = rebase_url(url, self.base_url)
        if target is None:
            raise MediaUnavailable("not a Twilio media URL")
        return await media.put_stream(self._stream(target), mime or "application/octet-stream",
                                      name)

    async def _stream(self, url: str) -> AsyncIterator[bytes]:
        path = urlsplit(url).path
        try:
            async with self._session.get(url, headers=self._auth, timeout=self._timeout) as resp:
                if resp.status == 429:
                    raise TwilioRateLimited(f"GET {path}",
                                            retry_after_seconds(resp.headers.get("Retry-After")))
                if resp.status >= 500:
                    raise TwilioUnreachable(f"GET {path}: HTTP {resp.status}")
                if resp.status != 200:
                    raise MediaUnavailable(f"GET {path}: HTTP {resp.status}")
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TwilioUnreachable(f"GET {path}: {type(exc).__name__}: {exc}") from None
