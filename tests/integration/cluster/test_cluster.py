"""Three `omnihub serve` processes on one PostgreSQL and one Redis, mixed traffic at all
three: each message stored once, each event delivered to the webhook receiver and to an
SSE reader on every process, web chat replies across processes, SLA breaches fired once
per cluster, Telegram and API-channel replies sent once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import sqlalchemy as sa

from omnihub.hub import signing
from omnihub.store import tables
from omnihub.store.db import Database
from omnihub.store.tokens import create_token

from .conftest import API_SECRET, TG_SECRET, Cluster, HubProcess, Outside, SseReader, Visitor

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PROCESSES = 3
API_MESSAGES = 30  # 10 customers, 3 messages each
TG_USERS, TG_EACH = 6, 4
VISITORS, VISITOR_EACH = 3, 4
WAIT = 60.0

# Telegram goes to the social team (cy), the rest to the desk; bob, the desk's one agent,
# takes at most 2 conversations, whichever process assigns them, and sees only the desk's.
# API-channel conversations miss a 2-second first response (nobody answers them in time);
# the others have an hour. The ladder's first step fires with the breach.
ROUTING = """\
timezone: UTC
channels:
  api: {priority: 40, first_response: 2s}
  telegram: {priority: 30, first_response: 1h}
  webchat: {priority: 50, first_response: 1h}
groups:
  desk: {agents: [bob], strategy: round_robin}
  social: {agents: [cy], strategy: manual}
agents:
  - {id: bob, role: agent, capacity: 2}
  - {id: cy, role: agent}
rules:
  - name: telegram
    when: {channel: telegram}
    then: {category: inquiry, group: social}
  - name: everyone
    then: {category: inquiry, group: desk}
escalation:
  - name: first-missed
    after: first_response
    notify: [group]
