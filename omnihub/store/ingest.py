"""Durable, idempotent, fast ingest: one writer task per process with group commit.

Webhook handlers call `IngestWriter.ingest` and wait; the writer drains up to
`max_batch` pending messages, stores them in ONE transaction (omnihub/store/
ingest_batch.py, a handful of set-based statements) and then answers every waiting
caller. A durable acknowledgement then costs one commit (one fsync) per batch, not per
message (see the shared performance notes: 2.6x the throughput of a commit per message).
A full queue raises `StoreBusy` at once, so the hub answers 503 + Retry-After instead of
piling up requests.

Identity rules (how an inbound sender becomes a customer):

1. `sender.identities[0]` is the channel's own address (a Telegram user id, the From
   address of an e-mail). It always links by exact match on (kind, blind index).
2. Further identities (e.g. the e-mail and phone a shop's signed API sends along) take
   part only when `verified` is true. An unverified address neither links to nor is
   attached to anybody: anyone can type someone else's e-mail into a form, and linking
   on it would hand them that person's history (Chatwoot #2811).
3. The customer is the owner of the primary identity; else the owner of the first
   verified secondary identity that has one; else a new customer.
4. Linkable identities that nobody owns yet are attached to that customer.
5. An identity owned by a DIFFERENT customer is left where it is. Two customers are
   never merged automatically; an agent merges them (omnihub/store/customers.py), and
   can undo it.
6. Addresses are stored only encrypted (address_enc), with a keyed blind index for
   lookup (omnihub/store/crypto.py).

Idempotency: (channel_id, external_id) is unique. A message already stored, or seen
earlier in the same batch, comes back as `duplicate=True` with the FIRST stored message;
nothing is written and no event is emitted for it. When another process wins a race on
a unique key (PostgreSQL, MySQL), the batch is rolled back and re-run, and the re-run
sees the winner's rows; so is a batch whose pooled connection the server had closed
(the writer's pool does not ping: omnihub/store/db.py). A batch that fails for any
other reason is retried item by item, so one poison message fails alone and the others
are stored.

After a commit the writer hands the outbox rows it wrote to `on_events` (the
dispatcher's fast path, which then needs no read-back). The dispatcher in turn marks
rows dispatched through `mark_dispatched`, which clears their pending marks in the
writer's next transaction: one commit (one fsync) for both, instead of two.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from omnihub.hub.bus.base import Envelope
from omnihub.hub.request_id import bound_request_id, current_request_id
from omnihub.normalizer.schema import InboundMessage
from omnihub.store import outbox
from omnihub.store.crypto import PiiCipher
from omnihub.store.db import Database
from omnihub.store.errors import IngestFailed, StoreBusy, StoreClosed, lost_a_race
from omnihub.store.ingest_batch import IngestResult, store_batch
from omnihub.store.ingest_routing import IngestRouter

__all__ = ["IngestResult", "IngestWriter"]

log = logging.getLogger("omnihub.store.ingest")

# Batches between two WAL checkpoints (SQLite). A message from a returning customer
# dirties ~5 pages (its rows, and the index leaves of its customer and conversation), so
# at full load a checkpoint copies ~15,000 frames, about once a second. Rarer passes copy
# each hot page once for many commits: 25 cost ~7% more CPU per message than 100.
CHECKPOINT_EVERY = 100

# A message, its caller's future, and the caller's request id (omnihub/hub/request_id.py).
_Pending = tuple[InboundMessage, "asyncio.Future[IngestResult]", str | None]


@dataclass(frozen=True, slots=True)
class _Marks:
    """Outbox rows the dispatcher has settled, waiting to ride along in the next commit."""

    seqs: Sequence[int]
    future: asyncio.Future[None]

# PostgreSQL serialization failure / deadlock; MySQL deadlock / lock wait timeout.
def _environmental(exc: Exception) -> bool:
    """A database that is down or locked fails every item alike: retrying them one by one
    would only multiply the wait, so the whole batch fails at once (providers retry)."""
    if isinstance(exc, DBAPIError) and lost_a_race(exc):
        return False
    return isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError)


def _reason(exc: Exception) -> str:
    """The driver's one-line message, without the SQL parameters (they hold customer data)."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0][:200] if text else ''}"


