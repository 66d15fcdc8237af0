"""Handing a composed mail to the SMTP server (aiosmtplib): TLS as configured, AUTH when
credentials are set, and the server's answer mapped onto retry-or-not.

SMTP's own reply codes decide (RFC 5321 §4.2.1): 4xx is transient — retry later; 5xx is
permanent — retrying will not help. A connection that fails or times out is transient.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage

import aiosmtplib

from omnihub.connectors.email.settings import SmtpSettings
from omnihub.connectors.errors import PermanentSendError, TemporarySendError

__all__ = ["SmtpSender", "tls_context"]


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's trust store, or only the given CA bundle (a private server)."""
    return ssl.create_default_context(cafile=ca_file)


class SmtpSender:
    """One connection per send: answers are rare compared with a connection's life, and
    a fresh connection needs no keep-alive or reconnect logic."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._tls = tls_context(settings.ca_file) if settings.ssl or settings.starttls else None

    async def send(self, mail: EmailMessage, *, sender: str, recipients: list[str]) -> None:
        s = self.settings
        try:
            await aiosmtplib.send(
                mail, sender=sender, recipients=recipients, hostname=s.host, port=s.port,
                username=s.username, password=s.password, timeout=s.timeout_seconds,
                use_tls=s.ssl, start_tls=True if s.starttls else False,
                tls_context=self._tls)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            if all(500 <= code < 600 for code in codes):
                raise PermanentSendError(f"SMTP refused the recipient: {text}") from None
            raise TemporarySendError(f"SMTP deferred the recipient: {text}") from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Wrong credentials: an operator must fix the config; retry meanwhile (the
            # outbox gives up after its limit) rather than drop the answer at once.
            raise TemporarySendError(f"SMTP login failed: {exc.code} {exc.message}") from None
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentSendError(f"SMTP refused the mail: {exc.code} {exc.message}"
                                         ) from None
            raise TemporarySendError(f"SMTP error: {exc.code} {exc.message}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporarySendError(f"SMTP server unreachable: {exc}") from None
