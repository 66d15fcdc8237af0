"""SIGKILL the serving hub 20 times in a row, at seeded random moments, under load.

Shops post API-channel messages from many clients and retry every non-2xx answer and
every cut connection, as providers do; agents send replies through the agent API with an
`Idempotency-Key` and retry them the same way. The shop's reply_url and the agent system's
webhook (stand-ins, tests/integration/chaos/standins.py) refuse a few deliveries, so the
hub's durable retry jobs are in flight too. After each SIGKILL the hub is started again on
the same store and the load goes on. Once the last process has drained, the promises of
DESIGN.md are checked on the store and on the two receivers at the edge:

- every acknowledged inbound message is stored exactly once, with one `message.received`;
- every agent reply is stored once per idempotency key, and marked sent;
- every reply reached the shop's reply_url at least once, and exactly once after dedup by
  the `Idempotency-Key` the hub sends with each delivery;
- every event reached the agent system's webhook at least once, and after dedup by
  `Omnihub-Event-Id` each message has exactly one `message.received` / `message.sent`.

The seed is printed; `OMNIHUB_CHAOS_SEED=<n>` replays a run's kill points.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import sqlalchemy as sa

from omnihub.hub import signing
from omnihub.store import tables
from omnihub.store.db import Database
from omnihub.store.migrate import upgrade
from omnihub.store.tokens import create_token

from .hub_process import HubProcess, free_port
from .standins import ReplyProvider, WebhookReceiver

KILLS = 20
SENDERS = 12  # shop clients posting inbound messages
AGENTS = 4  # agent clients sending replies
CUSTOMERS = 40
SEND_PAUSE = 0.1  # per sender between messages: steady load, not a flood
REPLY_PAUSE = 0.15  # per agent between replies
RETRY_PAUSE = 0.05  # a client's pause before retrying a failed request
DRAIN_SECONDS = 120.0  # the last process delivers what the killed ones left (lease expiry)
API_SECRET = "chaos-api-secret-0123456789"
WEBHOOK_SECRET = "chaos-webhook-secret-0123456789"
RETRYABLE = {429, 500, 502, 503, 504}  # what providers and API clients retry
FAIL_RATE = 0.02  # of deliveries the receivers refuse (5xx): the hub's retry jobs run too
# The hub's retries (outbox and webhooks) back off for at most a second here, not minutes.
FAST_RETRY = {"backoff_base_seconds": 0.2, "backoff_max_seconds": 1.0}


def chaos_seed() -> int:
    raw = os.environ.get("OMNIHUB_CHAOS_SEED")
    return int(raw) if raw else random.SystemRandom().randrange(2**32)


def kill_delays(rng: random.Random) -> list[float]:
    """Seconds each process lives after it is ready: some die at once (while recovering
    what the last one left), most after a moment of load."""
    return [rng.uniform(0.0, 0.3) if rng.random() < 0.25 else rng.uniform(0.3, 2.0)
            for _ in range(KILLS)]


@dataclass
class Ledger:
    """What the clients were told: only acknowledged work is promised."""

    inbound: dict[str, str] = field(default_factory=dict)  # external_id -> message id
    inbound_attempts: int = 0
    replies: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> message id
    reply_attempts: int = 0
    replays: int = 0  # a retried reply answered 200: an earlier attempt had stored it
    failures: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))

    def failed(self, what: str) -> None:
        self.failures[what] += 1


class Clients:
    """The shop's senders and the agents, retrying until the hub acknowledges."""

    def __init__(self, http: aiohttp.ClientSession, hub: HubProcess, token: str,
                 rng: random.Random) -> None:
        self.http, self.hub, self.rng = http, hub, rng
        self.auth = {"Authorization": f"Bearer {token}"}
        self.ledger = Ledger()
        self.stop = asyncio.Event()
        self.conversations: list[str] = []
        self._inbound_ids = itertools.count()
        self._reply_ids = itertools.count()

    async def post_inbound(self, external_id: str, customer: str) -> None:
        body = orjson.dumps({"external_id": external_id, "customer": {"external_id": customer},
                             "text": f"message {external_id}"})
        while True:
            self.ledger.inbound_attempts += 1
            headers = {signing.HEADER: signing.sign(API_SECRET, body),
                       "Content-Type": "application/json"}
            try:
                async with self.http.post(f"{self.hub.url}/webhooks/shop", data=body,
                                          headers=headers) as resp:
                    if resp.status == 200:
                        answer = await resp.json()
                        self.ledger.inbound[external_id] = answer["messages"][0]["id"]
                        return
                    await self._refused("inbound", resp)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                self.ledger.failed("inbound: connection")
            await asyncio.sleep(RETRY_PAUSE)

    async def send_reply(self, key: str, conversation_id: str, text: str) -> None:
        url = f"{self.hub.url}/api/v1/conversations/{conversation_id}/messages"
        while True:
            self.ledger.reply_attempts += 1
            try:
                async with self.http.post(url, json={"text": text},
                                          headers={**self.auth, "Idempotency-Key": key}) as resp:
                    if resp.status in (200, 201):
                        self.ledger.replies[key] = (await resp.json())["id"]
                        self.ledger.replays += resp.status == 200
                        return
                    await self._refused("reply", resp)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                self.ledger.failed("reply: connection")
            await asyncio.sleep(RETRY_PAUSE)

    async def _refused(self, what: str, resp: aiohttp.ClientResponse) -> None:
        """A retryable refusal is counted (and its Retry-After honoured); anything else is
        a bug this test exists to find."""
        if resp.status not in RETRYABLE:
            raise AssertionError(f"{what}: unexpected {resp.status}: {await resp.text()}")
        self.ledger.failed(f"{what}: {resp.status}")
        retry_after = resp.headers.get("Retry-After")
        if retry_after:
            await asyncio.sleep(min(float(retry_after), 2.0))

    async def warm_up(self) -> None:
        """One message per customer, then the conversations agents will answer in."""
        await asyncio.gather(*(self.post_inbound(f"hello-{c}", f"c-{c}")
                               for c in range(CUSTOMERS)))
        async with self.http.get(f"{self.hub.url}/api/v1/conversations",
                                 params={"limit": "200"}, headers=self.auth) as resp:
            assert resp.status == 200, await resp.text()
            self.conversations = [c["id"] for c in (await resp.json())["items"]]
        assert len(self.conversations) == CUSTOMERS

    async def sender(self) -> None:
        while not self.stop.is_set():
            i = next(self._inbound_ids)
            await self.post_inbound(f"m-{i}", f"c-{i % CUSTOMERS}")
            await asyncio.sleep(SEND_PAUSE)

    async def agent(self) -> None:
        while not self.stop.is_set():
            n = next(self._reply_ids)
            await self.send_reply(f"chaos-reply-{n}", self.rng.choice(self.conversations),
                                  f"reply {n}")
            await asyncio.sleep(REPLY_PAUSE)


