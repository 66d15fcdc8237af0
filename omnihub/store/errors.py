"""Typed errors of the store, so the HTTP layer can map each one to a clear answer."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError


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


_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock (PostgreSQL)
_RETRYABLE_MYSQL_CODES = {1213, 1205}  # deadlock, lock wait timeout (MySQL/MariaDB)


def lost_a_race(exc: DBAPIError) -> bool:
    """True for errors that a re-run of the same transaction can get past: a unique key
    another transaction took first, or a deadlock the database broke by aborting us."""
    if isinstance(exc, IntegrityError):
        return True
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state in _RETRYABLE_SQLSTATES:
        return True
    args = getattr(orig, "args", ())
    return bool(args) and args[0] in _RETRYABLE_MYSQL_CODES
