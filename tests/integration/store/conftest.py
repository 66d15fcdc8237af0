"""Store fixtures: a started Store on each backend, a cipher, and inbound-message factories."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import sqlalchemy as sa

from omnihub.normalizer.schema import Identity, InboundMessage, Sender, TextPart
from omnihub.store import Store
from omnihub.store.crypto import PiiCipher, derive_index_key
from omnihub.store.db import Database
from omnihub.store.tables import outbox

PRIMARY_KEY = bytes(range(32))


@pytest.fixture
def cipher() -> PiiCipher:
    return PiiCipher([PRIMARY_KEY], derive_index_key(PRIMARY_KEY))


@pytest.fixture
async def store(db: Database, cipher: PiiCipher) -> AsyncIterator[Store]:
    store = Store(db, cipher)
    await store.start()
    yield store
    await store.close()


def make_inbound(
    external_id: str,
    *identities: Identity | tuple[str, str] | tuple[str, str, bool],
    channel_id: str = "tg",
    channel_type: str = "telegram",
    text: str = "hello",
    **fields: Any,
) -> InboundMessage:
    """An inbound message; identities as Identity or (kind, address[, verified])."""
    idents = [
        i
        if isinstance(i, Identity)
        else Identity(kind=i[0], address=i[1], verified=i[2] if len(i) > 2 else False)
        for i in identities
    ] or [Identity(kind="telegram", address="1001")]
    return InboundMessage(
        channel_id=channel_id,
        channel_type=channel_type,
        external_id=external_id,
        sender=Sender(identities=idents, display_name=fields.pop("name", None)),
        parts=[TextPart(text=text)],
        **fields,
    )


@pytest.fixture
def inbound() -> Callable[..., InboundMessage]:
    return make_inbound


@pytest.fixture
def events(db: Database) -> Callable[..., Any]:
    """`await events()` -> the outbox payloads of topic "event", in order (optionally of a type)."""

    async def read(type: str | None = None) -> list[dict[str, Any]]:
        stmt = sa.select(outbox.c.payload).where(outbox.c.topic == "event").order_by(outbox.c.seq)
        if type is not None:
            stmt = stmt.where(outbox.c.type == type)
        async with db.read() as conn:
            return list((await conn.execute(stmt)).scalars())

    return read


@pytest.fixture
def count_rows(db: Database) -> Callable[..., Any]:
    async def count(table: sa.Table) -> int:
        async with db.read() as conn:
            return (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()

    return count
