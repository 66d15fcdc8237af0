"""The Redis Streams bus: one stream per topic, one consumer group per subscriber name.

XADD (pipelined per batch, trimmed with MAXLEN ~) is the acceptance point: once it
returns the entry is in Redis and owed to every group. A consumer acknowledges with XACK
after its handler returns; entries left pending by a consumer that died are taken over
with XAUTOCLAIM once idle past `claim_idle`. Live listeners read with plain XREAD.
Trimming is by length only, so `maxlen` must exceed the backlog of the slowest group.

A Redis that restarts without persistence (or is flushed) comes back without streams or
groups. The bus notices by an epoch key it set (`<prefix>:bus:epoch`) being gone or
different, recreates its groups from the start of the new streams (`0`, so nothing added
before a consumer got there is skipped), and adds again every envelope it had published
that some group had not acknowledged yet (bus/unsettled.py): the outbox had marked those
dispatched, and nothing else would send them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError, ResponseError

from omnihub.hub.bus.base import Bus, BusClosed, BusUnavailable, Envelope, Handler, Listener
from omnihub.hub.bus.fanout import Fanout
from omnihub.hub.bus.unsettled import EntryId, Unsettled, parse_id, settled_below

log = logging.getLogger("omnihub.bus")

FIELD = b"e"  # each stream entry carries one field: the serialized envelope


class RedisStreamsBus(Bus):
    """Consumer groups and live listeners over Redis Streams, shared by every process."""

    def __init__(self, url: str, *, prefix: str = "omnihub", maxlen: int = 100_000,
                 block_ms: int = 1000, read_count: int = 100, claim_idle: float = 30.0,
                 claim_interval: float | None = None, retry_delay: float = 0.5,
                 max_retry_delay: float = 30.0, listener_queue: int = 10_000,
                 settle_interval: float = 1.0, keep_unsettled: int = 20_000) -> None:
        self.url = url
        self.prefix = prefix
        self.maxlen = maxlen
        self.block_ms = block_ms
        self.read_count = read_count
        self.claim_idle = claim_idle
        self.claim_interval = claim_interval if claim_interval is not None else claim_idle / 2
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        # A socket timeout just above the longest BLOCK: a read that hangs past it (a
        # half-dead connection) raises instead of stalling the consumer for good.
        self._redis = redis.Redis.from_url(url, socket_timeout=block_ms / 1000 + 5,
                                           socket_connect_timeout=5)
        self._subscriptions: list[tuple[str, str, Handler, int]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._readers: dict[str, asyncio.Event] = {}  # topic -> "anchored" event
        self._group_setups: set[asyncio.Task[None]] = set()  # groups still being created
        self._fanout = Fanout(maxsize=listener_queue)
        # Surviving a Redis that lost its data: see the module docstring.
        self.epoch_key = f"{prefix}:bus:epoch"
        self.settle_interval = settle_interval
        self._epoch: bytes | None = None
        self._epoch_lock = asyncio.Lock()
        self._suspect = False  # a Redis error was seen: check the epoch before trusting it
        self._unsettled = Unsettled(keep_unsettled)
        self.resets = 0  # times this bus found Redis emptied and published again
        self.nudge_channel = f"{prefix}:bus:nudge"  # pub/sub: "rows were committed here"
        self._nudging = False  # a PUBLISH is on its way
        self._nudge_again = False  # and another one is owed after it
        self._started = False
        self._closed = False

    def stream(self, topic: str) -> str:
        return f"{self.prefix}:bus:{topic}"

    async def start(self) -> None:
        await self.ping()
        await self._check_epoch()
        self._started = True
        for topic, group, _handler, _lanes in self._subscriptions:
            await self._ensure_group(self.stream(topic), group)
        for index, (topic, group, handler, lanes) in enumerate(self._subscriptions):
            self._spawn(self._consume(topic, group, handler, f"{self.name}-{index}", lanes))
        self._spawn(self._settle_forever())

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._started = False
        # A cancel that lands inside redis-py's own timeout handling can be swallowed, so
        # cancel again until the tasks are gone (their loops also stop on `_closed`).
        pending = set(self._tasks)
        for _ in range(10):
            if not pending:
                break
            for task in pending:
                task.cancel()
            _done, pending = await asyncio.wait(pending, timeout=1)
        if pending:
            log.warning("bus: %d consumer tasks did not stop", len(pending))
        self._fanout.close()
        self._readers.clear()
        await self._redis.aclose()

    async def ping(self) -> None:
        if self._closed:
            raise BusClosed(f"bus {self._safe_url} is closed")
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            self._suspect = True
            raise BusUnavailable(f"bus {self._safe_url} unreachable: {exc}") from exc

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        if self._closed:
            raise BusClosed(f"bus {self._safe_url} is closed")
        if not envelopes:
            return
        if self._group_setups:  # a group subscribed a moment ago must exist before we add
            await asyncio.gather(*self._group_setups, return_exceptions=True)
        try:
            if self._suspect:  # Redis was away: what it lost goes again before anything new
                await self._check_epoch()
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(self.epoch_key)
            for env in envelopes:
                pipe.xadd(self.stream(env.topic), {FIELD: env.to_bytes()},
                          maxlen=self.maxlen, approximate=True)
            epoch, *ids = await pipe.execute()
            if epoch != self._epoch:  # emptied since the last check: re-add what it lost
                await self._check_epoch()
        except (RedisError, OSError) as exc:
            self._suspect = True
            raise BusUnavailable(f"publish to {self._safe_url} failed: {exc}") from exc
        for env, raw_id in zip(envelopes, ids, strict=True):
            self._unsettled.add(self.stream(env.topic), raw_id, env)

    def subscribe(self, topic: str, group: str, handler: Handler, *, lanes: int = 1) -> None:
        self._subscriptions.append((topic, group, handler, max(1, lanes)))
        if self._started:
            setup = asyncio.create_task(self._ensure_group(self.stream(topic), group))
            self._group_setups.add(setup)
            setup.add_done_callback(self._group_setups.discard)
            consumer = f"{self.name}-{len(self._subscriptions) - 1}"
            self._spawn(self._consume(topic, group, handler, consumer, max(1, lanes)))

    def nudge(self) -> None:
        """PUBLISH on the nudge channel, without waiting; nudges that come while one is on
        its way are folded into one more after it (so none is lost, few are sent)."""
        if self._closed or not self._started:
            return
        if self._nudging:
            self._nudge_again = True
            return
        self._nudging = True
        self._spawn(self._publish_nudges())

    async def _publish_nudges(self) -> None:
        try:
            again = True
            while again and not self._closed:
                self._nudge_again = False
                try:
                    await self._redis.publish(self.nudge_channel, b"1")
                except (RedisError, OSError) as exc:  # the dispatcher's poll still finds them
                    log.debug("bus: nudge not sent: %s", exc)
                    return
                again = self._nudge_again
        finally:
            self._nudging = False

    def on_nudge(self, callback: Callable[[], None]) -> None:
        self._spawn(self._hear_nudges(callback))

    async def _hear_nudges(self, callback: Callable[[], None]) -> None:
        """Subscribe to the nudge channel (again after a Redis outage) and call back."""
        while not self._closed:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.nudge_channel)
                while not self._closed:
                    if await pubsub.get_message(timeout=1.0) is not None:
                        callback()
            except (RedisError, OSError) as exc:
                log.warning("bus: nudge channel: redis unavailable: %s", exc)
                await asyncio.sleep(self.retry_delay)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()

    def listen(self, topic: str) -> Listener:
        listener = self._fanout.add(topic)
        anchored = self._readers.get(topic)
        if anchored is None:
            anchored = self._readers[topic] = asyncio.Event()
            self._spawn(self._read_live(topic, anchored))
        if anchored.is_set():
            listener.mark_ready()
        return listener

    @property
    def _safe_url(self) -> str:
        conn = self._redis.connection_pool.connection_kwargs
        return f"redis://{conn.get('host', '?')}:{conn.get('port', '?')}/{conn.get('db', 0)}"

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ensure_group(self, stream: str, group: str, start: str = "$") -> None:
        """Create the group (and the stream itself) unless it exists: a new subscriber at
        the stream's end (`$`); one whose group vanished with Redis's data at its start
        (`0`), since everything in the new stream is owed to it."""
        try:
            await self._redis.xgroup_create(stream, group, id=start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _check_epoch(self) -> None:
        """Learn the epoch of the Redis data set (setting one if there is none); if it is
        not the one this bus published into, Redis lost its data: publish again."""
        async with self._epoch_lock:
            pipe = self._redis.pipeline(transaction=False)
            pipe.set(self.epoch_key, secrets.token_hex(8), nx=True)
            pipe.get(self.epoch_key)
            _set, current = await pipe.execute()
            if self._epoch is not None and current != self._epoch:
                await self._publish_again()
            self._epoch = current
            self._suspect = False

    async def _publish_again(self) -> None:
        """Recreate the groups from the start and add again what no group had handled."""
        kept = self._unsettled.take_all()
        try:
            for topic, group, _handler, _lanes in self._subscriptions:
                await self._ensure_group(self.stream(topic), group, start="0")
            pipe = self._redis.pipeline(transaction=False)
            order = [(stream, env) for stream, envs in kept.items() for _id, env in envs]
            for stream, env in order:
                pipe.xadd(stream, {FIELD: env.to_bytes()}, maxlen=self.maxlen, approximate=True)
            ids = await pipe.execute() if order else []
        except BaseException:
            self._unsettled.restore(kept)  # still owed: the next check tries again
            raise
        for (stream, env), raw_id in zip(order, ids, strict=True):
            self._unsettled.add(stream, raw_id, env)
        self.resets += 1
        log.warning("bus: Redis %s lost its data (restarted without persistence?); published "
                    "again %d events no consumer group had handled", self._safe_url, len(order))

    async def _settle_forever(self) -> None:
        """Every `settle_interval`: forget what every group has handled; notice a Redis
        that lost its data even while nothing is published."""
        while not self._closed:
            await asyncio.sleep(self.settle_interval)
            try:
                await self._settle()
            except (RedisError, OSError) as exc:
                self._suspect = True
                log.debug("bus: settling failed: %s", exc)
            except Exception:
                log.exception("bus: settling failed")

    async def _settle(self) -> None:
        if self._suspect:
            await self._check_epoch()
        streams = list(self._unsettled.streams)
        if not streams:
            return
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(self.epoch_key)
        for stream in streams:
            pipe.xinfo_groups(stream)
        epoch, *infos = await pipe.execute(raise_on_error=False)
        if epoch != self._epoch:  # positions of another data set say nothing about ours
            await self._check_epoch()
            return
        # per stream: each group's (name, last delivered id, whether it has pending entries)
        groups: dict[str, list[tuple[bytes, EntryId, bool]]] = {
            stream: [(g["name"], parse_id(g["last-delivered-id"]), bool(g["pending"]))
                     for g in info]
            for stream, info in zip(streams, infos, strict=True)
            if not isinstance(info, Exception)}
        asked = [(stream, name) for stream, named in groups.items()
                 for name, _last, pending in named if pending]
        first_pending: dict[tuple[str, bytes], EntryId] = {}
        if asked:
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(self.epoch_key)
            for stream, name in asked:
                pipe.xpending(stream, name)
            epoch, *pendings = await pipe.execute()
            if epoch != self._epoch:
                await self._check_epoch()
                return
            for key, pending in zip(asked, pendings, strict=True):
                if pending.get("pending"):
                    first_pending[key] = parse_id(pending["min"])
        for stream, named in groups.items():
            self._unsettled.settle(stream, settled_below(
                (last, first_pending.get((stream, name))) for name, last, _pending in named))

    async def _consume(self, topic: str, group: str, handler: Handler, consumer: str,
                       lanes: int = 1) -> None:
        """One group member: own pending entries first (in order), then new ones, then orphans."""
        stream = self.stream(topic)
        loop = asyncio.get_running_loop()
        own_pending_first = True  # a restarted member first finishes what it was given
        # A group that is missing at the start is new (it begins at the stream's end); one
        # missing after an error vanished with Redis's data and is owed the whole stream.
        group_start = "$"
        next_claim = 0.0
        delay = self.retry_delay
        while not self._closed:
            try:
                if own_pending_first:
                    await self._ensure_group(stream, group, start=group_start)
                    entries = await self._read_group(stream, group, consumer, "0", block=None)
                    if not entries:
                        own_pending_first = False
                        continue
                elif loop.time() >= next_claim:
                    next_claim = loop.time() + self.claim_interval
                    entries = await self._claim_orphans(stream, group, consumer)
                else:
                    entries = await self._read_group(stream, group, consumer, ">",
                                                     block=self.block_ms)
                async with self._holding(stream, group, consumer, entries):
                    delivered = await self._deliver_all(stream, group, entries, handler, lanes)
                if delivered:
                    delay = self.retry_delay
                else:
                    own_pending_first = True  # retry it before anything newer
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_retry_delay)
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # stream or group deleted under us
                    own_pending_first, group_start = True, "0"
                    continue
                log.warning("bus consumer %s/%s: %s", topic, group, exc)
                own_pending_first = True
                await asyncio.sleep(self.retry_delay)
            except (RedisError, OSError) as exc:
                # An entry handled but not acknowledged (XACK failed) is still ours: read
                # our pending entries again instead of waiting for the orphan claim.
                log.warning("bus consumer %s/%s: redis unavailable: %s", topic, group, exc)
                self._suspect = own_pending_first = True
                group_start = "0"
                await asyncio.sleep(self.retry_delay)

    @contextlib.asynccontextmanager
    async def _holding(self, stream: str, group: str, consumer: str,
                       entries: list[tuple[bytes, dict[bytes, bytes]]]) -> AsyncIterator[None]:
        """While a read batch is handled, claim its entries again every third of
        `claim_idle`. XCLAIM by their own consumer resets their idle time, so a handler
        that runs long (replies paced by a provider's per-chat limit, a slow webhook
        receiver) is not taken for the work of a dead process by the others'
        XAUTOCLAIM, which would run the same handler at once: a reply sent twice.
        Entries already acknowledged are no longer pending; XCLAIM passes over them."""
        if not entries:
            yield
            return
        ids = [entry_id for entry_id, _fields in entries]
        done = asyncio.Event()

        async def renew() -> None:
            # Ends on `done`, not only on cancel: redis-py can swallow a cancel that lands
            # in its timeout handling, and a renewal outliving its consumer would keep
            # the entries from the process that takes over for good.
            while not done.is_set() and not self._closed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), self.claim_idle / 3)
                    return
                try:
                    await self._redis.xclaim(stream, group, consumer, 0, ids, justid=True)
                except (RedisError, OSError) as exc:
                    log.debug("bus: holding %d entries of %s/%s: %s", len(ids), stream,
                              group, exc)

        task = asyncio.create_task(renew())
        try:
            yield
        finally:
            done.set()
            task.cancel()  # gather: a cancel of this consumer itself still goes through
            await asyncio.gather(task, return_exceptions=True)

    async def _read_group(self, stream: str, group: str, consumer: str, start: str,
                          *, block: int | None) -> list[tuple[bytes, dict[bytes, bytes]]]:
        response = await self._redis.xreadgroup(group, consumer, {stream: start},
                                                count=self.read_count, block=block)
        return [entry for _stream, entries in response or [] for entry in entries
                if entry[0] is not None]

    async def _claim_orphans(self, stream: str, group: str,
                             consumer: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Take over entries that another (dead) member left unacknowledged too long."""
        idle_ms = int(self.claim_idle * 1000)
        response = await self._redis.xautoclaim(stream, group, consumer, idle_ms,
                                                start_id="0-0", count=self.read_count)
        claimed = [entry for entry in response[1] if entry[1]]
        if claimed:
            log.info("bus: %s/%s claimed %d orphaned entries", stream, group, len(claimed))
        return claimed

    async def _deliver_all(self, stream: str, group: str,
                           entries: list[tuple[bytes, dict[bytes, bytes]]], handler: Handler,
                           lanes: int) -> bool:
        """Deliver a read batch: in order, or with lanes, each key's entries in order and
        different keys at once. False when one failed: it and the rest of its key stay
        pending, and are read again (in order) before anything newer."""

        async def in_order(lane: list[tuple[bytes, dict[bytes, bytes]]]) -> bool:
            for entry_id, fields in lane:
                if not await self._deliver(stream, group, entry_id, fields, handler):
                    return False
            return True

        if lanes == 1 or len(entries) < 2:
            return await in_order(entries)
        by_key: dict[str, list[tuple[bytes, dict[bytes, bytes]]]] = {}
        for entry_id, fields in entries:
            by_key.setdefault(_key_of(entry_id, fields), []).append((entry_id, fields))
        limit = asyncio.Semaphore(lanes)

        async def bounded(lane: list[tuple[bytes, dict[bytes, bytes]]]) -> bool:
            async with limit:
                return await in_order(lane)

        return all(await asyncio.gather(*(bounded(lane) for lane in by_key.values())))

    async def _deliver(self, stream: str, group: str, entry_id: bytes,
                       fields: dict[bytes, bytes], handler: Handler) -> bool:
        """Run the handler; acknowledge on success. False leaves the entry pending."""
        if not fields:  # still pending here, but MAXLEN trimmed it away: nothing to retry
            log.error("bus: %s on %s was trimmed before group %s handled it; raise bus maxlen",
                      entry_id, stream, group)
            await self._redis.xack(stream, group, entry_id)
            return True
        try:
            envelope = Envelope.from_bytes(fields[FIELD])
        except (KeyError, ValueError) as exc:
            log.error("bus: dropping malformed entry %s on %s: %s", entry_id, stream, exc)
            await self._redis.xack(stream, group, entry_id)
            return True
        try:
            await handler(envelope)
        except Exception:
            log.exception("consumer %s failed on %s %s; will retry", group, stream, envelope.id)
            return False
        await self._redis.xack(stream, group, entry_id)
        return True

    async def _read_live(self, topic: str, anchored: asyncio.Event) -> None:
        """Feed this process's listeners of `topic` with XREAD from the stream's end."""
        stream = self.stream(topic)
        last_id: bytes | str | None = None
        while not self._closed:
            if not self._fanout.listeners.get(topic):
                if self._readers.get(topic) is anchored:
                    del self._readers[topic]
                return
            try:
                if last_id is None:
                    newest = await self._redis.xrevrange(stream, count=1)
                    last_id = newest[0][0] if newest else "0-0"
                    anchored.set()
                    for listener in self._fanout.listeners.get(topic, ()):
                        listener.mark_ready()
                    continue
                response = await self._redis.xread({stream: last_id}, count=self.read_count,
                                                   block=self.block_ms)
                for _stream, entries in response or []:
                    for entry_id, fields in entries:
                        last_id = entry_id
                        try:
                            self._fanout.feed(Envelope.from_bytes(fields[FIELD]))
                        except (KeyError, ValueError) as exc:
                            log.error("bus: malformed live entry %s: %s", entry_id, exc)
            except (RedisError, OSError) as exc:
                log.warning("bus listener %s: redis unavailable: %s", topic, exc)
                await asyncio.sleep(self.retry_delay)


def _key_of(entry_id: bytes, fields: dict[bytes, bytes]) -> str:
    """An entry's ordering key (its conversation); an unreadable entry is its own key."""
    try:
        envelope = Envelope.from_bytes(fields[FIELD])
    except (KeyError, ValueError):
        return entry_id.decode()
    return envelope.key or envelope.id
