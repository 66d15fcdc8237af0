"""Where pushed frames wait for their widget: a socket's send queue or a held long-poll."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

import orjson
from aiohttp import web

__all__ = ["PollOutlet", "SocketOutlet"]

log = logging.getLogger("omnihub.webchat")
_STOP = object()
#: a socket that lets this many frames pile up is closed; the widget reconnects and resumes
MAX_QUEUED = 1000
CLOSE_TRY_AGAIN = 1013
CLOSE_RESTART = 1012


class SocketOutlet:
    """Frames for one WebSocket, sent in order by one writer task."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.sid = secrets.token_hex(8)
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=MAX_QUEUED)
        self._writer = asyncio.create_task(self._write())
        self._overflowed = False
        self._closing: asyncio.Task[bool] | None = None

    def push(self, frame: dict[str, Any]) -> None:
        if self._overflowed:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:  # a reader this slow resyncs from the store instead
            self._overflowed = True
            self._writer.cancel()
            self._closing = asyncio.create_task(self.ws.close(code=CLOSE_TRY_AGAIN,
                                                              message=b"too slow"))

    async def _write(self) -> None:
        while True:
            frame = await self._queue.get()
            if frame is _STOP:
                return
            try:
                await self.ws.send_str(orjson.dumps(frame).decode())
            except (ConnectionError, RuntimeError):
                return  # the socket is gone; the reader loop ends too

    async def end(self) -> None:
        await self.ws.close(code=CLOSE_RESTART, message=b"server restarting")

    async def finish(self) -> None:
        """Send everything queued so far, then stop the writer."""
        if not self._writer.done():
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(_STOP)
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


class PollOutlet:
    """Frames for one long-poll request: collected until the first push arrives."""

    def __init__(self) -> None:
        self.sid = secrets.token_hex(8)
        self.frames: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()

    def push(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)
        self._arrived.set()

    async def end(self) -> None:
        self._arrived.set()

    async def wait(self, seconds: float) -> None:
        self._arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), timeout=seconds)
