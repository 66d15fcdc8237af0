"""Keyset pages: a page of items and an opaque cursor for the next one (never OFFSET)."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel

from omnihub.store.errors import InvalidCursor

__all__ = ["Page", "decode_cursor", "encode_cursor"]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page, newest first; `next_cursor` is None on the last page."""

    items: list[T]
    next_cursor: str | None = None


def encode_cursor(kind: str, position: dict[str, Any]) -> str:
    """An opaque cursor: the listing it belongs to and the last item's sort key."""
    raw = orjson.dumps({"k": kind, **position})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(kind: str, cursor: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """The position inside a cursor; InvalidCursor for anything not made by encode_cursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidCursor("cursor is not one this API handed out") from None
    if not isinstance(position, dict) or position.get("k") != kind:
        raise InvalidCursor(f"cursor does not belong to this listing ({kind})")
    if any(not isinstance(position.get(f), str) or not position[f] for f in fields):
        raise InvalidCursor("cursor is incomplete")
    return position
