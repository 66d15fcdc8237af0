"""The IMAP side against a real Dovecot: IDLE, polling, the UID cursor across restarts and
a rebuilt mailbox, one poller for several hubs, and a server that goes away."""

from __future__ import annotations

import base64
import os
from typing import Any

from mailservers import (  # noqa: F401
    Dovecot,
    dovecot_fixture,
    dovecot_tls_fixture,
    email_channel,
    ingested,
    mail,
    messages,
    until,
)

from omnihub.hub.runtime import HUB
from omnihub.store.mail_cursors import Cursor, load_cursor, save_cursor


async def value(v: Any) -> Any:
    return v


async def test_idle_picks_up_new_mail(dovecot: Dovecot, start_hub: Any) -> None:
    # A poll interval of an hour and IDLE rounds of 200 s: only IDLE's push can bring the
    # mail in within the wait.
    client = await start_hub({"channels": [email_channel(
        dovecot, imap={"idle": True, "poll_seconds": 3600}, lease_seconds=600)]})
    hub = client.app[HUB]
    poller = hub.connectors["mail"].poller
    await until(lambda: value(poller.health.mode == "idle"), what="the poller to idle")
    raw, mid = mail()
    await dovecot.append(raw)
    stored = await until(lambda: messages(hub), what="the mail to be stored", timeout=20)
    assert [row.external_id for row in stored] == [mid]
    assert stored[0].channel_type == "email" and stored[0].raw_ref is not None


async def test_imap_over_tls_with_a_private_certificate(
        dovecot_tls: Dovecot, start_hub: Any) -> None:
    client = await start_hub({"channels": [email_channel(dovecot_tls)]})
    hub = client.app[HUB]
    raw, mid = mail()
    await dovecot_tls.append(raw)
    stored = await until(lambda: messages(hub), what="the mail read over IMAPS")
    assert [row.external_id for row in stored] == [mid]
    assert hub.connectors["mail"].poller.health.mode == "idle"


async def test_without_idle_the_mailbox_is_polled(dovecot: Dovecot, start_hub: Any) -> None:
    client = await start_hub({"channels": [email_channel(
        dovecot, imap={"idle": False, "poll_seconds": 0.2})]})
    hub = client.app[HUB]
    poller = hub.connectors["mail"].poller
    await until(lambda: value(poller.health.mode == "poll"), what="the poller to poll")
    first, first_id = mail(subject="one")
    second, second_id = mail(subject="two")
    await dovecot.append(first)
    await dovecot.append(second)
    stored = await until(lambda: _at_least(hub, 2), what="both mails")
    assert [row.external_id for row in stored] == [first_id, second_id]


async def _at_least(hub: Any, count: int) -> list[Any] | None:
    rows = await messages(hub)
    return rows if len(rows) >= count else None


async def test_a_restarted_hub_fetches_nothing_twice_and_skips_nothing(
        dovecot: Dovecot, start_hub: Any) -> None:
    config = {"channels": [email_channel(dovecot)]}
    ids = []
    for subject in ("one", "two"):
        raw, mid = mail(subject=subject)
        ids.append(mid)
        await dovecot.append(raw)
    client = await start_hub(config)
    await until(lambda: _at_least(client.app[HUB], 2), what="the first two mails")
    await client.close()
    raw, mid = mail(subject="three, while the hub was down")
    ids.append(mid)
    await dovecot.append(raw)

    client = await start_hub(config)
    hub = client.app[HUB]
    stored = await until(lambda: _at_least(hub, 3), what="the mail sent while down")
    poller = hub.connectors["mail"].poller
    await until(lambda: value(poller.health.last_poll_at), what="a finished round")
    assert [row.external_id for row in stored] == ids
    # The restarted hub began after the cursor: it did not even fetch the first two again.
    assert ingested(hub, "duplicate") == 0 and ingested(hub, "stored") == 1
    cursor = await load_cursor(hub.db, "mail", "INBOX")
    assert cursor is not None and cursor.last_uid == 3


