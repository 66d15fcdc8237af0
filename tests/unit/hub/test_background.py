"""Background tasks bound to a block: cancelled on the way out, the stop event set first."""

from __future__ import annotations

import asyncio

import pytest

from omnihub.hub import background
from omnihub.hub.background import cancel_and_wait, in_background


async def waits_forever(seen: list[str], stop: asyncio.Event | None = None) -> None:
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        seen.append("stop set" if stop is not None and stop.is_set() else "cancelled")
        raise


async def test_the_task_runs_in_the_block_and_has_finished_after_it() -> None:
    seen: list[str] = []
    async with in_background(waits_forever(seen), "forever") as task:
        await asyncio.sleep(0)
        assert not task.done() and task.get_name() == "forever"
    assert task.cancelled() and seen == ["cancelled"]


async def test_the_stop_event_is_set_before_the_cancel() -> None:
    seen: list[str] = []
    stop = asyncio.Event()
    async with in_background(waits_forever(seen, stop), "stoppable", stop=stop):
        await asyncio.sleep(0)
        assert not stop.is_set()
    assert seen == ["stop set"]


async def test_an_error_in_the_block_still_stops_the_task() -> None:
    seen: list[str] = []
    with pytest.raises(RuntimeError):
        async with in_background(waits_forever(seen), "forever") as task:
            await asyncio.sleep(0)
            raise RuntimeError("boom")
    assert task.cancelled() and seen == ["cancelled"]


async def test_a_swallowed_cancel_is_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(background, "CANCEL_AGAIN_AFTER", 0.05)
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:  # what a library's timeout handling may do
            swallowed += 1
        await asyncio.Event().wait()  # runs on, waiting for something that never comes

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait(task), 5)
    assert swallowed == 1 and task.cancelled()


async def test_a_task_that_failed_still_raises() -> None:
    async def broken() -> None:
        raise ValueError("boom")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="boom"):
        await cancel_and_wait(task)
