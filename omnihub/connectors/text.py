"""Cutting long text into the pieces a provider accepts in one message."""

from __future__ import annotations

from collections.abc import Callable


def one_unit(ch: str) -> int:
    return 1


def utf16_units(ch: str) -> int:
    """Telegram counts length in UTF-16 code units: astral characters (emoji) count twice."""
    return 2 if ord(ch) > 0xFFFF else 1


def split_text(text: str, limit: int, *, units: Callable[[str], int] = one_unit) -> list[str]:
    """Cut text into chunks of at most `limit` units, at a line break or space when one is in
    the second half of the chunk; whitespace-only chunks are dropped."""
    chunks: list[str] = []
    while text:
        size, cut = 0, 0
        while cut < len(text) and size + units(text[cut]) <= limit:
            size += units(text[cut])
            cut += 1
        if cut < len(text):
            space = max(text.rfind("\n", 0, cut), text.rfind(" ", 0, cut))
            if space >= cut // 2:
                cut = space + 1
        chunk, text = text[:cut], text[cut:]
        if chunk.strip():
            chunks.append(chunk)
    return chunks
