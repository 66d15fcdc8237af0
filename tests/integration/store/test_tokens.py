"""API tokens on every backend: issued once, stored hashed, revocable."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from omnihub.store.db import Database
from omnihub.store.tables import api_tokens
from omnihub.store.tokens import (
    ROLES,
    CachedAuthenticator,
    Principal,
    authenticate,
    create_token,
    hash_token,
    list_tokens,
    revoke_token,
)


async def test_created_token_authenticates_as_its_agent_and_role(db: Database) -> None:
    token = await create_token(db, "alice", "supervisor")
    principal = await authenticate(db, token)
    assert principal is not None
    assert (principal.agent, principal.role) == ("alice", "supervisor")
    assert token.startswith("oh_") and len(token) == 3 + 43


async def test_only_the_hash_is_stored(db: Database) -> None:
    token = await create_token(db, "alice", "agent")
    async with db.read() as conn:
        stored = (await conn.execute(sa.select(api_tokens))).one()
    assert stored.token_hash == hash_token(token)
    assert token not in [str(value) for value in stored]


async def test_each_token_is_distinct(db: Database) -> None:
    first = await authenticate(db, await create_token(db, "alice", "agent"))
    second = await authenticate(db, await create_token(db, "alice", "agent"))
    assert first is not None and second is not None
    assert first.id != second.id
    assert sorted(info.id for info in await list_tokens(db)) == sorted([first.id, second.id])


@pytest.mark.parametrize("garbage", ["", "oh_", "oh_nope", "Bearer x", "oh_" + "a" * 500])
async def test_unknown_tokens_are_refused(db: Database, garbage: str) -> None:
    await create_token(db, "alice", "agent")
    assert await authenticate(db, garbage) is None


async def test_revoked_token_stops_working_and_is_listed_as_revoked(db: Database) -> None:
    keep = await create_token(db, "alice", "agent")
    drop = await create_token(db, "bob", "admin")
    dropped = await authenticate(db, drop)
    assert dropped is not None

    assert await revoke_token(db, dropped.id) is True
    assert await authenticate(db, drop) is None
    assert await authenticate(db, keep) is not None
    assert await revoke_token(db, dropped.id) is False  # already revoked
    assert await revoke_token(db, "01NOSUCHTOKEN0000000000000") is False

    listed = {info.agent: info for info in await list_tokens(db)}
    assert listed["alice"].active and listed["alice"].revoked_at is None
    assert not listed["bob"].active and listed["bob"].revoked_at is not None
    assert listed["bob"].revoked_at.tzinfo is not None


async def test_unknown_role_names_the_valid_ones(db: Database) -> None:
    with pytest.raises(ValueError, match="agent, senior, supervisor, admin"):
        await create_token(db, "alice", "root")
    assert await list_tokens(db) == []


async def test_agent_name_is_required(db: Database) -> None:
    with pytest.raises(ValueError, match="agent name"):
        await create_token(db, "  ", "agent")


def test_roles_are_ordered_by_privilege() -> None:
    senior = Principal(id="x", agent="a", role="senior")
    assert [senior.has_role(r) for r in ROLES] == [True, True, False, False]
    with pytest.raises(ValueError, match="valid roles"):
        senior.has_role("boss")


async def test_cache_serves_a_revoked_token_no_longer_than_its_ttl(db: Database) -> None:
    token = await create_token(db, "alice", "agent")
    principal = await authenticate(db, token)
    assert principal is not None
    cached = CachedAuthenticator(db, ttl=0.3)
    assert await cached.authenticate(token) == principal

    await revoke_token(db, principal.id)
    assert await cached.authenticate(token) == principal  # still fresh in memory
    await asyncio.sleep(0.35)
    assert await cached.authenticate(token) is None


async def test_cache_does_not_remember_refusals(db: Database) -> None:
    cached = CachedAuthenticator(db, ttl=60)
    assert await cached.authenticate("oh_not_yet") is None
    token = await create_token(db, "alice", "agent")
    assert await cached.authenticate(token) is not None
