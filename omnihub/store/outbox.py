"""Reading the outbox, and the durable retry jobs behind the dead-letter list.

The outbox rows themselves are written by store/events.py in the transaction of the
change that caused them, each with an `outbox_pending` mark; here the dispatcher reads
them and clears the marks, SSE replays the event log, and consumers keep their failures
as `jobs` rows so retries outlive the process.
Everything works alike on SQLite, PostgreSQL and MySQL/MariaDB: claims are conditional
UPDATEs whose rowcount says who won, so several processes can share the work.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.hub.bus.base import Envelope
from omnihub.store.db import Database
from omnihub.store.tables import jobs, outbox, outbox_pending
from omnihub.store.value_lists import PerDialect, one_of, values_param

__all__ = [
    "Job", "JobNotDead", "JobNotFound", "OutboxDepth", "RetryPolicy", "claim_due_jobs",
    "clear_pending", "complete_job", "dead_count", "enqueue_behind", "events_after",
    "fetch_undispatched",
    "get_job", "has_pending_for_key", "list_dead", "mark_dispatched", "outbox_depth",
    "record_failure", "release_claims", "release_jobs", "replay_dead", "retrying_count",
]

RETRY = "retry"
DEAD = "dead"
_CHUNK = 500  # ids per IN (...) list
# Built once: a statement made per call has its cache key computed over every value.
_CLEAR_PENDING = PerDialect(lambda dialect: outbox_pending.delete().where(
    one_of(outbox_pending.c.seq, "seqs", dialect=dialect)))
_MAX_ERROR = 2000  # characters of last_error kept


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long a consumer keeps trying: exponential backoff with jitter, then dead."""

    max_attempts: int = 12
    base_seconds: float = 1.0
    max_seconds: float = 3600.0
    dead_after_seconds: float = 86400.0

    def backoff(self, attempts: int, *, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait after `attempts` earlier failures: min(max, base·2ⁿ)·U(0.5, 1)."""
        ceiling = min(self.max_seconds, self.base_seconds * 2.0 ** min(attempts, 62))
        return ceiling * (0.5 + 0.5 * rng())


@dataclass(frozen=True, slots=True)
class Job:
    """One consumer's unfinished business with one event."""

    id: int
    consumer: str
    event_id: str
    key: str | None
    topic: str
    status: str  # retry | dead
    attempts: int
    next_attempt_at: datetime
    locked_until: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    envelope: Envelope


@dataclass(frozen=True, slots=True)
class OutboxDepth:
    count: int
    oldest_age_seconds: float | None


class JobNotFound(LookupError):
    """No job has this id."""


class JobNotDead(ValueError):
    """Only a dead job can be replayed; this one is still being retried."""


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _envelope(row: Any) -> Envelope:
    return Envelope(seq=row.seq, id=row.id, topic=row.topic, type=row.type, key=row.key,
                    payload=row.payload, created_at=row.created_at,
                    request_id=row.request_id)


def _chunks(values: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


# --- the outbox ------------------------------------------------------------------------

async def fetch_undispatched(db: Database, limit: int, *, after: int = 0) -> list[Envelope]:
    """Undispatched rows with seq > `after`, in seq order."""
    query = (sa.select(outbox).join(outbox_pending, outbox_pending.c.seq == outbox.c.seq)
             .where(outbox_pending.c.seq > after).order_by(outbox_pending.c.seq).limit(limit))
    async with db.read() as conn:
        return [_envelope(row) for row in await conn.execute(query)]


async def mark_dispatched(db: Database, seqs: Sequence[int]) -> None:
    """Record that these rows reached the bus (and so every consumer group)."""
    if seqs:
        async with db.write() as conn:
            await clear_pending(conn, seqs)


async def clear_pending(conn: AsyncConnection, seqs: Sequence[int]) -> None:
    """`mark_dispatched` inside the caller's transaction (the ingest writer's, say)."""
    for chunk in _chunks(sorted(seqs)):
        await conn.execute(_CLEAR_PENDING(conn.dialect),
                           {"seqs": values_param(chunk, conn.dialect)})


async def events_after(db: Database, seq: int, limit: int = 500) -> list[Envelope]:
    """The event log after `seq` (an SSE client's Last-Event-ID), in seq order."""
    query = (sa.select(outbox).where(outbox.c.topic == "event", outbox.c.seq > seq)
             .order_by(outbox.c.seq).limit(limit))
    async with db.read() as conn:
        return [_envelope(row) for row in await conn.execute(query)]


async def outbox_depth(db: Database, *, now: datetime | None = None) -> OutboxDepth:
    """How many rows wait for the dispatcher, and how long the oldest has waited."""
    query = sa.select(sa.func.count(), sa.func.min(outbox.c.created_at)).select_from(
        outbox_pending.join(outbox, outbox.c.seq == outbox_pending.c.seq))
    async with db.read() as conn:
        count, oldest = (await conn.execute(query)).one()
    if oldest is None:
        return OutboxDepth(int(count), None)
    if isinstance(oldest, str):  # SQLite hands back text for aggregates
        oldest = datetime.fromisoformat(oldest)
    oldest = oldest.replace(tzinfo=UTC) if oldest.tzinfo is None else oldest
    return OutboxDepth(int(count), max(0.0, (_now(now) - oldest).total_seconds()))


# --- jobs: durable retries and dead letters -----------------------------------------------

def _job_payload(envelope: Envelope) -> dict[str, Any]:
    return {"seq": envelope.seq, "type": envelope.type, "payload": envelope.payload,
            "created_at": envelope.created_at.isoformat(), "request_id": envelope.request_id}


def _job(row: Any) -> Job:
    stored = row.payload
    envelope = Envelope(seq=int(stored["seq"]), id=row.event_id, topic=row.topic,
                        type=stored["type"], key=row.key, payload=stored["payload"],
                        created_at=datetime.fromisoformat(stored["created_at"]),
                        request_id=stored.get("request_id"))
    return Job(id=row.id, consumer=row.consumer, event_id=row.event_id, key=row.key,
               topic=row.topic, status=row.status, attempts=row.attempts,
               next_attempt_at=row.next_attempt_at, locked_until=row.locked_until,
               last_error=row.last_error, created_at=row.created_at,
               updated_at=row.updated_at, envelope=envelope)


async def _find(conn: AsyncConnection, consumer: str, event_id: str) -> Any:
    query = sa.select(jobs).where(jobs.c.consumer == consumer, jobs.c.event_id == event_id)
    return (await conn.execute(query)).first()


async def _insert_once(conn: AsyncConnection, values: dict[str, Any]) -> bool:
    """Insert a job unless (consumer, event_id) already has one; False if it had."""
    try:
        async with conn.begin_nested():
            await conn.execute(jobs.insert().values(**values))
    except IntegrityError:
        return False
    return True


async def record_failure(
    db: Database, *, consumer: str, envelope: Envelope, error: str, policy: RetryPolicy,
    now: datetime | None = None, retry_after: float | None = None, permanent: bool = False,
    rng: Callable[[], float] = random.random,
) -> Job:
    """Count one failed attempt: schedule the next with backoff, or declare the job dead.

    Dead when `permanent`, when attempts reach `policy.max_attempts`, or when the first
    failure is older than `policy.dead_after_seconds`. `retry_after` (a provider's
    Retry-After) replaces the computed backoff.
    """
    now = _now(now)
    error = error[:_MAX_ERROR]
    async with db.write() as conn:
        row = await _find(conn, consumer, envelope.id)
        if row is None:
            fresh = {"consumer": consumer, "event_id": envelope.id, "key": envelope.key,
                     "topic": envelope.topic, "payload": _job_payload(envelope),
                     "status": RETRY, "attempts": 0, "next_attempt_at": now,
                     "locked_until": None, "last_error": error, "created_at": now,
                     "updated_at": now}
            await _insert_once(conn, fresh)
            row = await _find(conn, consumer, envelope.id)
        attempts = row.attempts + 1
        expired = (now - row.created_at).total_seconds() >= policy.dead_after_seconds
        dead = permanent or attempts >= policy.max_attempts or expired
        delay = retry_after if retry_after is not None else policy.backoff(row.attempts, rng=rng)
        await conn.execute(jobs.update().where(jobs.c.id == row.id).values(
            status=DEAD if dead else RETRY, attempts=attempts, last_error=error,
            next_attempt_at=now + timedelta(seconds=max(0.0, delay)), locked_until=None,
            updated_at=now))
        return _job((await conn.execute(sa.select(jobs).where(jobs.c.id == row.id))).one())


async def enqueue_behind(db: Database, *, consumer: str, envelope: Envelope,
                         now: datetime | None = None) -> bool:
    """Park an envelope as a job behind its key's pending retry, so the key keeps its order."""
    now = _now(now)
    async with db.write() as conn:
        return await _insert_once(conn, {
            "consumer": consumer, "event_id": envelope.id, "key": envelope.key,
            "topic": envelope.topic, "payload": _job_payload(envelope), "status": RETRY,
            "attempts": 0, "next_attempt_at": now, "locked_until": None,
            "last_error": f"waiting behind an earlier event of key {envelope.key}",
            "created_at": now, "updated_at": now})


async def has_pending_for_key(db: Database, consumer: str, key: str) -> bool:
    """True while `consumer` still owes a retry for an earlier event of `key`."""
    query = (sa.select(jobs.c.id).where(jobs.c.consumer == consumer, jobs.c.key == key,
                                        jobs.c.status == RETRY).limit(1))
    async with db.read() as conn:
        return (await conn.execute(query)).first() is not None


async def keys_with_pending(db: Database, consumers: Sequence[str]) -> dict[str, set[str]]:
    """Per consumer, the keys that still owe a retry: where a restarted process resumes."""
    query = (sa.select(jobs.c.consumer, jobs.c.key).distinct()
             .where(jobs.c.consumer.in_(list(consumers)), jobs.c.status == RETRY,
                    jobs.c.key.is_not(None)))
    found: dict[str, set[str]] = {name: set() for name in consumers}
    async with db.read() as conn:
        for row in await conn.execute(query):
            found[row.consumer].add(row.key)
    return found


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(jobs.c.status == RETRY, jobs.c.next_attempt_at <= now,
                   sa.or_(jobs.c.locked_until.is_(None), jobs.c.locked_until <= now))


@dataclass(frozen=True, slots=True)
class _Candidate:
    id: int
    consumer: str
    key: str | None  # None: no ordering to keep


def _with_followers(heads: Sequence[_Candidate], pending: Sequence[Any]) -> list[_Candidate]:
    """The jobs queued right behind each head that can go with it: claimable, and up to
    the first of its key that is not (a follower never overtakes a job of its key)."""
    head_ids = {row.id for row in heads}
    following: set[tuple[str, str]] = set()
    stopped: set[tuple[str, str]] = set()
    followers: list[_Candidate] = []
    for row in pending:  # retry jobs of the heads' keys from the first head on, in id order
        pair = (row.consumer, row.key)
        if row.id in head_ids:
            following.add(pair)
        elif pair in following and pair not in stopped and row.claimable:
            followers.append(_Candidate(row.id, row.consumer, row.key))
        else:
            stopped.add(pair)
    return followers


async def claim_due_jobs(
    db: Database, *, now: datetime | None = None, limit: int = 100,
    lease_seconds: float = 60.0, consumers: Collection[str] | None = None,
    unordered: Collection[str] = (),
) -> list[Job]:
    """Lock due jobs for `lease_seconds` and return them (at most `limit`) in id (=
    arrival) order.

    Keyed jobs run in order per (consumer, key), except for consumers named in
    `unordered`: only the first pending job of a key is a candidate, and the jobs parked
    behind it are claimed with it. Were parked jobs candidates themselves, those due early
    (a parked job is due at once, its head only after its backoff) would fill `limit`
    while the due heads of their own and of every other key were never read: retries
    stopped for good once more than `limit` jobs were parked (found by the SIGKILL chaos
    test, tests/integration/chaos/). Each claim is a conditional UPDATE whose rowcount
    tells whether this process or another won the row, which is safe on all three
    databases; on PostgreSQL and MySQL the candidates are read with FOR UPDATE SKIP
    LOCKED so that concurrent claimers spread over different rows.
    """
    now = _now(now)
    locked_until = now + timedelta(seconds=lease_seconds)
    scope: list[sa.ColumnElement[bool]] = [jobs.c.status == RETRY]
    if consumers is not None:
        if not consumers:
            return []
        scope.append(jobs.c.consumer.in_(set(consumers)))
    ordered = jobs.c.key.is_not(None)
    if unordered:
        ordered = sa.and_(ordered, jobs.c.consumer.not_in(set(unordered)))
    heads = sa.select(sa.func.min(jobs.c.id)).where(*scope, ordered).group_by(
        jobs.c.consumer, jobs.c.key)
    query = sa.select(jobs.c.id, jobs.c.consumer, jobs.c.key).where(
        _claimable(now), *scope, sa.or_(sa.not_(ordered), jobs.c.id.in_(heads)))
    if db.is_sqlite:  # one writer: no locking read needed
        query = query.order_by(jobs.c.next_attempt_at, jobs.c.id).limit(limit)
    else:
        # Concurrent claimers take disjoint rows. Ordering by next_attempt_at alone keeps
        # MySQL on the index (no filesort), so it locks only the rows it returns.
        query = query.order_by(jobs.c.next_attempt_at).limit(limit)
        query = query.with_for_update(skip_locked=True)
    if db.is_sqlite:
        # Usually nothing is due: look first without taking SQLite's one write lock, which
        # the ingest writer would have to wait for (each claim below re-checks anyway).
        async with db.read() as conn:
            if (await conn.execute(query.limit(1))).first() is None:
                return []
    async with db.write() as conn:
        rows = (await conn.execute(query)).all()
        candidates = [_Candidate(row.id, row.consumer,
                                 None if row.consumer in unordered else row.key)
                      for row in rows]
        keyed = [row for row in candidates if row.key is not None]
        if keyed:
            pending = (await conn.execute(
                sa.select(jobs.c.id, jobs.c.consumer, jobs.c.key,
                          _claimable(now).label("claimable"))
                .where(jobs.c.status == RETRY,
                       jobs.c.key.in_({row.key for row in keyed}),
                       jobs.c.consumer.in_({row.consumer for row in keyed}),
                       jobs.c.id >= min(row.id for row in keyed))
                .order_by(jobs.c.id).limit(limit))).all()
            candidates += _with_followers(keyed, pending)
        # by id, a follower comes after its head, so the cut never keeps one without it
        candidates = sorted(candidates, key=lambda row: row.id)[:limit]
        claimed: list[int] = []
        lost: set[tuple[str, str]] = set()
        for row in candidates:
            if row.key is not None and (row.consumer, row.key) in lost:
                continue
            result = await conn.execute(jobs.update().where(jobs.c.id == row.id, _claimable(now))
                                        .values(locked_until=locked_until))
            if result.rowcount == 1:
                claimed.append(row.id)
            elif row.key is not None:
                lost.add((row.consumer, row.key))  # another process runs this key now
        if not claimed:
            return []
        claimed_rows = (await conn.execute(sa.select(jobs).where(jobs.c.id.in_(claimed))
                                           .order_by(jobs.c.id))).all()
    return [_job(row) for row in claimed_rows]


async def release_claims(db: Database, consumers: Collection[str]) -> int:
    """Unlock every claimed retry job of these consumers; return how many were claimed.

    Only for a process that is alone in working them (an in-process bus): a claim it finds
    at start was left by a predecessor that died mid-retry, and waiting out its lease
    would hold back that job, and every later event of its key, for up to the lease.
    """
    if not consumers:
        return 0
    async with db.write() as conn:
        result = await conn.execute(
            jobs.update().where(jobs.c.consumer.in_(set(consumers)), jobs.c.status == RETRY,
                                jobs.c.locked_until.is_not(None))
            .values(locked_until=None))
    return int(result.rowcount or 0)


async def release_jobs(db: Database, job_ids: Sequence[int]) -> None:
    """Unlock claimed jobs that were not run (their key stopped at an earlier failure)."""
    if not job_ids:
        return
    async with db.write() as conn:
        for chunk in _chunks(list(job_ids)):
            await conn.execute(jobs.update().where(jobs.c.id.in_(chunk))
                               .values(locked_until=None))


async def complete_job(db: Database, job_id: int) -> None:
    """The retry succeeded: the job is done and leaves the table."""
    async with db.write() as conn:
        await conn.execute(jobs.delete().where(jobs.c.id == job_id))


async def get_job(db: Database, job_id: int) -> Job | None:
    async with db.read() as conn:
        row = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).first()
    return _job(row) if row is not None else None


async def list_dead(db: Database, *, consumer: str | None = None, limit: int = 100) -> list[Job]:
    """The dead-letter list, newest first."""
    query = sa.select(jobs).where(jobs.c.status == DEAD)
    if consumer is not None:
        query = query.where(jobs.c.consumer == consumer)
    async with db.read() as conn:
        rows = (await conn.execute(query.order_by(jobs.c.id.desc()).limit(limit))).all()
    return [_job(row) for row in rows]


async def _count_jobs(db: Database, status: str) -> int:
    async with db.read() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(jobs)
                                     .where(jobs.c.status == status)) or 0)


async def dead_count(db: Database) -> int:
    """How many dead letters wait for an operator (a metrics gauge)."""
    return await _count_jobs(db, DEAD)


async def retrying_count(db: Database) -> int:
    """How many jobs wait for their next attempt (a metrics gauge)."""
    return await _count_jobs(db, RETRY)


async def replay_dead(db: Database, job_id: int, *, now: datetime | None = None) -> Job:
    """Give a dead job a fresh set of attempts, due now; JobNotFound / JobNotDead otherwise."""
    now = _now(now)
    async with db.write() as conn:
        result = await conn.execute(
            jobs.update().where(jobs.c.id == job_id, jobs.c.status == DEAD)
            .values(status=RETRY, attempts=0, next_attempt_at=now, locked_until=None,
                    created_at=now, updated_at=now))
        row = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).first()
    if row is None:
        raise JobNotFound(f"no job with id {job_id}")
    if result.rowcount != 1:
        raise JobNotDead(f"job {job_id} is not dead (status {row.status}); only dead jobs replay")
    return _job(row)