"""


async def post_api(http: aiohttp.ClientSession, hub: HubProcess, n: int,
                   customer: str | None = None) -> dict[str, Any]:
    body = orjson.dumps({"external_id": f"m-{n}",
                         "customer": {"external_id": customer or f"a-{n % 10}"},
                         "text": f"api message {n}"})
    async with http.post(f"{hub.url}/webhooks/shop", data=body, headers={
            signing.HEADER: signing.sign(API_SECRET, body),
            "Content-Type": "application/json"}) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["messages"][0]  # type: ignore[no-any-return]


def tg_update(user: int, n: int) -> bytes:
    chat = 5218040000 + user
    person = {"id": chat, "is_bot": False, "first_name": f"User{user}"}
    return orjson.dumps({"update_id": 912000000 + user * 100 + n, "message": {
        "message_id": 100 + n, "from": person, "chat": {**person, "type": "private"},
        "date": int(time.time()), "text": f"telegram {user}/{n}"}})


async def post_tg(http: aiohttp.ClientSession, hub: HubProcess, body: bytes) -> None:
    async with http.post(f"{hub.url}/webhooks/tg", data=body, headers={
            "X-Telegram-Bot-Api-Secret-Token": TG_SECRET,
            "Content-Type": "application/json"}) as resp:
        assert resp.status == 200, await resp.text()


async def reply(http: aiohttp.ClientSession, hub: HubProcess, token: str, conversation: str,
                text: str, key: str) -> dict[str, Any]:
    async with http.post(f"{hub.url}/api/v1/conversations/{conversation}/messages",
                         json={"text": text}, headers={"Authorization": f"Bearer {token}",
                                                       "Idempotency-Key": key}) as resp:
        assert resp.status in (200, 201), await resp.text()
        return await resp.json()  # type: ignore[no-any-return]


async def until(condition: Callable[[], Awaitable[bool]], what: str,
                timeout: float = WAIT) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


@pytest.mark.slow
async def test_three_processes_keep_every_promise(
        tmp_path: Path, start_cluster: Callable[..., Awaitable[Cluster]],
        outside: Outside) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    cluster = await start_cluster(PROCESSES, routing=routing)
    hubs = cluster.hubs
    db = Database(cluster.store_url)
    readers: list[SseReader] = []
    try:
        token = await create_token(db, "ann", "admin")
        bob = await create_token(db, "bob", "agent")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            # on each process: a reader who sees everything, and bob, who sees the desk's
            readers = [SseReader(http, hub.url, who) for who in (token, bob) for hub in hubs]
            for reader in readers:
                await reader.start()
            try:
                await drive_and_check(http, hubs, db, token, readers[:PROCESSES],
                                      readers[PROCESSES:], outside)
            except BaseException:
                for hub in hubs:
                    print(f"--- {hub.name} log tail ---\n{hub.tail()}")
                raise
    finally:
        for reader in readers:
            await reader.close()
        await db.dispose()


async def drive_and_check(http: aiohttp.ClientSession, hubs: list[HubProcess], db: Database,
                          token: str, readers: list[SseReader], scoped: list[SseReader],
                          outside: Outside) -> None:
    # --- inbound traffic at all three processes, at once ------------------------------------
    async def api_traffic() -> None:
        # the first six go to every process at the same moment (a provider retrying
        # against a load balancer): stored once, and exactly one answer says "new"
        for n in range(6):
            answers = await asyncio.gather(*(post_api(http, hub, n) for hub in hubs))
            assert sorted(a["duplicate"] for a in answers) == [False, True, True], answers
            assert len({a["id"] for a in answers}) == 1
        await asyncio.gather(*(post_api(http, hubs[n % PROCESSES], n)
                               for n in range(6, API_MESSAGES)))

    async def tg_traffic() -> None:
        updates = [tg_update(user, n) for n in range(TG_EACH) for user in range(TG_USERS)]
        for body in updates[:3]:  # redelivered to every process at once
            await asyncio.gather(*(post_tg(http, hub, body) for hub in hubs))
        await asyncio.gather(*(post_tg(http, hubs[i % PROCESSES], body)
                               for i, body in enumerate(updates[3:])))

    async with http.put(f"{hubs[0].url}/api/v1/agents/bob/availability",
                        json={"availability": "online"},
                        headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
    visitors = [await Visitor.connect(http, hubs[v]) for v in range(VISITORS)]
    conversations: dict[int, str] = {}

    async def chat_traffic(v: int) -> None:
        for n in range(VISITOR_EACH):
            ack = await visitors[v].say(f"visitor {v} says {n}", f"visitor{v}-{n:04d}")
            conversations[v] = ack["message"]["conversation_id"]

    await asyncio.gather(api_traffic(), tg_traffic(),
                         *(chat_traffic(v) for v in range(VISITORS)))

    # --- agents answer through a process other than the customer's ---------------------------
    tg_conversations = await conversation_ids(db, "tg")
    assert len(tg_conversations) == TG_USERS
    for k, conversation in enumerate(tg_conversations):
        first = await reply(http, hubs[k % PROCESSES], token, conversation, f"tg answer {k}",
                            key=f"tg-{k}")
        again = await reply(http, hubs[(k + 1) % PROCESSES], token, conversation,
                            f"tg answer {k}", key=f"tg-{k}")  # the agent's client retries
        assert again["id"] == first["id"]
    for v, visitor in enumerate(visitors):  # the visitor on process v, the agent on v + 1
        sent = await reply(http, hubs[(v + 1) % PROCESSES], token, conversations[v],
                           f"chat answer {v}", key=f"web-{v}")
        pushed = await visitor.recv("message", id=sent["id"])
        assert pushed["message"]["parts"][0]["text"] == f"chat answer {v}"

    # --- every API conversation misses its 2 s first response: once, on one process -----------
    api_conversations = await conversation_ids(db, "shop")
    assert len(api_conversations) == 10
    await until(lambda: breached(db, api_conversations),
                "an SLA breach on every API-channel conversation")
    # one late answer to the shop's app, retried through another process
    late = api_conversations[0]
    api_reply = await reply(http, hubs[2], token, late, "api answer", key="api-0")
    again = await reply(http, hubs[0], token, late, "api answer", key="api-0")
    assert again["id"] == api_reply["id"]

    await until(lambda: settled(db, outside, readers, scoped, tg_replies=TG_USERS,
                                api_replies=1),
                "every event at the webhook receiver and at every SSE reader")

    # --- a rolling restart: the process running the dispatcher stops, the others go on --------
    holder = await lease_holder(db, "outbox-dispatcher")
    victim = next(i for i, hub in enumerate(hubs) if hub.proc and hub.proc.pid == holder)
    survivors = [hub for i, hub in enumerate(hubs) if i != victim]
    await readers[victim].close()
    await scoped[victim].close()
    stopping = time.monotonic()
    await hubs[victim].stop()
    assert hubs[victim].proc is not None and hubs[victim].proc.returncode == 0
    assert time.monotonic() - stopping < 20, "a stopping hub should not hang"
    # four new customers: four conversations that miss their first response after the stop
    later = [post_api(http, survivors[n % 2], API_MESSAGES + n, customer=f"b-{n}")
             for n in range(4)]
    await asyncio.gather(*later)
    api_conversations = await conversation_ids(db, "shop")
    assert len(api_conversations) == 14
    await until(lambda: breached(db, api_conversations),
                "an SLA breach on the conversations opened after the stop")
    extra = [tg_update(TG_USERS, n) for n in range(2)]  # a seventh Telegram user
    for i, body in enumerate(extra):
        await post_tg(http, survivors[i], body)
    tg_conversations = await conversation_ids(db, "tg")
    assert len(tg_conversations) == TG_USERS + 1
    answered = set(await replied(db))
    newest = next(c for c in tg_conversations if c not in answered)
    await reply(http, survivors[0], token, newest, f"tg answer {TG_USERS}", key="tg-late")
    await until(lambda: settled(db, outside, [r for i, r in enumerate(readers) if i != victim],
                                [r for i, r in enumerate(scoped) if i != victim],
                                tg_replies=TG_USERS + 1, api_replies=1),
                "every event after the stop at the receiver and the remaining SSE readers")
    alive = {hub.proc.pid for hub in survivors if hub.proc is not None}
    assert await lease_holder(db, "outbox-dispatcher") in alive
    assert await lease_holder(db, "routing.sla-timer") in alive
    await asyncio.sleep(2)  # room for a duplicate to show up, if one were coming

    # --- the store: every inbound message once ------------------------------------------------
    async with db.read() as conn:
        m = tables.messages.c
        stored = (await conn.execute(
            sa.select(m.channel_id, m.external_id, sa.func.count())
            .where(m.direction == "in").group_by(m.channel_id, m.external_id))).all()
        outbound = (await conn.execute(
            sa.select(m.channel_id, m.status).where(m.direction == "out",
                                                    m.author.like("agent:%")))).all()
        c = tables.conversations.c
        loads = Counter((await conn.execute(
            sa.select(c.assignee).where(c.assignee.is_not(None)))).scalars())
    assert {n for _c, _e, n in stored} == {1}
    per_channel = Counter(channel for channel, _e, _n in stored)
    assert per_channel == {"shop": API_MESSAGES + 4, "tg": (TG_USERS * TG_EACH) + 2,
                           "web": VISITORS * VISITOR_EACH}
    assert Counter(channel for channel, _s in outbound) == {"tg": TG_USERS + 1, "web": VISITORS,
                                                            "shop": 1}
    assert {status for _c, status in outbound} == {"sent"}
    assert loads == {"bob": 2}  # his capacity, whichever process assigned

    events = await events_of(db)
    received = [e for _k, e in events if e["type"] == "message.received"]
    assert len(received) == sum(per_channel.values())  # a redelivery emits no event

    # --- SLA: one breach and one escalation per late conversation, none elsewhere -----------
    breaches = Counter(key for key, e in events if e["type"] == "sla.breached")
    assert breaches == {conversation: 1 for conversation in api_conversations}
    escalations = Counter(key for key, e in events if e["type"] == "conversation.escalated")
    assert escalations == {conversation: 1 for conversation in api_conversations}

    # --- consumers: the receiver and every SSE reader have every event -----------------------
    expected = {e["id"] for _k, e in events}
    assert outside.receiver.bad_signatures == 0
    assert outside.receiver.refused  # some went through the durable retries, none got lost
    assert set(outside.receiver.by_id()) == expected
    for i, (hub, reader) in enumerate(zip(hubs, readers, strict=True)):
        seen = reader.ids()
        assert max(seen.values()) == 1, f"SSE on {hub.name} sent an event twice"
        if i != victim:
            assert set(seen) == expected, f"SSE on {hub.name} missed {expected - set(seen)}"
    desk = await desk_events(db)
    assert desk and desk < expected
    for i, (hub, reader) in enumerate(zip(hubs, scoped, strict=True)):
        seen = reader.ids()
        assert max(seen.values()) == 1, f"bob's SSE on {hub.name} sent an event twice"
        assert set(seen) <= desk, f"bob saw another team's events on {hub.name}"
        if i != victim:
            assert set(seen) == desk, f"bob's SSE on {hub.name} missed {desk - set(seen)}"

    # --- replies reached their customers once each ---------------------------------------------
    assert sorted(call["text"] for call in outside.bot.sent) == sorted(
        f"tg answer {k}" for k in range(TG_USERS + 1))
    assert len(outside.bot.refused) == 1  # Telegram's 429 was retried, and sent once
    assert [key for key, _body in outside.shop.replies] == [api_reply["id"]]


async def breached(db: Database, conversations: list[str]) -> bool:
    return {key for key, _event in await events_of(db, "sla.breached")} >= set(conversations)


async def settled(db: Database, outside: Outside, readers: list[SseReader],
                  scoped: list[SseReader], *, tg_replies: int, api_replies: int) -> bool:
    """The replies are out, and the receiver and each reader have every event so far
    (bob's readers every event of the desk's conversations)."""
    if len(outside.bot.sent) < tg_replies or len(outside.shop.replies) < api_replies:
        return False
    expected = {event["id"] for _key, event in await events_of(db)}
    if not expected <= set(outside.receiver.by_id()):
        return False
    desk = await desk_events(db)
    return (all(expected <= set(reader.ids()) for reader in readers)
            and all(desk <= set(reader.ids()) for reader in scoped))


async def desk_events(db: Database) -> set[str]:
    """The ids of the events of the desk's conversations: what bob may see."""
    c = tables.conversations.c
    async with db.read() as conn:
        desk = set((await conn.execute(sa.select(c.id).where(c.skill_group == "desk"))).scalars())
    return {event["id"] for key, event in await events_of(db) if key in desk}


