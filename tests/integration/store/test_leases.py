"""Leases on every backend: one holder at a time, fencing tokens that only grow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from omnihub.store.db import Database
from omnihub.store.leases import Lease, process_holder
from omnihub.store.migrate import upgrade


async def test_second_holder_is_refused_while_the_first_holds(db: Database) -> None:
    token = await Lease.acquire(db, "dispatcher", "proc-a", 30)
    assert token == 1
    assert await Lease.acquire(db, "dispatcher", "proc-b", 30) is None
    assert await Lease.acquire(db, "sla-timers", "proc-b", 30) == 1  # other names are free


async def test_expired_lease_is_taken_over_with_a_larger_token(db: Database) -> None:
    first = await Lease.acquire(db, "dispatcher", "proc-a", 0.2)
    assert first is not None
    await asyncio.sleep(0.3)
    second = await Lease.acquire(db, "dispatcher", "proc-b", 30)
    assert second is not None and second > first


async def test_renew_fails_after_takeover(db: Database) -> None:
    first = await Lease.acquire(db, "dispatcher", "proc-a", 0.2)
    assert first is not None
    assert await Lease.renew(db, "dispatcher", "proc-a", first, 0.2) is True
    await asyncio.sleep(0.3)
    second = await Lease.acquire(db, "dispatcher", "proc-b", 30)
    assert second is not None

    assert await Lease.renew(db, "dispatcher", "proc-a", first, 30) is False
    assert await Lease.release(db, "dispatcher", "proc-a", first) is False
    assert await Lease.acquire(db, "dispatcher", "proc-a", 30) is None  # b still holds it
    assert await Lease.renew(db, "dispatcher", "proc-b", second, 30) is True


async def test_renew_keeps_the_lease_past_its_first_ttl(db: Database) -> None:
    token = await Lease.acquire(db, "poller", "proc-a", 0.3)
    assert token is not None
    for _ in range(3):
        await asyncio.sleep(0.15)
        assert await Lease.renew(db, "poller", "proc-a", token, 0.3) is True
    assert await Lease.acquire(db, "poller", "proc-b", 30) is None


async def test_release_hands_over_at_once_and_the_token_still_grows(db: Database) -> None:
    first = await Lease.acquire(db, "dispatcher", "proc-a", 30)
    assert first is not None
    assert await Lease.release(db, "dispatcher", "proc-a", first) is True
    second = await Lease.acquire(db, "dispatcher", "proc-b", 30)
    assert second is not None and second > first


async def test_reacquiring_ones_own_lease_gives_a_new_token(db: Database) -> None:
    first = await Lease.acquire(db, "dispatcher", "proc-a", 30)
    second = await Lease.acquire(db, "dispatcher", "proc-a", 30)
    assert first is not None and second is not None and second > first
    assert await Lease.renew(db, "dispatcher", "proc-a", first, 30) is False


async def test_bad_arguments_are_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await Lease.acquire(db, "dispatcher", "proc-a", 0)
    with pytest.raises(ValueError, match="1 to 128"):
        await Lease.acquire(db, "", "proc-a", 10)
    with pytest.raises(ValueError, match="1 to 128"):
        await Lease.acquire(db, "dispatcher", "x" * 129, 10)


@pytest.fixture
async def separate_databases(store_url: str) -> AsyncIterator[Callable[[int], list[Database]]]:
    """Factory of Database handles on one store, each with its own engine and connections."""
    opened: list[Database] = []
    setup = Database(store_url)
    await upgrade(setup)
    await setup.dispose()

    def open_many(count: int) -> list[Database]:
        opened.extend(Database(store_url) for _ in range(count))
        return opened[-count:]

    yield open_many
    for database in opened:
        await database.dispose()


async def test_twenty_concurrent_contenders_on_a_new_name_have_one_winner(
    separate_databases: Callable[[int], list[Database]],
) -> None:
    handles = separate_databases(20)
    results = await asyncio.gather(
        *(Lease.acquire(h, "imap-poller", f"proc-{i}", 30) for i, h in enumerate(handles))
    )
    assert sorted(results, key=lambda r: r or 0) == [None] * 19 + [1]


async def test_twenty_concurrent_contenders_on_an_expired_lease_have_one_winner(
    separate_databases: Callable[[int], list[Database]],
) -> None:
    first, *handles = separate_databases(21)
    old = await Lease.acquire(first, "imap-poller", "proc-old", 0.1)
    assert old is not None
    await asyncio.sleep(0.2)
    results = await asyncio.gather(
        *(Lease.acquire(h, "imap-poller", f"proc-{i}", 30) for i, h in enumerate(handles))
    )
    winners = [r for r in results if r is not None]
    assert winners == [old + 1]


async def test_a_lease_of_a_process_that_died_on_this_machine_is_taken_over_at_once(
    db: Database,
) -> None:
    """After a SIGKILL and a restart, the new process need not wait out the TTL."""
    import subprocess
    import sys

    child = subprocess.run(  # a real process that held the lease and is gone now
        [sys.executable, "-c", "from omnihub.store.leases import process_holder; "
         "print(process_holder())"], capture_output=True, text=True, check=True)
    dead = child.stdout.strip()
    first = await Lease.acquire(db, "dispatcher", dead, 3600)
    assert first is not None

    token = await Lease.acquire(db, "dispatcher", process_holder(), 30)
    assert token is not None and token > first


async def test_a_living_or_foreign_holder_keeps_its_lease(db: Database) -> None:
    alive = process_holder()  # this very process: alive
    assert await Lease.acquire(db, "a", alive, 3600) == 1
    assert await Lease.acquire(db, "a", process_holder(), 30) is None
    machine, _, _ = alive.rpartition("~")[0].rpartition("~")
    foreign = alive.replace(machine, "elsewhere~00000000~1", 1)  # another machine
    gone = foreign.rpartition("~")[0].rpartition("~")[0] + "~4194399~abc"
    assert await Lease.acquire(db, "b", gone, 3600) == 1
    assert await Lease.acquire(db, "b", process_holder(), 30) is None  # can't tell: wait
    assert await Lease.acquire(db, "c", "proc-a", 3600) == 1  # not a process_holder name
    assert await Lease.acquire(db, "c", process_holder(), 30) is None