async def test_a_changed_uidvalidity_reads_the_mailbox_again_without_duplicates(
        dovecot: Dovecot, start_hub: Any) -> None:
    imap = await dovecot.client()
    assert (await imap.create("Support")).result == "OK"
    await imap.logout()
    originals = [mail(subject=s) for s in ("one", "two")]
    for raw, _ in originals:
        await dovecot.append(raw, "Support")
    client = await start_hub({"channels": [email_channel(
        dovecot, imap={"mailbox": "Support"})]})
    hub = client.app[HUB]
    await until(lambda: _at_least(hub, 2), what="the first two mails")
    before = await load_cursor(hub.db, "mail", "Support")

    # The mailbox is rebuilt (restored from a backup, migrated to another server): every
    # UID is new, the same two mails come back, and a third one with them.
    imap = await dovecot.client()
    assert (await imap.delete("Support")).result == "OK"
    assert (await imap.create("Support")).result == "OK"
    await imap.logout()
    third, third_id = mail(subject="three")
    for raw in (originals[0][0], originals[1][0], third):
        await dovecot.append(raw, "Support")

    stored = await until(lambda: _at_least(hub, 3), what="the new mail")

    async def read_again() -> Any:
        cursor = await load_cursor(hub.db, "mail", "Support")
        return cursor if cursor and cursor.uidvalidity != before.uidvalidity \
            and cursor.last_uid == 3 else None

    after = await until(read_again, what="the cursor under the new UIDVALIDITY")
    assert before is not None and after.uidvalidity != before.uidvalidity
    assert [row.external_id for row in stored] == [originals[0][1], originals[1][1], third_id]
    assert len(await messages(hub)) == 3
    assert ingested(hub, "duplicate") == 2  # read again, stored once


async def test_two_hubs_on_one_mailbox_run_one_poller(
        make_store_url: Any, dovecot: Dovecot, start_hub: Any, tmp_path: Any) -> None:
    url = await make_store_url("postgresql")
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    config = {"store": {"url": url}, "security": {"pii_key": key},
              "channels": [email_channel(dovecot, lease_seconds=3)]}
    clients = [await start_hub({**config, "data_dir": str(tmp_path / name)}) for name in "ab"]
    first, second = (client.app[HUB] for client in clients)
    pollers = [first.connectors["mail"].poller, second.connectors["mail"].poller]

    async def one_polls() -> bool:
        return sorted(p.health.role for p in pollers) == ["polling", "standby"]

    await until(one_polls, what="one poller and one standby")
    sent = []
    for subject in ("one", "two", "three"):
        raw, mid = mail(subject=subject)
        sent.append(mid)
        await dovecot.append(raw)
    stored = await until(lambda: _at_least(first, 3), what="three mails")
    assert [row.external_id for row in stored] == sent
    assert ingested(first, "duplicate") + ingested(second, "duplicate") == 0
    assert ingested(first, "stored") + ingested(second, "stored") == 3
    assert await one_polls()

    # The poller's hub stops (it gives the lease up): the other one takes the mailbox over
    # where the first left it.
    polling = 0 if pollers[0].health.role == "polling" else 1
    await clients[polling].close()
    survivor = (first, second)[1 - polling]
    raw, mid = mail(subject="four")
    await dovecot.append(raw)
    await until(lambda: value(pollers[1 - polling].health.role == "polling"),
                what="the standby to take over")
    stored = await until(lambda: _at_least(survivor, 4), what="the fourth mail")
    assert stored[-1].external_id == mid
    assert ingested(survivor, "duplicate") == 0


async def test_cursor_writes_are_fenced(db: Any) -> None:
    """A poller that lost its lease (token 1) cannot move the cursor back under the one
    that took over (token 2); every backend."""
    assert await save_cursor(db, "mail", "INBOX", Cursor(7, 10), fencing_token=1)
    assert await save_cursor(db, "mail", "INBOX", Cursor(7, 12), fencing_token=2)
    assert not await save_cursor(db, "mail", "INBOX", Cursor(7, 11), fencing_token=1)
    assert await load_cursor(db, "mail", "INBOX") == Cursor(7, 12)
    assert await load_cursor(db, "mail", "Other") is None


async def test_a_server_that_goes_away_degrades_readyz_and_its_mail_arrives_after(
        dovecot: Dovecot, start_hub: Any) -> None:
    client = await start_hub({"channels": [email_channel(dovecot)]})
    hub = client.app[HUB]
    poller = hub.connectors["mail"].poller
    await until(lambda: value(poller.health.last_poll_at), what="a first round")
    ready = await (await client.get("/readyz")).json()
    assert ready["status"] == "ready" and ready["channels"]["mail"]["status"] == "ok"

    dovecot.stop()

    async def degraded() -> Any:
        response = await client.get("/readyz")
        body = await response.json()
        return body if response.status == 200 and body["status"] == "degraded" else None

    body = await until(degraded, what="/readyz to report the mailbox down")
    assert body["channels"]["mail"]["status"] == "down" and body["channels"]["mail"]["error"]
    metrics = await (await client.get("/metrics")).text()
    assert 'omnihub_imap_poll_lag_seconds{channel="mail"}' in metrics
    raw, mid = mail(subject="sent while the server was down")
    dovecot.drop_into_maildir(raw)
    dovecot.start()

    stored = await until(lambda: messages(hub), what="the mail it missed")
    assert [row.external_id for row in stored] == [mid]
    ready = await until(lambda: _ready(client), what="/readyz to recover")
    assert ready["channels"]["mail"]["status"] == "ok"


async def _ready(client: Any) -> Any:
    body = await (await client.get("/readyz")).json()
    return body if body["status"] == "ready" else None
