"""Typed errors of the store, so the HTTP layer can map each one to a clear answer."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class StoreBusy(StoreError):
    """The ingest queue is full: answer 503 with Retry-After instead of queueing forever."""

    def __init__(
        self, message: str = "the store is saturated; retry later", *, retry_after: float = 1.0
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreClosed(StoreBusy):
    """The store is shutting down; a provider retry will reach the next process."""

    def __init__(self) -> None:
        super().__init__("the store is shutting down; retry later")


class IngestFailed(StoreError):
    """One inbound message could not be stored (the others of its batch were)."""


class NotFound(StoreError, LookupError):
    """The customer, conversation, message or merge named does not exist."""


class InvalidCursor(StoreError, ValueError):
    """A paging cursor that this store did not hand out (or for another listing)."""


class MergeError(StoreError, ValueError):
    """A merge or unmerge that would corrupt history, refused with the reason."""


class InvalidReply(StoreError, ValueError):
    """An agent reply that can't be queued (no parts, a closed-for-good conversation…)."""


class NoRecipient(StoreError, LookupError):
    """The customer has no address on the channel a message must go out on."""
