"""Typed connector errors; the webhook route maps each to one HTTP status and a JSON error."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class: `status` is the HTTP status the provider gets back, `code` a stable name."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidSignature(ConnectorError):
    """Missing, wrong or stale signature: nothing in the body is trusted or stored."""

    status = 401
    code = "invalid_signature"


class Forbidden(ConnectorError):
    """A shared secret (e.g. Telegram's secret token) that does not match."""

    status = 403
    code = "forbidden"


class BadPayload(ConnectorError):
    """The body is not the provider's shape (broken JSON, missing fields)."""

    status = 400
    code = "bad_payload"


class ProviderUnavailable(ConnectorError):
    """The provider failed us mid-webhook (e.g. a file download): answered 503 so that it
    sends the webhook again, and idempotent ingest makes the retry harmless."""

    status = 503
    code = "provider_unavailable"



class UnsupportedEvent(ConnectorError):
    """A well-formed event the connector does not handle: answered 200 so the provider
    does not retry forever, logged and counted."""

    status = 200
    code = "unsupported_event"


class SendError(Exception):
    """Delivering an outbound message failed."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TemporarySendError(SendError):
    """Worth retrying (network, 5xx, 429 with Retry-After)."""


class PermanentSendError(SendError):
    """Retrying will not help (4xx other than 429, recipient gone): dead-letter at once."""


class NotSupported(PermanentSendError):
    """The channel cannot do this at all (e.g. edit a sent message)."""
