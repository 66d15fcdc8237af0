"""The request id: one token that follows a message from its webhook through the store to
its delivery, so that every log line about it can be found with one search.

It comes from the caller's `X-Request-Id` header (a load balancer or the shop's app may
already have one) or is generated, lives in a contextvar while the request is handled,
is stored with the outbox rows the request writes (`outbox.request_id`), and is bound
again by the consumers that handle those rows. Every log record gets it as
`record.request_id` (a log record factory, so that any handler and formatter sees it).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
from collections.abc import Iterator
from contextvars import ContextVar, Token

__all__ = ["HEADER", "accepted", "bound_request_id", "current_request_id",
           "install_log_record_factory", "reset_request_id", "set_request_id"]

HEADER = "X-Request-Id"
MAX_LENGTH = 64  # outbox.request_id is String(64)
_VALID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,64}")
_REQUEST_ID: ContextVar[str | None] = ContextVar("omnihub_request_id", default=None)

log = logging.getLogger("omnihub.http")


def current_request_id() -> str | None:
    return _REQUEST_ID.get()


# A random prefix per process and a counter: as unique as a uuid4 for finding log lines
# (2**64 prefixes), at a tenth of its cost on a path every webhook takes.
_PREFIX = os.urandom(8).hex()
_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_PREFIX}{next(_COUNTER):016x}"  # 32 characters, as a uuid4 in hex


def accepted(value: str | None) -> str:
    """The caller's id when it is a sane token; a fresh one otherwise (no log injection)."""
    if value is not None and _VALID.fullmatch(value):
        return value
    return new_request_id()


@contextlib.contextmanager
def bound_request_id(request_id: str | None) -> Iterator[None]:
    """Handle something on behalf of `request_id` (None leaves the current one alone)."""
    if request_id is None:
        yield
        return
    token = _REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        _REQUEST_ID.reset(token)


def set_request_id(request_id: str) -> Token[str | None]:
    """Bind `request_id` until `reset_request_id` with the token returned (the edge
    middleware, which handles every request, needs no context manager for it)."""
    return _REQUEST_ID.set(request_id)


def reset_request_id(token: Token[str | None]) -> None:
    _REQUEST_ID.reset(token)


_installed = False


def install_log_record_factory() -> None:
    """Stamp every log record with the request id in force where it was logged. Idempotent."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = _REQUEST_ID.get()
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
