"""An IMAP server that drops the poller's connection in the middle of IDLE.

The poller's `imap` session process is SIGKILLed while it idles (the server stays up), and
a mail is delivered into the mailbox in that very gap; then it happens again. The poller
reconnects by itself, takes in the mail that came while it was away and the ones pushed
over its new IDLE, and fetches nothing twice (no duplicate ingest) and skips nothing.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[2] / "contract" / "email"))

from mailservers import Dovecot, dovecot_fixture, email_channel, ingested, mail, messages  # noqa: E402,F401

from omnihub.hub.runtime import HUB  # noqa: E402

from .conftest import until  # noqa: E402


def imap_sessions(dovecot: Dovecot) -> set[int]:
    """The pids of Dovecot's `imap` session processes (one per logged-in client)."""
    assert dovecot.process is not None
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            pgid = os.getpgid(int(entry.name))
        except (OSError, ProcessLookupError):
            continue
        if comm == "imap" and pgid == dovecot.process.pid:
            found.add(int(entry.name))
    return found


async def test_a_connection_dropped_during_idle_skips_and_doubles_nothing(
        dovecot: Dovecot, start_hub: Any) -> None:
    # Polling once an hour: only IDLE pushes and the reconnect's catch-up bring mail in.
    client = await start_hub({"channels": [email_channel(
        dovecot, imap={"idle": True, "poll_seconds": 3600}, lease_seconds=600)]})
    hub = client.app[HUB]
    poller = hub.connectors["mail"].poller
    expected: list[str] = []

    async def idling_on_a_session() -> set[int] | None:
        sessions = imap_sessions(dovecot)
        return sessions if poller.health.mode == "idle" and len(sessions) == 1 else None

    async def all_stored() -> bool:
        return sorted(m.external_id for m in await messages(hub)) == sorted(expected)

    raw, mid = mail(subject="before")
    await dovecot.append(raw)
    expected.append(mid)
    await until(all_stored, what="the first mail")

    for round_ in range(2):
        [session] = await until(idling_on_a_session, what="the poller to idle")
        os.kill(session, signal.SIGKILL)  # the connection drops mid-IDLE
        raw, mid = mail(subject=f"in the gap {round_}")
        dovecot.drop_into_maildir(raw)  # arrives while the poller is away
        expected.append(mid)

        async def reconnected(old: int = session) -> bool:
            sessions = imap_sessions(dovecot)
            return poller.health.mode == "idle" and bool(sessions) and old not in sessions

        try:
            await until(reconnected, what="the poller to reconnect and idle again", timeout=30)
        except AssertionError as exc:  # say what the poller was doing, and what Dovecot saw
            log = (dovecot.root / "dovecot.log").read_text()[-1500:]
            raise AssertionError(f"{exc}: {poller.health}, sessions {imap_sessions(dovecot)}"
                                 f"\n{log}") from None
        raw, mid = mail(subject=f"after the drop {round_}")
        await dovecot.append(raw)  # pushed over the new session's IDLE
        expected.append(mid)
        await until(all_stored, what=f"every mail after drop {round_}", timeout=30)

    assert poller.health.failures == 0 and poller.health.role == "polling"
    stored = await messages(hub)
    assert len(stored) == len(expected) == 5
    assert ingested(hub, "duplicate") == 0, "a mail was fetched twice"
    assert ingested(hub, "stored") == 5
    body = await (await client.get("/readyz")).json()
    assert body["status"] == "ready" and body["channels"]["mail"]["status"] == "ok"
