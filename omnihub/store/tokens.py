"""Agent API tokens: shown once at creation, kept only as a SHA-256 hash, revocable.

Why a plain hash and no salt: tokens are 256 random bits, so a precomputed table is
useless against them, and an unsalted hash lets a unique index find the row in one
lookup. The comparison happens inside that index on the hash, never on the secret, so
timing reveals nothing about a valid token.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from omnihub.normalizer.ids import new_id
from omnihub.store.db import Database
from omnihub.store.tables import api_tokens

__all__ = [
    "ROLES",
    "CachedAuthenticator",
    "Principal",
    "TokenInfo",
    "authenticate",
    "create_token",
    "hash_token",
    "list_tokens",
    "revoke_token",
]

# Ordered from least to most privileged: a role may do everything the ones before it may.
ROLES: tuple[str, ...] = ("agent", "senior", "supervisor", "admin")
TOKEN_PREFIX = "oh_"
_MAX_TOKEN_LENGTH = 128  # a real token is 46 characters; longer input is never looked up
_MAX_AGENT_LENGTH = 80  # api_tokens.agent is String(80)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: the token's id, the agent's name and role."""

    id: str
    agent: str
    role: str

    def has_role(self, minimum: str) -> bool:
        """True when this principal's role is `minimum` or a more privileged one."""
        return ROLES.index(self.role) >= ROLES.index(_checked_role(minimum))


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token as an operator sees it: everything but the secret."""

    id: str
    agent: str
    role: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _checked_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
    return role


def hash_token(token: str) -> str:
    """The hex SHA-256 under which a token is stored and looked up."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(db: Database, agent: str, role: str) -> str:
    """Store a new token for `agent` with `role` and return it; it can't be shown again."""
    _checked_role(role)
    agent = agent.strip()
    if not agent or len(agent) > _MAX_AGENT_LENGTH:
        raise ValueError(f"agent name must be 1 to {_MAX_AGENT_LENGTH} characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with db.write() as conn:
        await conn.execute(
            api_tokens.insert().values(
                id=new_id(),
                agent=agent,
                role=role,
                token_hash=hash_token(token),
                created_at=datetime.now(UTC),
                revoked_at=None,
            )
        )
    return token


async def authenticate(db: Database, token: str) -> Principal | None:
    """The principal of a live token, or None for an unknown, malformed or revoked one."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN_LENGTH:
        return None
    query = sa.select(api_tokens.c.id, api_tokens.c.agent, api_tokens.c.role).where(
        api_tokens.c.token_hash == hash_token(token), api_tokens.c.revoked_at.is_(None)
    )
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else Principal(id=row.id, agent=row.agent, role=row.role)


async def revoke_token(db: Database, token_id: str) -> bool:
    """Revoke a token by id; False when no live token has that id."""
    async with db.write() as conn:
        result = await conn.execute(
            api_tokens.update()
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    return result.rowcount == 1


async def list_tokens(db: Database) -> list[TokenInfo]:
    """Every token ever issued, oldest first, revoked ones included."""
    query = sa.select(
        api_tokens.c.id,
        api_tokens.c.agent,
        api_tokens.c.role,
        api_tokens.c.created_at,
        api_tokens.c.revoked_at,
    ).order_by(api_tokens.c.id)
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [TokenInfo(r.id, r.agent, r.role, r.created_at, r.revoked_at) for r in rows]


class CachedAuthenticator:
    """`authenticate` with a short in-process memory, so each API request needn't query.

    Only accepted tokens are remembered, for `ttl` seconds: a revoked token keeps working
    in a process that saw it at most `ttl` seconds after `revoke_token` commits (in
    every process, since nothing is shared). Unknown tokens always reach the database,
    so a new token works at once and garbage can't crowd the cache.
    """

    def __init__(self, db: Database, *, ttl: float = 5.0, max_entries: int = 4096) -> None:
        self.db = db
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    async def authenticate(self, token: str) -> Principal | None:
        """Like `authenticate(db, token)`, answered from memory while fresh."""
        key = hash_token(token)
        now = time.monotonic()
        cached = self._entries.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        self._entries.pop(key, None)
        principal = await authenticate(self.db, token)
        if principal is not None:
            self._entries[key] = (now + self.ttl, principal)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return principal

    def clear(self) -> None:
        """Forget everything, e.g. right after this process revoked a token."""
        self._entries.clear()
