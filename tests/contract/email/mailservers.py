"""Real mail servers for the e-mail tests: Debian's Dovecot under a temporary config (no
daemon of the system's, no /etc edits) and aiosmtpd in-process, plus small helpers.

Dovecot comes from scripts/install-test-deps.sh (`dovecot-imapd`); without it the tests
fail, as a missing PostgreSQL would: nothing is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import aioimaplib
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

DOVECOT = "/usr/sbin/dovecot"
USER, PASSWORD = "support@test.local", "secret-pw"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 100
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dovecot:
    """One Dovecot master process in the foreground (`-F`), on a loopback port of its own."""

    def __init__(self, root: Path, *, tls: bool = False) -> None:
        """With `tls`, IMAPS (port 993's protocol) on `tls_port` too, with a certificate
        made for the test (`cert`)."""
        if shutil.which(DOVECOT) is None and not Path(DOVECOT).exists():
            raise RuntimeError(f"{DOVECOT} is missing: run scripts/install-test-deps.sh "
                               "(Debian package dovecot-imapd)")
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        (root / "mail").mkdir(parents=True)
        (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        self.tls_port = 0
        self.cert: Path | None = None
        ssl_lines = "ssl = no"
        if tls:
            self.tls_port = free_port()
            self.cert, key = self_signed(root)
            ssl_lines = f"ssl = yes\nssl_cert = <{self.cert}\nssl_key = <{key}"
        (root / "dovecot.conf").write_text(CONFIG.format(
            root=root, port=self.port, tls_port=self.tls_port, ssl=ssl_lines))
        shutil.chown(root / "mail", "dovecot", "dovecot")

    def start(self) -> None:
        self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
                                        start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.02)
        log = (self.root / "dovecot.log")
        raise RuntimeError("dovecot did not start: " + (log.read_text()[-2000:]
                                                         if log.exists() else "no log"))

    def stop(self) -> None:
        """The whole server goes away, its running IMAP sessions with it (a stopped master
        alone leaves the sessions it forked serving)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)
        self.process = None

    def imap_settings(self, **over: Any) -> dict[str, Any]:
        if self.cert is not None:
            return {"host": "127.0.0.1", "port": self.tls_port, "ssl": True,
                    "ca_file": str(self.cert), "username": USER, "password": PASSWORD, **over}
        return {"host": "127.0.0.1", "port": self.port, "ssl": False, "username": USER,
                "password": PASSWORD, **over}

    def drop_into_maildir(self, raw: bytes, folder: str = "") -> None:
        """Deliver the way an MTA does while the IMAP server is down: a file in new/."""
        base = self.root / "mail" / USER
        target = base / (f".{folder}" if folder else "") / "new"
        target.mkdir(parents=True, exist_ok=True)
        name = f"{time.time():.6f}.{uuid.uuid4().hex}.test"
        (target / name).write_bytes(raw)
        for path in (base, target.parent, target, target / name):
            shutil.chown(path, "dovecot", "dovecot")

    async def client(self) -> aioimaplib.IMAP4:
        """A logged-in IMAP client, as a mail client of the customer's side would be."""
        imap = aioimaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        await imap.wait_hello_from_server()
        assert (await imap.login(USER, PASSWORD)).result == "OK"
        return imap

    async def append(self, raw: bytes, mailbox: str = "INBOX") -> None:
        imap = await self.client()
        try:
            response = await imap.append(raw, mailbox=mailbox)
            assert response.result == "OK", response
        finally:
            await imap.logout()


def mail(*, sender: str = "ann@example.com", subject: str = "Where is my order?",
         text: str = "Hello, my order 1001 has not arrived.", message_id: str | None = None,
         in_reply_to: str | None = None, references: list[str] | None = None,
         headers: dict[str, str] | None = None) -> tuple[bytes, str]:
    """A customer's mail as wire bytes, and its Message-ID (without brackets)."""
    msg = EmailMessage()
    mid = message_id or make_msgid(domain="example.com")[1:-1]
    msg["From"] = f"Ann Customer <{sender}>"
    msg["To"] = USER
    msg["Subject"] = subject
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = f"<{mid}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        msg["References"] = " ".join(f"<{r}>" for r in references)
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    return msg.as_bytes(), mid


def bounce(original_id: str, recipient: str = "ann@example.com") -> bytes:
    """A delivery status notification (RFC 3464) for one of our mails, as an MTA writes it."""
    date = format_datetime(dt.datetime.now(dt.UTC))
    return f"""\
From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: {USER}
Subject: Undelivered Mail Returned to Sender
Date: {date}
Message-ID: <{uuid.uuid4().hex}@mx.example.com>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered to {recipient}.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--B1
Content-Type: text/rfc822-headers

Message-ID: <{original_id}>
From: {USER}
To: {recipient}
Subject: Re: order

--B1--
""".replace("\n", "\r\n").encode()


