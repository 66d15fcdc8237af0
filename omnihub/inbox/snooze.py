"""Wakes snoozed conversations when their snooze ends (a conditional update: several hub
processes running it at once wake each conversation once)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from omnihub.hub.background import in_background
from omnihub.store import Store

log = logging.getLogger("omnihub.inbox.snooze")

INTERVAL_SECONDS = 30.0


@contextlib.asynccontextmanager
async def snooze_waker(store: Store, *, interval: float = INTERVAL_SECONDS) -> AsyncIterator[None]:
    """Run the waker for the duration of the block."""

    async def loop() -> None:
        while True:
            try:
                woken = await store.wake_snoozed()
                if woken:
                    log.info("woke %d snoozed conversation(s)", len(woken))
            except Exception:
                log.exception("waking snoozed conversations failed; trying again later")
            await asyncio.sleep(interval)

    async with in_background(loop(), "snooze-waker"):
        yield
