"""Routing fixtures: a store with the test desk's routing.yaml, its assigner and SLA worker,
and helpers that put conversations where a test wants them."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from omnihub.normalizer.schema import Identity, InboundMessage, Sender, TextPart
from omnihub.router.assigner import Assigner
from omnihub.router.ingest_hook import RoutingHook
from omnihub.router.runtime import RoutingState
from omnihub.router.sla_worker import SlaWorker
from omnihub.store import Store
from omnihub.store import agents as agent_store
from omnihub.store.audit import Actor
from omnihub.store.crypto import PiiCipher, derive_index_key
from omnihub.store.db import Database
from omnihub.store.migrate import upgrade
from omnihub.store.tables import conversations, outbox

from ..hub.conftest import HubClient, api_post, make_hub  # noqa: F401

DATA = Path(__file__).parent / "data"
KEY = bytes(range(32))
SUPERVISOR = Actor("sue", "supervisor")


def routing_file(tmp_path: Path, name: str = "desk.yaml") -> Path:
    """A copy of a data file the test may rewrite."""
    target = tmp_path / "routing" / "routing.yaml"
    target.parent.mkdir(exist_ok=True)
    shutil.copy(DATA / name, target)
    return target


def inbound(external_id: str, customer: str, text: str = "hello", *,
            channel_type: str = "api") -> InboundMessage:
    return InboundMessage(
        channel_id="shop", channel_type=channel_type, external_id=external_id,
        sender=Sender(identities=[Identity(kind="api", address=f"shop:{customer}")]),
        parts=[TextPart(text=text)])


@dataclass
class Desk:
    """A started store with routing, its assigner and an SLA worker (none of them running
    loops: tests call `serve` and `tick` themselves)."""

    db: Database
    store: Store
    routing: RoutingState
    assigner: Assigner
    cipher: PiiCipher
    created: list[str] = field(default_factory=list)

    def worker(self, holder: str) -> SlaWorker:
        return SlaWorker(self.store, self.routing, holder=holder)

    async def message(self, external_id: str, customer: str, text: str = "hello") -> str:
        result = await self.store.ingest(inbound(external_id, customer, text))
        return result.message.conversation_id

    async def conversation(self, customer: str, group: str | None, *, priority: int = 0,
                           waiting_since: datetime | None = None, **columns: Any) -> str:
        """A conversation placed in a group's queue (unassigned) with the given columns."""
        conversation_id = await self.message(f"m-{len(self.created)}-{customer}", customer)
        self.created.append(conversation_id)
        values = {"skill_group": group, "priority": priority, "assignee": None, **columns}
        if waiting_since is not None:
            values["waiting_since"] = waiting_since
        await self.set(conversation_id, **values)
        return conversation_id

    async def set(self, conversation_id: str, **values: Any) -> None:
        async with self.db.write() as conn:
            await conn.execute(sa.update(conversations)
                               .where(conversations.c.id == conversation_id).values(**values))

    async def get(self, conversation_id: str) -> Any:
        conversation = await self.store.get_conversation(conversation_id)
        assert conversation is not None
        return conversation

    async def online(self, *agents: str, availability: str = "online") -> None:
        for agent in agents:
            await agent_store.set_availability(self.db, agent, availability,  # type: ignore[arg-type]
                                               actor=SUPERVISOR)

    async def events(self, type: str) -> list[dict[str, Any]]:
        stmt = (sa.select(outbox.c.payload).where(outbox.c.topic == "event", outbox.c.type == type)
                .order_by(outbox.c.seq))
        async with self.db.read() as conn:
            return list((await conn.execute(stmt)).scalars())


async def open_desk(url: str, tmp_path: Path, *, routing: Path | None = None,
                    hooked: bool = True) -> AsyncIterator[Desk]:
    db = Database(url)
    await upgrade(db)
    cipher = PiiCipher([KEY], derive_index_key(KEY))
    routing = RoutingState(routing or routing_file(tmp_path))
    store = Store(db, cipher, router=RoutingHook(routing) if hooked else None)
    await store.start()
    try:
        yield Desk(db, store, routing, Assigner(store, routing), cipher)
    finally:
        await store.close()
        await db.dispose()


@pytest.fixture
async def desk(make_store_url, tmp_path: Path) -> AsyncIterator[Desk]:  # type: ignore[no-untyped-def]
    async for opened in open_desk(await make_store_url("sqlite"), tmp_path):
        yield opened


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
async def any_desk(request: pytest.FixtureRequest, make_store_url, tmp_path: Path
                   ) -> AsyncIterator[Desk]:  # type: ignore[no-untyped-def]
    async for opened in open_desk(await make_store_url(request.param), tmp_path):
        yield opened


def ago(minutes: float, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(minutes=minutes)


__all__ = ["Desk", "HubClient", "api_post", "ago", "inbound", "routing_file"]