class Inbox:
    """aiosmtpd's handler: keeps every accepted mail (envelope and bytes)."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []
        self.unknown: set[str] = set()  # recipients answered 550 (no such user)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.unknown:
            return "550 5.1.1 <%s>: user unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.received.append(envelope)
        return "250 OK"


class Authenticator:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()
        self.attempts: list[bytes] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            self.attempts.append(auth_data.login)
            if (auth_data.login, auth_data.password) == (self.user, self.password):
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made here and now (cryptography), and its key."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class SmtpServer:
    """aiosmtpd on a free loopback port; with `tls_dir`, STARTTLS and AUTH are required."""

    def __init__(self, tls_dir: Path | None = None, *, user: str = "hub",
                 password: str = "smtp-pw") -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.cert: Path | None = None
        self.auth: Authenticator | None = None
        options: dict[str, Any] = {}
        if tls_dir is not None:
            self.cert, key = self_signed(tls_dir)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert, key)
            self.auth = Authenticator(user, password)
            options = {"tls_context": context, "require_starttls": True,
                       "authenticator": self.auth, "auth_require_tls": True}
        self.user, self.password = user, password
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port,
                                     **options)

    def settings(self) -> dict[str, Any]:
        if self.cert is None:
            return {"host": "127.0.0.1", "port": self.port, "starttls": False}
        return {"host": "127.0.0.1", "port": self.port, "starttls": True,
                "username": self.user, "password": self.password, "ca_file": str(self.cert)}


async def until(check: Callable[[], Awaitable[Any]], *, timeout: float = 30.0,
                what: str = "condition") -> Any:
    """Wait for `check()` to return something truthy (the mail servers work in their own
    time); fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------- fixtures and hub helpers



@pytest.fixture(name="dovecot")
def dovecot_fixture() -> Any:
    """A running Dovecot with one mailbox user; stopped after the test. Its directory is
    outside pytest's tmp_path, which is private to root: Dovecot's processes drop to the
    `dovecot` user and must reach their files."""
    yield from _running_dovecot(tls=False)


@pytest.fixture(name="dovecot_tls")
def dovecot_tls_fixture() -> Any:
    """The same Dovecot, also speaking IMAPS with a certificate made for the test."""
    yield from _running_dovecot(tls=True)


def _running_dovecot(*, tls: bool) -> Any:
    root = Path(tempfile.mkdtemp(prefix="omnihub-dovecot-"))
    root.chmod(0o755)
    server = Dovecot(root / "dovecot", tls=tls)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(name="smtp")
def smtp_fixture() -> Any:
    """aiosmtpd, plain SMTP on loopback."""
    server = SmtpServer()
    server.controller.start()
    yield server
    server.controller.stop()


def email_channel(dovecot: Dovecot, smtp: SmtpServer | None = None, *,
                  imap: dict[str, Any] | None = None, **over: Any) -> dict[str, Any]:
    """hub.yaml's entry of the e-mail channel `mail` on these servers; short timings."""
    smtp_settings = smtp.settings() if smtp is not None else {"host": "127.0.0.1",
                                                               "port": free_port(),
                                                               "starttls": False}
    return {"id": "mail", "type": "email", "address": USER, "display_name": "Test Support",
            "imap": dovecot.imap_settings(**(imap or {})), "smtp": smtp_settings,
            "lease_seconds": 6, "retry_base_seconds": 0.1, "retry_max_seconds": 0.5,
            **over}


async def messages(hub: Any, direction: str = "in") -> list[Any]:
    """The channel's stored messages, oldest first."""
    from omnihub.store.tables import messages as table

    async with hub.db.read() as conn:
        rows = await conn.execute(sa.select(table).where(
            table.c.channel_id == "mail", table.c.direction == direction).order_by(table.c.id))
        return list(rows)


def ingested(hub: Any, result: str) -> float:
    return hub.metrics.ingest_total.labels("mail", result)._value.get()


async def stored(hub: Any, external_id: str, timeout: float = 30.0) -> Any:
    """The inbound message with this external id (a Message-ID), once the hub has it."""

    async def find() -> Any:
        return next((m for m in await messages(hub) if m.external_id == external_id), None)

    return await until(find, timeout=timeout, what=f"mail {external_id}")


async def delivered(server: SmtpServer, count: int = 1) -> list[Any]:
    """The mails aiosmtpd accepted, once there are `count` of them."""

    async def enough() -> Any:
        return list(server.inbox.received) if len(server.inbox.received) >= count else None

    return await until(enough, what=f"{count} mail(s) at the SMTP server")  # type: ignore[no-any-return]