class IngestWriter:
    """The one writer task of a process: queue in, group-committed batches out."""

    def __init__(
        self,
        db: Database,
        cipher: PiiCipher,
        *,
        max_batch: int = 256,
        max_pending: int = 10_000,
        max_retries: int = 3,
        linger: float = 0.0,
        mark_linger: float = 0.02,
        on_commit: Callable[[], object] | None = None,
        on_events: Callable[[Sequence[Envelope]], object] | None = None,
        router: IngestRouter | None = None,
    ) -> None:
        """`router` routes new conversations inside the ingest transaction (see
        omnihub/store/ingest_routing.py); without one they are created unrouted."""
        if max_batch < 1 or max_pending < 1:
            raise ValueError("max_batch and max_pending must be at least 1")
        self.db = db
        self.cipher = cipher
        self.max_batch = max_batch
        self.max_retries = max_retries
        # Seconds a batch of several waits for more before committing; 0 = one turn of the
        # loop, which reads every request already on the wire without idling (requests
        # that came in during the previous commit are all there by then).
        self.linger = linger
        self.mark_linger = mark_linger  # seconds dispatch marks wait to ride along with messages
        self.on_commit = on_commit
        self.on_events = on_events
        self.router = router
        self.batches = 0  # committed transactions, for metrics and tests
        self.checkpoints = 0  # WAL checkpoints run (SQLite), for tests
        self._queue: asyncio.Queue[_Pending | _Marks | None] = asyncio.Queue(max_pending)
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._checkpoint: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Messages waiting for the writer (not counting the batch being written)."""
        return self._queue.qsize()

    async def start(self) -> None:
        if self._task is None and not self._closing:
            self._task = asyncio.create_task(self._run(), name="omnihub-ingest-writer")

    async def ingest(self, message: InboundMessage) -> IngestResult:
        """Store one inbound message; return once it is committed (or was a duplicate)."""
        if self._closing:
            raise StoreClosed()
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((message, future, current_request_id()))
        except asyncio.QueueFull:
            raise StoreBusy() from None
        return await future

    async def mark_dispatched(self, seqs: Sequence[int]) -> None:
        """Clear these outbox rows' pending marks in the writer's next transaction."""
        if not seqs:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            if self._closing or self._task is None:
                raise asyncio.QueueFull
            self._queue.put_nowait(_Marks(seqs, future))
        except asyncio.QueueFull:  # stopped, or saturated: a transaction of their own
            await outbox.mark_dispatched(self.db, seqs)
            return
        await future

    async def close(self) -> None:
        """Refuse new messages, store everything already queued, then stop the task."""
        if self._closing:
            if self._task is not None:
                await asyncio.shield(self._task)
            return
        self._closing = True
        if self._task is None:
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if isinstance(item, tuple) and not item[1].done():
                    item[1].set_exception(StoreClosed())
            return
        await self._queue.put(None)  # after every accepted item: ingest() never awaits
        await self._task
        if self._checkpoint is not None:
            await self._checkpoint

    async def _run(self) -> None:
        while True:
            batch: list[_Pending] = []
            marks: list[_Marks] = []
            stop = self._take(await self._queue.get(), batch, marks)
            if not stop and not batch and self.mark_linger > 0:
                # Only dispatch marks so far: they are not urgent, so let them wait for
                # the next messages and share their commit instead of paying for one alone.
                try:
                    item = await asyncio.wait_for(self._queue.get(), self.mark_linger)
                except TimeoutError:
                    pass
                else:
                    stop = self._take(item, batch, marks)
            if not stop and 1 < len(batch) < self.max_batch:
                # Others are writing too: let the requests already arriving join, so that
                # one commit's fixed cost is shared by more messages.
                await asyncio.sleep(self.linger)
                if not self._queue.empty():
                    stop = self._take(self._queue.get_nowait(), batch, marks)
            if batch or marks:
                await self._write(batch, marks)
            if stop:
                return

    def _take(self, item: _Pending | _Marks | None, batch: list[_Pending],
              marks: list[_Marks]) -> bool:
        """Add `item` and what else is queued (up to max_batch); True once told to stop."""
        while item is not None:
            if isinstance(item, _Marks):
                marks.append(item)
            else:
                batch.append(item)
            if len(batch) >= self.max_batch:
                return False
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return False
        return True

    async def _write(self, batch: Sequence[_Pending], marks: Sequence[_Marks] = ()) -> None:
        """Commit a batch and answer its callers; on failure isolate the bad item."""
        try:
            results = await self._commit([message for message, _, _ in batch],
                                         [seq for mark in marks for seq in mark.seqs],
                                         [request_id for _, _, request_id in batch])
        except Exception as exc:
            if marks:  # the marks alone first, so that a bad message cannot hold them up
                await self._mark_alone(marks)
                if batch:
                    await self._write(batch)
                return
            if len(batch) > 1 and not _environmental(exc):
                log.warning(
                    "ingest batch of %d failed (%s); retrying one by one", len(batch), _reason(exc)
                )
                for item in batch:
                    await self._write([item])
                return
            for message, future, _ in batch:
                log.error(
                    "could not store message %s on channel %s: %s",
                    message.external_id,
                    message.channel_id,
                    _reason(exc),
                )
                if not future.done():
                    failure = IngestFailed(
                        f"message {message.external_id!r} on channel "
                        f"{message.channel_id!r} could not be stored: "
                        f"{_reason(exc)}"
                    )
                    failure.__cause__ = exc
                    future.set_exception(failure)
            return
        for mark in marks:
            if not mark.future.done():
                mark.future.set_result(None)
        logged = log.isEnabledFor(logging.DEBUG)
        for (_, future, request_id), result in zip(batch, results, strict=True):
            if logged and not result.duplicate:
                with bound_request_id(request_id):
                    log.debug("stored message %s in conversation %s", result.message.id,
                              result.message.conversation_id)
            if not future.done():  # the caller may have given up (client went away)
                future.set_result(result)

    def _maybe_checkpoint(self) -> None:
        """Every CHECKPOINT_EVERY batches, fold SQLite's WAL back into the database file
        off the event loop (the inline connection never checkpoints on its own)."""
        inline = self.db.inline
        if inline is None or self.batches % CHECKPOINT_EVERY:
            return
        if self._checkpoint is None or self._checkpoint.done():
            self._checkpoint = asyncio.create_task(self._run_checkpoint(inline.checkpoint()))

    async def _run_checkpoint(self, checkpoint: Awaitable[None]) -> None:
        try:
            await checkpoint
        except Exception as exc:  # the next one tries again; nothing is lost meanwhile
            log.warning("WAL checkpoint failed: %s", _reason(exc))
        else:
            self.checkpoints += 1

    async def _mark_alone(self, marks: Sequence[_Marks]) -> None:
        try:
            await outbox.mark_dispatched(self.db, [seq for mark in marks for seq in mark.seqs])
        except Exception as exc:
            for mark in marks:
                if not mark.future.done():
                    mark.future.set_exception(exc)
            return
        for mark in marks:
            if not mark.future.done():
                mark.future.set_result(None)

    async def _commit(self, batch: list[InboundMessage], dispatched: list[int],
                      request_ids: Sequence[str | None] = ()) -> list[IngestResult]:
        attempt = 0
        results: list[IngestResult] = []
        events: list[Envelope] = []
        while True:
            try:
                async with self.db.batch_write() as conn:
                    if batch:
                        results, events = await store_batch(conn, self.cipher, batch, self.router,
                                                            request_ids=request_ids)
                    if dispatched:
                        await outbox.clear_pending(conn, dispatched)
                break
            except DBAPIError as exc:
                if attempt >= self.max_retries or not (lost_a_race(exc)
                                                        or exc.connection_invalidated):
                    raise
                attempt += 1
                log.info("ingest batch %s (%s); re-running",
                         "found its connection closed" if exc.connection_invalidated
                         else "lost a race", type(exc).__name__)
        self.batches += 1
        self._maybe_checkpoint()
        if events:
            try:
                if self.on_events is not None:
                    self.on_events(events)
                elif self.on_commit is not None:
                    self.on_commit()
            except Exception:  # a wake-up hook must never undo a committed batch
                log.exception("on_commit hook failed")
        return results
