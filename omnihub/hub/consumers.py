"""Durable consumers: bus handlers whose failures become retry jobs in the database.

A handler that raises does not hold up its bus stream: the failure is written as a
`jobs` row (with backoff, or dead at once for a PermanentSendError) and the envelope is
acknowledged, so retries survive restarts. Per key (the conversation id) order still
holds: while a key has a pending retry, its newer envelopes are parked as jobs behind
it, and the retry loop runs a key's jobs in arrival order, stopping at the first failure.

Delivery is at least once. Every handler must be idempotent by `envelope.id` (the event
id): after a crash or a lost acknowledgement the same envelope comes again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from omnihub.connectors.errors import PermanentSendError, TemporarySendError
from omnihub.hub.background import cancel_and_wait
from omnihub.hub.bus.base import Bus, Envelope, Handler
from omnihub.hub.request_id import bound_request_id
from omnihub.store.db import Database
from omnihub.store.outbox import (
    Job,
    RetryPolicy,
    claim_due_jobs,
    complete_job,
    enqueue_behind,
    has_pending_for_key,
    keys_with_pending,
    record_failure,
    release_claims,
    release_jobs,
)

__all__ = ["ConsumerRunner", "RetryPolicy"]

log = logging.getLogger("omnihub.consumers")

_MAX_NAME = 64  # jobs.consumer is String(64)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Consumer:
    name: str
    topic: str
    handler: Handler
    ordered: bool


class ConsumerRunner:
    """Subscribes named consumers to the bus and runs their durable retries."""

    def __init__(self, db: Database, bus: Bus, policy: RetryPolicy | None = None, *,
                 clock: Callable[[], datetime] = utcnow, retry_interval: float | None = 1.0,
                 claim_limit: int = 100, lease_seconds: float = 60.0,
                 rng: Callable[[], float] = random.random) -> None:
        """`retry_interval=None` runs no retry loop: call `run_due_jobs()` yourself."""
        self.db = db
        self.bus = bus
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.retry_interval = retry_interval
        self.claim_limit = claim_limit
        self.lease_seconds = lease_seconds
        self.rng = rng
        self._consumers: dict[str, _Consumer] = {}
        self._retry_task: asyncio.Task[None] | None = None
        # Per consumer, the keys with a pending retry, when no other process consumes the
        # same groups (loaded at start, kept by this runner): the live path then needs no
        # query per envelope. None: ask the database.
        self._parked: dict[str, set[str]] | None = None

    def register(self, name: str, topic: str, handler: Handler, *, ordered: bool = True,
                 lanes: int = 1) -> None:
        """Run `handler` on every envelope of `topic`, as consumer group `name`.

        `ordered`: keep per-key order through retries (a failing key holds its later
        envelopes back); unordered consumers retry each envelope on its own.
        `lanes`: how many keys are handled at once (see Bus.subscribe).
        """
        if not 0 < len(name) <= _MAX_NAME:
            raise ValueError(f"consumer name must be 1 to {_MAX_NAME} characters: {name!r}")
        if name in self._consumers:
            raise ValueError(f"consumer {name!r} is already registered")
        consumer = _Consumer(name, topic, handler, ordered)
        self._consumers[name] = consumer
        if self._parked is not None:  # registered after start: a new group owes nothing yet
            self._parked.setdefault(name, set())

        async def deliver(envelope: Envelope) -> None:
            await self._deliver(consumer, envelope)

        self.bus.subscribe(topic, name, deliver, lanes=lanes)

    async def start(self) -> None:
        if not self.bus.spans_processes and self._parked is None:
            # Alone with these jobs (an in-process bus is one process): claims left by a
            # predecessor that was killed mid-retry are stale, so don't wait out their lease.
            released = await release_claims(self.db, list(self._consumers))
            if released:
                log.info("took over %d retry jobs claimed by a previous process", released)
            self._parked = await keys_with_pending(self.db, list(self._consumers))
        if self.retry_interval is not None and self._retry_task is None:
            self._retry_task = asyncio.create_task(self._retry_forever(), name="consumer-retries")

    async def stop(self) -> None:
        task, self._retry_task = self._retry_task, None
        if task is not None:
            await cancel_and_wait(task)

    async def _deliver(self, consumer: _Consumer, envelope: Envelope) -> None:
        """The live path; raises only if the failure could not be recorded (bus redelivers)."""
        if consumer.ordered and envelope.key is not None and await self._waits(consumer, envelope):
            await enqueue_behind(self.db, consumer=consumer.name, envelope=envelope,
                                 now=self.clock())
            return
        try:
            with bound_request_id(envelope.request_id):  # its logs carry the writer's id
                await consumer.handler(envelope)
        except Exception as exc:
            with bound_request_id(envelope.request_id):
                await self._record(consumer.name, envelope, exc)

    async def _waits(self, consumer: _Consumer, envelope: Envelope) -> bool:
        """Whether an earlier envelope of this key still owes a retry."""
        assert envelope.key is not None
        parked = None if self._parked is None else self._parked.get(consumer.name)
        if parked is None:
            return await has_pending_for_key(self.db, consumer.name, envelope.key)
        return envelope.key in parked

    async def _record(self, name: str, envelope: Envelope, exc: Exception) -> Job:
        retry_after = exc.retry_after if isinstance(exc, TemporarySendError) else None
        if self._parked is not None and envelope.key is not None:
            # before the write: an envelope of this key arriving meanwhile queues behind it
            self._parked.setdefault(name, set()).add(envelope.key)
        job = await record_failure(
            self.db, consumer=name, envelope=envelope, error=f"{type(exc).__name__}: {exc}",
            policy=self.policy, now=self.clock(), retry_after=retry_after,
            permanent=isinstance(exc, PermanentSendError), rng=self.rng)
        if job.status == "dead":
            log.error("consumer %s gave up on %s %s after %d attempts: %s", name,
                      envelope.type, envelope.id, job.attempts, job.last_error)
            await self._unpark(name, envelope.key)  # a dead job holds its key back no more
        else:
            log.warning("consumer %s failed on %s %s (attempt %d), next try at %s: %s", name,
                        envelope.type, envelope.id, job.attempts,
                        job.next_attempt_at.isoformat(), job.last_error)
        return job

    async def run_due_jobs(self) -> int:
        """One pass of the retry loop: claim due jobs, run each key in order; return how many ran."""
        unordered = [c.name for c in self._consumers.values() if not c.ordered]
        claimed = await claim_due_jobs(self.db, now=self.clock(), limit=self.claim_limit,
                                       lease_seconds=self.lease_seconds,
                                       consumers=list(self._consumers), unordered=unordered)
        lanes: dict[tuple[str, str | int], list[Job]] = {}
        for job in claimed:  # claimed in id order, so each lane is in arrival order
            ordered = self._consumers[job.consumer].ordered and job.key is not None
            lane = job.key if ordered and job.key is not None else job.id
            lanes.setdefault((job.consumer, lane), []).append(job)
        ran = 0
        for (name, _lane), lane_jobs in lanes.items():
            for index, job in enumerate(lane_jobs):
                ran += 1
                if not await self._retry(job):
                    await release_jobs(self.db, [later.id for later in lane_jobs[index + 1:]])
                    break
            else:
                await self._unpark(name, lane_jobs[0].key)
        return ran

    async def _unpark(self, name: str, key: str | None) -> None:
        """A key's retries may be done: let its next envelopes through the live path."""
        parked = None if self._parked is None else self._parked.get(name)
        if parked is None or key is None or key not in parked:
            return
        if not await has_pending_for_key(self.db, name, key):
            parked.discard(key)

    async def _retry(self, job: Job) -> bool:
        consumer = self._consumers[job.consumer]
        try:
            with bound_request_id(job.envelope.request_id):
                await consumer.handler(job.envelope)
        except Exception as exc:
            with bound_request_id(job.envelope.request_id):
                await self._record(consumer.name, job.envelope, exc)
            return False
        await complete_job(self.db, job.id)
        return True

    async def _retry_forever(self) -> None:
        assert self.retry_interval is not None
        while True:
            try:
                ran = await self.run_due_jobs()
            except Exception:
                log.exception("retry pass failed; trying again in %.1fs", self.retry_interval)
                ran = 0
            if ran < self.claim_limit:
                await asyncio.sleep(self.retry_interval)
