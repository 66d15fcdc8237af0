"""Parsed items whose media parts still need downloading.

Parsing stays pure (payload in, schema out); a parser notes which part indexes stand for
provider files, and the connector, which holds the credentials, fetches them afterwards.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from omnihub.normalizer.schema import InboundMessage, InboundUpdate, MediaRef, Part

T = TypeVar("T", InboundMessage, InboundUpdate)
F = TypeVar("F")


@dataclass(slots=True)
class Pending(Generic[T, F]):
    """A parsed message or edit, and the provider files its parts (by index) still need."""

    item: T
    files: dict[int, F] = field(default_factory=dict)


async def with_media(pending: Pending[T, F], download: Callable[[F], Awaitable[MediaRef | None]]) -> T:
    """Fill each media part with its downloaded blob; a file that can't be had leaves its
    part without media rather than losing the message."""
    if not pending.files:
        return pending.item
    parts: list[Part] = list(pending.item.parts)
    for index, file in pending.files.items():
        ref = await download(file)
        if ref is not None:
            parts[index] = parts[index].model_copy(update={"media": ref})
    return pending.item.model_copy(update={"parts": parts})