async def lease_holder(db: Database, name: str) -> int | None:
    """The pid in the holder name of a lease (omnihub.store.leases.process_holder:
    host~boot~pid-namespace~pid~nonce)."""
    async with db.read() as conn:
        holder = await conn.scalar(sa.select(tables.leases.c.holder)
                                   .where(tables.leases.c.name == name))
    if holder is None:
        return None
    return int(holder.rsplit("~", 2)[1])


async def replied(db: Database) -> list[str]:
    m = tables.messages.c
    async with db.read() as conn:
        return list((await conn.execute(sa.select(m.conversation_id).where(
            m.direction == "out", m.author.like("agent:%")).distinct())).scalars())


async def conversation_ids(db: Database, channel_id: str) -> list[str]:
    m = tables.messages.c
    async with db.read() as conn:
        rows = await conn.execute(sa.select(m.conversation_id).where(m.channel_id == channel_id)
                                  .distinct().order_by(m.conversation_id))
        return [row[0] for row in rows]


async def events_of(db: Database, type: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The agent-facing events in the outbox: (conversation id, event body)."""
    o = tables.outbox.c
    query = sa.select(o.key, o.payload).where(o.topic == "event").order_by(o.seq)
    if type is not None:
        query = query.where(o.type == type)
    async with db.read() as conn:
        return [(key, payload) for key, payload in (await conn.execute(query)).all()]
