"""How backup and restore report progress: one step (a table, the media) at a time.

The store code only calls these three methods; the command line decides whether they
draw a bar (a terminal) or print one line per step (a log, a pipe).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["NO_PROGRESS", "Progress"]


class Progress(Protocol):
    def begin(self, label: str, total: int) -> None:
        """A step starts; `total` is its number of rows or files."""

    def advance(self, count: int) -> None:
        """`count` more rows or files of the current step are done."""

    def end(self) -> None:
        """The current step is done."""


class _Silent:
    def begin(self, label: str, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def end(self) -> None:
        pass


NO_PROGRESS: Progress = _Silent()
