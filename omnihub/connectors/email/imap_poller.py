"""Reading one IMAP mailbox (aioimaplib): IDLE when offered, polling otherwise.

Promises, and how they are kept:

- **Nothing fetched twice, nothing skipped** across restarts and reconnects: the cursor
  (UIDVALIDITY, last UID; RFC 3501 §2.3.1.1) lives in the store and moves past a mail only
  after `on_mail` returned, i.e. after the hub committed it. A crash in between re-fetches
  that one mail, and ingest's dedupe on its Message-ID makes that harmless. A changed
  UIDVALIDITY (the mailbox was rebuilt) invalidates every UID: the mailbox is read again
  from the start, and dedupe again keeps it to the mail not yet stored.
- **One poller per mailbox** across hub processes: a database lease, renewed between
  rounds; cursor writes carry its fencing token, so a poller that lost the lease (a long
  GC pause, a partition) cannot move the cursor under its successor.
- **A server that goes away** is retried with exponential backoff (capped, jittered); the
  state is kept in `health` for /readyz and the poll lag in /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import aioimaplib

from omnihub.connectors.email.settings import EmailSettings
from omnihub.hub.background import cancel_and_wait
from omnihub.store.db import Database
from omnihub.store.leases import Lease, process_holder
from omnihub.store.mail_cursors import Cursor, load_cursor, save_cursor

__all__ = ["ImapUnavailable", "MailboxPoller", "PollerHealth"]

log = logging.getLogger("omnihub.connectors.email.imap")

_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_FETCH_UID = re.compile(rb"UID (\d+)")
IDLE_MAX_SECONDS = 29 * 60  # RFC 2177: re-issue IDLE at least every 29 minutes

T = TypeVar("T")

#: called with (uid, raw bytes) for each new mail; returns once the mail is committed
OnMail = Callable[[int, bytes], Awaitable[None]]


class ImapUnavailable(Exception):
    """The server refused or dropped us; the poller backs off and reconnects."""


@dataclass(slots=True)
class PollerHealth:
    """What /readyz and /metrics show of a poller. `role` is `polling` while this process
    holds the mailbox, `standby` while another one does, `down` while it cannot reach it."""

    role: str = "starting"
    mode: str | None = None  # idle | poll
    last_poll_at: float | None = None  # time.time() of the last completed round
    last_error: str | None = None
    failures: int = 0  # consecutive failed attempts

    @property
    def ok(self) -> bool:
        return self.role in ("polling", "standby", "starting")


def lease_name(channel_id: str, mailbox: str) -> str:
    name = f"imap:{channel_id}:{mailbox}"
    if len(name) <= 128:
        return name
    return f"imap:{channel_id}:{hashlib.sha256(mailbox.encode()).hexdigest()[:32]}"


class MailboxPoller:
    """Runs until stopped: take the lease, read the mailbox, wait, repeat."""

    def __init__(self, settings: EmailSettings, db: Database, on_mail: OnMail, *,
                 on_polled: Callable[[float], object] | None = None,
                 holder: str | None = None) -> None:
        self.settings = settings
        self.db = db
        self.on_mail = on_mail
        self.on_polled = on_polled
        self.holder = holder or process_holder()
        self.lease = lease_name(settings.id, settings.imap.mailbox)
        self.health = PollerHealth()
        self._task: asyncio.Task[None] | None = None
        self._token: int | None = None
        self._lost = asyncio.Event()

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"imap-poller-{self.settings.id}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        if self._token is not None:
            with contextlib.suppress(Exception):
                await Lease.release(self.db, self.lease, self.holder, self._token)
            self._token = None

    @property
    def _third(self) -> float:
        return self.settings.lease_seconds / 3

    async def _run(self) -> None:
        while True:
            try:
                self._token = await Lease.acquire(self.db, self.lease, self.holder,
                                                  self.settings.lease_seconds)
            except Exception as exc:  # the store is down: nothing to commit into anyway
                self._failed(f"store: {exc}")
                await asyncio.sleep(self._backoff())
                continue
            if self._token is None:
                self.health.role, self.health.mode = "standby", None
                self.health.failures, self.health.last_error = 0, None
                if self.on_polled is not None:  # no lag here: another process polls (and
                    self.on_polled(time.time())  # shows its own lag if it falls behind)
                await asyncio.sleep(self._third)
                continue
            try:
                await self._session(self._token)
            except (ImapUnavailable, aioimaplib.AioImapException, OSError, TimeoutError) as exc:
                self._failed(str(exc) or type(exc).__name__)
                await asyncio.sleep(self._backoff())
            except Exception as exc:  # the hub refused or the store failed: retry the mail
                log.exception("channel %s: taking mail in failed", self.settings.id)
                self._failed(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(self._backoff())

    def _failed(self, reason: str) -> None:
        first = self.health.failures == 0
        self.health.role, self.health.mode = "down", None
        self.health.failures += 1
        self.health.last_error = reason[:300]
        (log.warning if first else log.info)(
            "channel %s: mailbox unavailable (attempt %d): %s", self.settings.id,
            self.health.failures, reason)

    def _backoff(self) -> float:
        s = self.settings
        delay = min(s.retry_max_seconds, s.retry_base_seconds * 2 ** (self.health.failures - 1))
        return delay * random.uniform(0.8, 1.0)

    # ---------------------------------------------------------------- one connection

    async def _connect(self) -> aioimaplib.IMAP4:
        imap_settings = self.settings.imap
        self._lost = asyncio.Event()
        lost = self._lost

        def on_lost(_exc: Exception | None) -> None:
            lost.set()

        if imap_settings.ssl:
            imap: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
                imap_settings.host, imap_settings.port, timeout=imap_settings.timeout_seconds,
                ssl_context=ssl.create_default_context(cafile=imap_settings.ca_file))
            imap.protocol.conn_lost_cb = on_lost
        else:
            imap = aioimaplib.IMAP4(imap_settings.host, imap_settings.port,
                                    timeout=imap_settings.timeout_seconds, conn_lost_cb=on_lost)
        try:
            await imap.wait_hello_from_server()
            login = await imap.login(imap_settings.username, imap_settings.password)
            if login.result != "OK":
                raise ImapUnavailable(f"IMAP login refused: {_text(login)}")
        except BaseException:
            await _close(imap)
            raise
        return imap

    async def _session(self, token: int) -> None:
        """Read the mailbox until the lease is lost (returns) or the server fails (raises)."""
        imap = await self._connect()
        try:
            selected = await self._call(imap.select(self.settings.imap.mailbox))
            if selected.result != "OK":
                raise ImapUnavailable(
                    f"cannot open mailbox {self.settings.imap.mailbox!r}: {_text(selected)}")
            uidvalidity = _uidvalidity(selected.lines)
            idle = self.settings.imap.idle and imap.has_capability("IDLE")
            self.health.mode = "idle" if idle else "poll"
            while True:
                if not await self._fetch_new(imap, uidvalidity, token):
                    return
                self.health.role, self.health.failures, self.health.last_error = \
                    "polling", 0, None
                self.health.last_poll_at = time.time()
                if self.on_polled is not None:
                    self.on_polled(self.health.last_poll_at)
                if not await self._pause(imap, token, idle):
                    return
        finally:
            await _close(imap)

    async def _renew(self, token: int) -> bool:
        if await Lease.renew(self.db, self.lease, self.holder, token, self.settings.lease_seconds):
            return True
        log.warning("channel %s: lost the mailbox lease; standing by", self.settings.id)
        self._token = None
        return False

    async def _fetch_new(self, imap: aioimaplib.IMAP4, uidvalidity: int, token: int) -> bool:
        """Take in every mail after the cursor, oldest first; False once fenced out."""
        cursor = await load_cursor(self.db, self.settings.id, self.settings.imap.mailbox)
        if cursor is not None and cursor.uidvalidity != uidvalidity:
            log.warning("channel %s: UIDVALIDITY changed (%d -> %d); reading the mailbox "
                        "again, already stored mail is skipped as duplicate",
                        self.settings.id, cursor.uidvalidity, uidvalidity)
            cursor = None
        last = cursor.last_uid if cursor is not None else 0
        found = await self._call(imap.uid_search(f"UID {last + 1}:*", charset=None))
        self._check(found, "UID SEARCH")
        uids = _search_uids(found.lines[:-1])
        for uid in (u for u in uids if u > last):  # "n:*" also matches the highest UID < n
            raw = await self._fetch_one(imap, uid)
            if raw is not None:
                await self.on_mail(uid, raw)
            if not await save_cursor(self.db, self.settings.id, self.settings.imap.mailbox,
                                     Cursor(uidvalidity, uid), token):
                log.warning("channel %s: a newer poller owns the mailbox", self.settings.id)
                self._token = None
                return False
        return True

    async def _fetch_one(self, imap: aioimaplib.IMAP4, uid: int) -> bytes | None:
        fetched = await self._call(imap.uid("fetch", str(uid), "(UID BODY.PEEK[])"))
        self._check(fetched, "UID FETCH")
        for index, line in enumerate(fetched.lines):
            if isinstance(line, bytearray) and index > 0:
                header = bytes(fetched.lines[index - 1])
                match = _FETCH_UID.search(header)
                if match is None or int(match.group(1)) == uid:
                    return bytes(line)
        log.info("channel %s: UID %d vanished before it was fetched", self.settings.id, uid)
        return None  # expunged meanwhile: nothing to take in

    def _check(self, response: aioimaplib.Response, what: str) -> None:
        if self._lost.is_set():
            raise ImapUnavailable("the IMAP server closed the connection")
        if response.result != "OK":
            raise ImapUnavailable(f"{what} failed: {_text(response)}")

    async def _pause(self, imap: aioimaplib.IMAP4, token: int, idle: bool) -> bool:
        """Wait for new mail: an IDLE push, or the poll interval. The lease is renewed at
        least every third of its life; False once it is lost."""
        wait = min(self._third, IDLE_MAX_SECONDS) if idle else self.settings.imap.poll_seconds
        deadline = time.monotonic() + wait
        while True:
            chunk = max(0.0, min(deadline - time.monotonic(), self._third))
            pushed = await (self._idle(imap, chunk) if idle else self._sleep(chunk))
            if not await self._renew(token):
                return False
            if pushed or time.monotonic() >= deadline:
                return True

    async def _sleep(self, seconds: float) -> bool:
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({lost}, timeout=seconds)
        finally:
            lost.cancel()
        if self._lost.is_set():
            raise ImapUnavailable("the IMAP server closed the connection")
        return False

    async def _idle(self, imap: aioimaplib.IMAP4, seconds: float) -> bool:
        """One IDLE round (RFC 2177); True when the server announced a change."""
        # aioimaplib waits for the server's "+ idling" with no timeout of its own: a
        # connection that drops right after IDLE was sent would hang here for good.
        idling = await self._call(imap.idle_start(timeout=seconds))
        push = asyncio.ensure_future(imap.wait_server_push(timeout=seconds + 5))
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({push, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not push.done():
                push.cancel()
        if self._lost.is_set():
            raise ImapUnavailable("the IMAP server closed the connection")
        news = None
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            news = push.result()
        lines = [bytes(line) for line in news] if isinstance(news, list) else []
        # BYE ends the session; an untagged NO/BAD while idling means the server lost track
        # of the mailbox (Dovecot, when it is deleted under us): a new session re-selects
        # it and sees its UIDVALIDITY afresh.
        trouble = [line for line in lines if line.startswith((b"BYE", b"NO", b"BAD"))]
        if trouble:
            raise ImapUnavailable("the IMAP server ended the session: "
                                  + trouble[0].decode("utf-8", "replace")[:200])
        imap.idle_done()
        await self._call(asyncio.wait_for(idling, self.settings.imap.timeout_seconds))
        return any(b"EXISTS" in line or b"RECENT" in line for line in lines)

    async def _call(self, command: Awaitable[T]) -> T:
        """Await an IMAP command, or fail at once when the connection drops: aioimaplib
        leaves a command whose connection is gone waiting for its own timeout."""
        task = asyncio.ensure_future(command)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise ImapUnavailable("the IMAP server closed the connection")


def _search_uids(lines: list[bytes]) -> list[int]:
    """The UIDs of a UID SEARCH answer: lines of numbers (after an optional `SEARCH`);
    untagged news sent along (`3 EXISTS`) are not UIDs."""
    found: set[int] = set()
    for line in lines:
        words = bytes(line).split()
        if words and words[0].upper() == b"SEARCH":
            words = words[1:]
        if words and all(word.isdigit() for word in words):
            found.update(int(word) for word in words)
    return sorted(found)


def _uidvalidity(lines: list[bytes]) -> int:
    for line in lines:
        match = _UIDVALIDITY.search(bytes(line))
        if match:
            return int(match.group(1))
    raise ImapUnavailable("the server sent no UIDVALIDITY for the mailbox")


def _text(response: aioimaplib.Response) -> str:
    last = response.lines[-1] if response.lines else b""
    return f"{response.result} {bytes(last).decode('utf-8', 'replace')}"[:200]


async def _close(imap: aioimaplib.IMAP4) -> None:
    """Log out politely when the connection still works; never hang or raise on the way."""
    with contextlib.suppress(Exception):
        if imap.has_pending_idle():
            imap.idle_done()
        await asyncio.wait_for(imap.logout(), 2)
    with contextlib.suppress(Exception):
        if imap.protocol.transport is not None:
            imap.protocol.transport.close()
