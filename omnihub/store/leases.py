"""Leases: exactly one process at a time runs a singleton worker, on any of the three DBs.

A lease row names its holder and an expiry. Acquiring is one conditional UPDATE (take
the row if it is mine or has expired) or, for a name never seen, an INSERT that the
primary key lets only one contender win; no SELECT ... FOR UPDATE, no dialect-specific
upsert. Every successful acquire bumps `token`, a fencing token: work stamped with an
older token can be refused after someone else took over. Expiry is judged on the
caller's clock, so holders' clocks must agree to well within the TTL (NTP does).

A holder that died (SIGKILL, OOM) would keep its lease until it expires: after a crash
and restart nothing would dispatch, time SLAs or poll mail for up to a TTL. Holders made
by `process_holder()` name their machine (host, boot, PID namespace) and PID, so a
process on the same machine can tell that the holder no longer exists and take the
lease over at once. Any doubt (another machine, another PID namespace, a PID in use,
a holder name of another form) leaves the lease to expire as before.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from omnihub.store.db import Database
from omnihub.store.tables import leases

__all__ = ["Lease", "acquire", "process_holder", "release", "renew"]

log = logging.getLogger("omnihub.store.leases")

_MAX_NAME_LENGTH = 128  # leases.name and leases.holder are String(128)
_SEP = "~"


@functools.cache
def _machine() -> str | None:
    """Host, boot and PID namespace: where a PID means the same process as here."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
        pid_namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None  # no way to tell: never judge another holder dead
    host = socket.gethostname().replace(_SEP, "-")[:48]
    return f"{host}{_SEP}{boot}{_SEP}{pid_namespace}"


def process_holder() -> str:
    """A lease holder name for this process that others on this machine can check."""
    machine = _machine() or socket.gethostname().replace(_SEP, "-")[:48]
    return f"{machine}{_SEP}{os.getpid()}{_SEP}{secrets.token_hex(3)}"


def _dead_here(holder: str) -> bool:
    """True only when `holder` was made by `process_holder()` on this very machine and PID
    namespace, and no process with its PID exists any more."""
    machine = _machine()
    head, _, rest = holder.rpartition(_SEP)  # rest: the random part
    head, _, pid_text = head.rpartition(_SEP)
    if machine is None or head != machine or not pid_text.isdigit() or not rest:
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (not ours to signal)
    return False


def _check(name: str, holder: str, ttl_seconds: float | None = None) -> None:
    if not 0 < len(name) <= _MAX_NAME_LENGTH or not 0 < len(holder) <= _MAX_NAME_LENGTH:
        raise ValueError(f"lease name and holder must be 1 to {_MAX_NAME_LENGTH} characters")
    if ttl_seconds is not None and not ttl_seconds > 0:
        raise ValueError(f"lease ttl must be positive, got {ttl_seconds!r}")


class Lease:
    """The lease operations; every call is one short write transaction."""

    @staticmethod
    async def acquire(db: Database, name: str, holder: str, ttl_seconds: float) -> int | None:
        """Take the lease for `ttl_seconds`; return its new fencing token, or None if held.

        Calling it again while holding the lease takes it afresh, with a new token.
        """
        _check(name, holder, ttl_seconds)
        now = datetime.now(UTC)
        expires_at = now + timedelta(seconds=ttl_seconds)
        row = leases.c
        async with db.write() as conn:
            taken = await conn.execute(
                leases.update()
                .where(row.name == name, sa.or_(row.holder == holder, row.expires_at < now))
                .values(holder=holder, token=row.token + 1, expires_at=expires_at)
            )
            if taken.rowcount == 1:
                return int(await conn.scalar(sa.select(row.token).where(row.name == name)))
            current = await conn.scalar(sa.select(row.holder).where(row.name == name))
            if current is not None:
                if not _dead_here(current):
                    return None  # held by someone else and not expired
                taken = await conn.execute(  # only if it is still the dead one's
                    leases.update()
                    .where(row.name == name, row.holder == current)
                    .values(holder=holder, token=row.token + 1, expires_at=expires_at))
                if taken.rowcount != 1:
                    return None
                log.info("lease %s: took over from %s, which no longer runs", name, current)
                return int(await conn.scalar(sa.select(row.token).where(row.name == name)))
        try:
            async with db.write() as conn:
                await conn.execute(
                    leases.insert().values(name=name, holder=holder, token=1, expires_at=expires_at)
                )
        except IntegrityError:
            return None  # another contender created it first
        return 1

    @staticmethod
    async def renew(db: Database, name: str, holder: str, token: int, ttl_seconds: float) -> bool:
        """Extend a lease still held under `token`; False once someone else has taken it."""
        _check(name, holder, ttl_seconds)
        expires_at = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
        row = leases.c
        async with db.write() as conn:
            result = await conn.execute(
                leases.update()
                .where(row.name == name, row.holder == holder, row.token == token)
                .values(expires_at=expires_at)
            )
        return result.rowcount == 1

    @staticmethod
    async def release(db: Database, name: str, holder: str, token: int) -> bool:
        """Give the lease up now so that another process needn't wait out the TTL.

        The row stays (expired) so that the next holder's token still grows.
        """
        _check(name, holder)
        row = leases.c
        async with db.write() as conn:
            result = await conn.execute(
                leases.update()
                .where(row.name == name, row.holder == holder, row.token == token)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        return result.rowcount == 1


acquire = Lease.acquire
renew = Lease.renew
release = Lease.release
