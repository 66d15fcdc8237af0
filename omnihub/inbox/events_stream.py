"""`GET /api/v1/events`: the agent-facing events as server-sent events, resumable.

Each event goes out as `id: <outbox seq>`, `event: <type>`, `data: {id, type,
created_at, data}`. A client that reconnects with `Last-Event-ID` (or `?after=<seq>`)
first gets the events it missed, replayed from the outbox event log, then the live feed.

No gap between replay and live: the live listener is registered (and ready) before the
replay query runs, so anything committed after the replay's snapshot arrives live;
anything both replayed and received live is sent once (deduplicated by seq).

Limitation on PostgreSQL and MySQL: a transaction can commit a lower seq after a higher
one was already streamed. The live feed still delivers it, but a client that disconnects
in that instant and resumes from the higher seq misses it. On SQLite (one writer) seq
order is commit order and a resume is exact. Clients should treat the event `id` inside
`data` as an idempotency key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque

import orjson
from aiohttp import web
from aiohttp_sse import sse_response

from omnihub.hub.bus import Envelope, ListenerLagged
from omnihub.hub.runtime import HUB
from omnihub.inbox.context import scope_of, visibility_of
from omnihub.inbox.params import InvalidInput
from omnihub.inbox.permissions import Scope
from omnihub.store import Store
from omnihub.store.conversation_search import Visibility
from omnihub.store.outbox import events_after

log = logging.getLogger("omnihub.inbox.sse")

REPLAY_PAGE = 500
_SEEN = 10_000  # replayed seqs remembered while the live feed catches up
_CACHE = 10_000  # conversations whose visibility a stream remembers


OPEN_STREAMS = web.AppKey("open_event_streams", set)


def setup(app: web.Application) -> None:
    app[OPEN_STREAMS] = set()
    app.router.add_get("/api/v1/events", stream_events)
    app.on_shutdown.append(_close_streams)


async def _close_streams(app: web.Application) -> None:
    """End open streams at shutdown: a stream only notices a gone client at its next
    heartbeat, and the server would wait that long for each one."""
    for task in list(app[OPEN_STREAMS]):
        task.cancel()


def resume_point(request: web.Request) -> int | None:
    """The seq the client has seen: `Last-Event-ID` wins over `?after=`."""
    raw = request.headers.get("Last-Event-ID")
    name = "Last-Event-ID"
    if raw is None:
        raw, name = request.query.get("after"), "after"
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(name, "must be an event id (an integer) from this stream") from None
    if value < 0:
        raise InvalidInput(name, "must not be negative")
    if value >= 2**63:  # beyond any stored seq, and beyond what the database can compare
        raise InvalidInput(name, "must be an event id (an integer) from this stream")
    return value


class EventFilter:
    """Decides per event whether a scoped principal may see it (its conversation's group)."""

    def __init__(self, store: Store, scope: Scope, visibility: Visibility | None) -> None:
        self.store = store
        self.scope = scope
        self.visibility = visibility
        self._known: OrderedDict[str, bool] = OrderedDict()

    async def allows(self, envelope: Envelope) -> bool:
        if self.visibility is None:
            return True
        conversation_id = envelope.key
        if conversation_id is None or envelope.type.startswith("customer."):
            return False  # customer-level events: for principals who see every group
        if envelope.type.startswith("conversation."):
            # The change may move it in or out of sight: seen before or after counts.
            before = self._known.pop(conversation_id, False)
            after = bool(await self.store.can_see(conversation_id, self.visibility))
            self._remember(conversation_id, after)
            return before or after or self._sees_payload(envelope)
        known = self._known.get(conversation_id)
        if known is None:
            known = bool(await self.store.can_see(conversation_id, self.visibility))
            self._remember(conversation_id, known)
        return known

    def _sees_payload(self, envelope: Envelope) -> bool:
        data = envelope.payload.get("data", {})
        conversation = data.get("conversation", data)
        return self.scope.sees(conversation.get("group"), conversation.get("assignee"))

    def _remember(self, conversation_id: str, visible: bool) -> None:
        self._known[conversation_id] = visible
        while len(self._known) > _CACHE:
            self._known.popitem(last=False)


class _Seen:
    """The most recent replayed seqs, so the live feed does not send them twice."""

    def __init__(self) -> None:
        self._order: deque[int] = deque()
        self._set: set[int] = set()

    def add(self, seq: int) -> None:
        self._order.append(seq)
        self._set.add(seq)
        if len(self._order) > _SEEN:
            self._set.discard(self._order.popleft())

    def __contains__(self, seq: int) -> bool:
        return seq in self._set


async def stream_events(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    after = resume_point(request)
    scope = scope_of(request)
    allowed = EventFilter(hub.store, scope, visibility_of(scope))
    listener = hub.bus.listen("event")
    this = asyncio.current_task()
    request.app[OPEN_STREAMS].add(this)
    try:
        await listener.ready()
        async with sse_response(
                request, ping_interval=hub.settings.inbox.sse_heartbeat_seconds) as sse:

            async def send(envelope: Envelope) -> None:
                if await allowed.allows(envelope):
                    await sse.send(orjson.dumps(envelope.payload).decode(),
                                   id=str(envelope.seq), event=envelope.type)

            async def replay_then_live() -> None:
                seen = _Seen()
                if after is not None:
                    position = after
                    while True:
                        batch = await events_after(hub.db, position, limit=REPLAY_PAGE)
                        for envelope in batch:
                            seen.add(envelope.seq)
                            await send(envelope)
                        if len(batch) < REPLAY_PAGE:
                            break
                        position = batch[-1].seq
                with contextlib.suppress(ListenerLagged):  # the client resumes from its id
                    async for envelope in listener:
                        if envelope.seq in seen or (after is not None and envelope.seq <= after):
                            continue
                        await send(envelope)

            # The heartbeat task ends when the client goes away; stop streaming then too.
            feed = asyncio.create_task(replay_then_live())
            gone = asyncio.create_task(sse.wait())
            try:
                await asyncio.wait({feed, gone}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (feed, gone):
                    task.cancel()
                await asyncio.gather(feed, gone, return_exceptions=True)
            if feed.done() and not feed.cancelled() and feed.exception() is not None:
                exc = feed.exception()
                if not isinstance(exc, ConnectionError):
                    raise exc  # type: ignore[misc]
            return sse
    finally:
        request.app[OPEN_STREAMS].discard(this)
        await listener.aclose()
