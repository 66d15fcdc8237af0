"""Following one file for the life of a block: routing.yaml and the canary's state file.

The file's directory is watched rather than the file, because editors and `omnihub
canary` replace a file by renaming a new one over it, which a watch on the old inode
would miss. A failing watch (the directory removed, a full inotify table) is logged and
started again after a pause, so a hub never stops following its configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from omnihub.hub.background import in_background

__all__ = ["watching_file"]

log = logging.getLogger("omnihub.file_watch")

#: how long a failed watch waits before it starts again, in seconds
RETRY_SECONDS = 5.0


@contextlib.asynccontextmanager
async def watching_file(path: Path, on_change: Callable[[], object], *, name: str,
                        debounce_ms: int = 300) -> AsyncIterator[None]:
    """Call `on_change()` after each change of `path` (debounced) while the block runs."""
    stop = asyncio.Event()
    async with in_background(_watch(path.resolve(), on_change, stop, debounce_ms), name,
                             stop=stop):
        yield


async def _watch(target: Path, on_change: Callable[[], object], stop: asyncio.Event,
                 debounce_ms: int) -> None:
    from watchfiles import awatch

    directory = target.parent

    def wanted(_change: object, changed: str) -> bool:
        return Path(changed).resolve() == target

    while not stop.is_set():
        try:
            async for _ in awatch(directory, watch_filter=wanted, stop_event=stop,
                                  debounce=debounce_ms, step=50, recursive=False):
                on_change()
        except Exception:
            log.exception("watching %s failed; retrying in %gs", directory, RETRY_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_SECONDS)
