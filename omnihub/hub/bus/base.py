"""The bus contract: envelopes, the `Bus` interface and its errors.

Two implementations keep this contract (bus/memory.py, bus/redis_streams.py) and one
shared test suite holds both to it, so the rest of the hub never asks which one runs.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

Handler = Callable[["Envelope"], Awaitable[None]]


class BusError(Exception):
    """Base class of bus errors."""


class BusUnavailable(BusError):
    """The bus can't be reached; the message says which bus and why."""


class UnsupportedBusURL(BusError, ValueError):
    """bus.url names a scheme no bus implements."""


class BusClosed(BusUnavailable):
    """The bus was closed (or closed while something still waited on it)."""


class ListenerLagged(BusError):
    """A live listener fell too far behind and was dropped; replay from the event log."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """One outbox row on its way to consumers; `id` is the event id consumers dedupe by."""

    seq: int
    id: str
    topic: str
    type: str
    key: str | None
    payload: dict[str, Any]
    created_at: datetime
    #: the request that wrote the row (omnihub/hub/request_id.py); logs only, never sent out
    request_id: str | None = None

    def to_bytes(self) -> bytes:
        """Serialize for the wire (orjson writes aware datetimes as RFC 3339)."""
        return orjson.dumps({
            "seq": self.seq, "id": self.id, "topic": self.topic, "type": self.type,
            "key": self.key, "payload": self.payload, "created_at": self.created_at,
            "request_id": self.request_id,
        })

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Envelope:
        """Inverse of `to_bytes`; a malformed body raises ValueError."""
        try:
            raw = orjson.loads(data)
            return cls(
                seq=int(raw["seq"]), id=str(raw["id"]), topic=str(raw["topic"]),
                type=str(raw["type"]), key=raw.get("key"), payload=dict(raw["payload"]),
                created_at=datetime.fromisoformat(raw["created_at"]),
                request_id=raw.get("request_id"),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed bus envelope: {exc}") from exc


class Listener(AsyncIterator[Envelope]):
    """A live, best-effort feed of one topic to this process (no ack, no redelivery)."""

    async def ready(self) -> None:
        """Return once every envelope published from now on will reach this listener.

        An SSE stream awaits this before replaying the event log, so nothing falls
        between the replay and the live feed.
        """

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Stop listening and free the listener's queue."""

    def __aiter__(self) -> Listener:
        return self


class Bus(abc.ABC):
    """Moves envelopes from the outbox dispatcher to consumer groups and live listeners.

    Delivery to a group is at least once: handlers must be idempotent by envelope id.
    Subscribe every group before the dispatcher starts publishing: a group only gets
    what is published after it exists.
    """

    #: whether other processes consume the same groups: if not, a consumer may keep what
    #: it knows of its own retries in memory instead of asking the database each time
    spans_processes: bool = True

    async def start(self) -> None:
        """Connect and start consuming for the groups subscribed so far."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop consuming; unacknowledged envelopes stay owed to their groups."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise BusUnavailable unless the bus answers."""

    @abc.abstractmethod
    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Return once the bus has accepted the envelopes as durably as it can."""

    async def submit(self, envelopes: Sequence[Envelope]) -> Awaitable[None]:
        """Hand over envelopes in order; the returned awaitable completes once accepted.

        Lets the dispatcher pipeline: it submits later batches while earlier ones are
        still settling. Buses whose `publish` is already the acceptance point need not
        override this.
        """
        await self.publish(envelopes)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def feed_live(self, envelopes: Sequence[Envelope]) -> None:
        """Envelopes just committed by this process: give them to this process's live
        listeners now, ahead of their dispatch to the consumer groups.

        Only a bus whose listeners are fed by the dispatcher's own submit (in-process)
        gains from this; it must then not feed the same envelopes twice. Default: nothing,
        listeners get envelopes the bus's usual way.
        """

    def nudge(self) -> None:
        """Outbox rows were committed in this process: wake the outbox dispatcher of the
        process that leads (`on_nudge`), which otherwise finds them only at its next poll
        (~0.5 s: most of the latency of every event written outside the leader).

        Best effort and coalesced; the outbox table stays the truth. Default: nothing (one
        process: its own dispatcher is woken directly)."""

    def on_nudge(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever some process nudges (see `nudge`). Default: never."""

    @abc.abstractmethod
    def subscribe(self, topic: str, group: str, handler: Handler, *, lanes: int = 1) -> None:
        """Deliver every envelope of `topic` to `group`; within a group each goes to one consumer.

        `lanes`: how many envelopes of different keys this process may handle at once
        (those of one key stay in order). A slow receiver — an outbound webhook — then
        keeps pace with the event rate by working on several conversations together.

        A handler that returns acknowledges the envelope; one that raises leaves it owed,
        and it is delivered again (in-process after a pause, on Redis once it has been
        idle past the claim timeout, possibly to another process).
        """

    @abc.abstractmethod
    def listen(self, topic: str) -> Listener:
        """Broadcast every envelope of `topic` to this process (for live SSE/websocket fan-out)."""

    async def __aenter__(self) -> Bus:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