async def agent_token(store_url: str) -> str:
    """An admin token, created on the store before the first hub starts."""
    db = Database(store_url)
    try:
        await upgrade(db)
        return await create_token(db, "chaos", "admin")
    finally:
        await db.dispose()


def hub_config(tmp_path: Path, port: int, store_url: str, reply_url: str,
               webhook_url: str) -> Path:
    config = tmp_path / "hub.yaml"
    config.write_text(json.dumps({
        "server": {"host": "127.0.0.1", "port": port},
        "data_dir": str(tmp_path / "data"),
        "store": {"url": store_url},
        "bus": {"url": "memory://"},
        "channels": [{"id": "shop", "type": "api", "secret": API_SECRET,
                      "reply_url": reply_url}],
        "outbox": FAST_RETRY,
        "inbox": {"webhooks": [{"url": webhook_url, "secret": WEBHOOK_SECRET,
                                "events": ["message.*"]}],
                  "webhook_retry": {**FAST_RETRY, "poll_seconds": 0.2}},
    }))
    return config


def delivered(ledger: Ledger, provider: ReplyProvider, receiver: WebhookReceiver) -> bool:
    """Whether every acknowledged message has reached both receivers."""
    seen = {(d.type, d.data_id) for d in receiver.deliveries}
    return (provider.keys() >= set(ledger.replies.values())
            and all(("message.received", m) in seen for m in ledger.inbound.values())
            and all(("message.sent", m) in seen and ("message.status:sent", m) in seen
                    for m in ledger.replies.values()))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql",
                                                            marks=pytest.mark.postgres)])
