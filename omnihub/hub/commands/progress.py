"""Progress of a long command: a bar per step on a terminal, one line per step otherwise."""

from __future__ import annotations

import sys
from typing import Any

import click

__all__ = ["CommandProgress"]


class CommandProgress:
    """Implements store.backup.Progress on stderr (stdout stays for the result)."""

    def __init__(self, *, bars: bool | None = None) -> None:
        self.bars = sys.stderr.isatty() if bars is None else bars
        self._bar: Any = None
        self._label = ""
        self._total = 0

    def begin(self, label: str, total: int) -> None:
        self._label, self._total = label, total
        if self.bars and total > 0:
            self._bar = click.progressbar(length=max(total, 1), label=f"{label:<24}",
                                          file=sys.stderr, show_pos=True)
            self._bar.__enter__()

    def advance(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def end(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
        else:
            click.echo(f"{self._label}: {self._total}", err=True)
