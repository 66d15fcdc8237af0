"""Background tasks that live exactly as long as a `with` block: the hub's timers, pollers
and watchers all start this way in `open_hub`, so that stopping the hub stops them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

__all__ = ["cancel_and_wait", "in_background"]


# How long a cancelled task may take to unwind before it is cancelled again.
CANCEL_AGAIN_AFTER = 1.0


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has finished unwinding.

    A cancel can be swallowed by a library's own timeout handling (redis-py's, on Python
    3.11): the task then runs on, and waiting for it would wait forever. That hung the
    outbox dispatcher's stop (it went on to wait for room in its in-flight queue), so the
    task is cancelled again every CANCEL_AGAIN_AFTER seconds until it ends.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_AGAIN_AFTER)
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.asynccontextmanager
async def in_background(coro: Coroutine[Any, Any, Any], name: str, *,
                        stop: asyncio.Event | None = None) -> AsyncIterator[asyncio.Task[Any]]:
    """Run `coro` as a task named `name` while the block runs; cancel it on the way out.

    `stop`, if given, is set just before the cancel: for work a cancel cannot cut short,
    such as a thread that waits on the event (watchfiles' `awatch` would otherwise hold
    the exit until its own timeout).
    """
    task = asyncio.create_task(coro, name=name)
    try:
        yield task
    finally:
        if stop is not None:
            stop.set()
        await cancel_and_wait(task)