async def test_twenty_sigkills_under_load_lose_and_double_nothing(
        backend: str, make_store_url: Any, tmp_path: Path) -> None:
    seed = chaos_seed()
    print(f"\nchaos seed {seed} (replay with OMNIHUB_CHAOS_SEED={seed})")
    rng = random.Random(seed)
    delays = kill_delays(rng)
    store_url = await make_store_url(backend)
    provider = ReplyProvider(API_SECRET, random.Random(rng.random()), fail_rate=FAIL_RATE)
    receiver = WebhookReceiver(WEBHOOK_SECRET, random.Random(rng.random()), fail_rate=FAIL_RATE)
    await provider.start()
    await receiver.start()
    token = await agent_token(store_url)
    port = free_port()
    hub = HubProcess(hub_config(tmp_path, port, store_url, provider.url, receiver.url), port,
                     tmp_path / "hub.log")
    began = time.monotonic()
    try:
        await hub.start()
        timeout = aiohttp.ClientTimeout(total=15)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            clients = Clients(http, hub, token, random.Random(rng.random()))
            await clients.warm_up()
            acked_at_kill: list[int] = []

            async def killer() -> None:
                for delay in delays:
                    await asyncio.sleep(delay)
                    acked_at_kill.append(len(clients.ledger.inbound) + len(clients.ledger.replies))
                    await hub.kill()
                    await hub.start()
                clients.stop.set()  # the last process lives on and drains

            async with asyncio.TaskGroup() as load:  # a failure stops every client
                load.create_task(killer())
                for _ in range(SENDERS):
                    load.create_task(clients.sender())
                for _ in range(AGENTS):
                    load.create_task(clients.agent())
            chaos_seconds = time.monotonic() - began
            ledger = clients.ledger
            deadline = time.monotonic() + DRAIN_SECONDS
            while not delivered(ledger, provider, receiver) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            drain_seconds = time.monotonic() - began - chaos_seconds
    finally:
        await hub.stop()
        await provider.close()
        await receiver.close()

    db = Database(store_url)
    try:
        async with db.read() as conn:
            m = tables.messages.c
            inbound = (await conn.execute(
                sa.select(m.external_id, m.id).where(m.direction == "in"))).all()
            outbound = (await conn.execute(
                sa.select(m.idempotency_key, m.id, m.status, m.external_id)
                .where(m.direction == "out"))).all()
            received_events = (await conn.execute(
                sa.select(sa.func.count()).select_from(tables.outbox)
                .where(tables.outbox.c.type == "message.received"))).scalar_one()
    finally:
        await db.dispose()

    unique_events = receiver.unique()
    print(f"{backend}: {hub.starts - 1} SIGKILLs in {chaos_seconds:.1f}s, drained in "
          f"{drain_seconds:.1f}s; restart to ready {min(hub.start_seconds):.2f}-"
          f"{max(hub.start_seconds):.2f}s\n"
          f"  inbound: {len(ledger.inbound)} acknowledged, {ledger.inbound_attempts} attempts\n"
          f"  replies: {len(ledger.replies)} acknowledged, {ledger.reply_attempts} attempts, "
          f"{ledger.replays} answered by an earlier attempt\n"
          f"  client failures: {dict(ledger.failures)}\n"
          f"  reply_url: {len(provider.deliveries)} deliveries, {provider.duplicates()} "
          f"duplicates before dedup (most for one key: {provider.most_deliveries()}), "
          f"{provider.refused} refused with 503\n"
          f"  webhook: {len(receiver.deliveries)} deliveries, {receiver.duplicates()} "
          f"duplicates before dedup, {receiver.refused} refused with 500")
    context = f"seed {seed}; hub log {hub.log}"

    assert hub.starts == KILLS + 1
    assert sum(b > a for a, b in itertools.pairwise([0, *acked_at_kill])) >= KILLS // 2, \
        f"most kills should land under load: acknowledgements at each kill {acked_at_kill}"
    assert ledger.inbound_attempts > len(ledger.inbound), "the kills should force retries"

    # every acknowledged inbound message is stored, once, with one message.received
    stored_in: defaultdict[str, list[str]] = defaultdict(list)
    for external_id, message_id in inbound:
        stored_in[external_id].append(message_id)
    doubled = {k: v for k, v in stored_in.items() if len(v) > 1}
    assert not doubled, f"stored twice: {list(doubled.items())[:5]} ({context})"
    assert {k: v[0] for k, v in stored_in.items()} == ledger.inbound, context
    assert received_events == len(ledger.inbound), context

    # every reply once per idempotency key, the one its client was told, sent
    stored_out: defaultdict[str, list[str]] = defaultdict(list)
    for key, message_id, _status, _external_id in outbound:
        stored_out[key].append(message_id)
    assert {k: v for k, v in stored_out.items() if len(v) > 1} == {}, context
    assert {k: v[0] for k, v in stored_out.items()} == ledger.replies, context
    unsent = [(i, s, e) for _k, i, s, e in outbound if s != "sent" or e != f"shop-{i}"]
    assert unsent == [], f"replies not marked sent with the shop's id: {unsent[:5]} ({context})"

    # the reply_url got each reply, exactly once after dedup by Idempotency-Key
    assert provider.rejected == 0
    assert all(d.idempotency_key == d.message_id for d in provider.deliveries), context
    assert provider.keys() == set(ledger.replies.values()), context
    texts = {d.message_id: d.text for d in provider.deliveries}
    assert all(texts[ledger.replies[key]] == f"reply {key.rsplit('-', 1)[1]}"
               for key in ledger.replies), context

    # the webhook got every event; deduped by Omnihub-Event-Id, one per message and type
    assert receiver.rejected == 0
    events_of: defaultdict[tuple[str, str | None], set[str]] = defaultdict(set)
    for event in unique_events.values():
        events_of[(event.type, event.data_id)].add(event.event_id)

    def about(kind: str) -> set[str | None]:
        return {m for (t, m) in events_of if t == kind}

    assert about("message.received") == set(ledger.inbound.values()), context
    assert about("message.sent") == set(ledger.replies.values()), context
    assert about("message.status:sent") == set(ledger.replies.values()), context
    several = {k: v for k, v in events_of.items() if len(v) > 1}
    assert several == {}, f"one message, several event ids: {list(several.items())[:5]}"
