"""Telling operators: a signed webhook and an e-mail per alert firing and resolve.

The webhook is signed exactly like the hub's other outbound webhooks (`Omnihub-Signature`,
omnihub/hub/signing.py), and its event id is the same on every retry of one notice
(`<firing id>.firing`, `<firing id>.resolved`), so a receiver dedupes a notice that was
sent again because the hub could not tell it had arrived. E-mail goes out through
aiosmtplib to the operators' SMTP server.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import aiohttp
import aiosmtplib
import orjson

from omnihub.hub import signing
from omnihub.hub.monitoring.rules import RuleState
from omnihub.hub.monitoring.settings import AlertRule, EmailNotify, NotifySettings, WebhookNotify

__all__ = ["Notice", "Notifier", "NotifyFailed"]

log = logging.getLogger("omnihub.alerts")

EVENT_ID_HEADER = "Omnihub-Event-Id"
TIMEOUT_SECONDS = 10.0


class NotifyFailed(Exception):
    """One target did not take the notice; it stays owed and is tried at the next tick."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One firing or resolve of one rule, as every target is told about it."""

    kind: str  # firing | resolved
    rule: AlertRule
    state: RuleState
    at: datetime

    @property
    def event_id(self) -> str:
        return f"{self.state.firing_id}.{self.kind}"

    def body(self) -> dict[str, Any]:
        rule, state = self.rule, self.state
        return {
            "id": self.event_id,
            "type": f"alert.{self.kind}",
            "created_at": self.at.astimezone(UTC).isoformat(),
            "data": {
                "alert": rule.name, "firing_id": state.firing_id, "severity": rule.severity,
                "description": rule.description, "condition": rule.describe(),
                "metric": rule.metric, "labels": rule.labels, "op": rule.op,
                "threshold": rule.threshold, "value": state.value,
                "fired_at": _iso(state.fired_at), "resolved_at": _iso(state.resolved_at),
            },
        }

    def subject(self) -> str:
        word = "FIRING" if self.kind == "firing" else "resolved"
        return f"[omnihub] {word}: {self.rule.name} ({self.rule.severity})"

    def text(self) -> str:
        rule, state = self.rule, self.state
        lines = [
            f"Alert {rule.name} is {'FIRING' if self.kind == 'firing' else 'resolved'}.",
            "",
            f"Condition: {rule.describe()}",
            f"Value now: {state.value if state.value is not None else 'no data'}",
            f"Fired at:  {_iso(state.fired_at)}",
        ]
        if self.kind == "resolved":
            lines.append(f"Resolved:  {_iso(state.resolved_at)}")
        if rule.description:
            lines += ["", rule.description]
        lines += ["", f"Firing id: {state.firing_id}"]
        return "\n".join(lines) + "\n"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


class Notifier:
    """Sends a notice to each configured target, by target id (`webhook:<url>`, `email`)."""

    def __init__(self, settings: NotifySettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http

    def targets(self) -> list[str]:
        names = [f"webhook:{hook.url}" for hook in self.settings.webhooks]
        if self.settings.email is not None:
            names.append("email")
        return names

    async def send(self, target: str, notice: Notice) -> None:
        """Deliver to one target or raise NotifyFailed."""
        if target == "email":
            assert self.settings.email is not None
            await self._email(self.settings.email, notice)
            return
        hook = next(h for h in self.settings.webhooks if f"webhook:{h.url}" == target)
        await self._webhook(hook, notice)

    async def _webhook(self, hook: WebhookNotify, notice: Notice) -> None:
        body = orjson.dumps(notice.body())
        headers = {"Content-Type": "application/json",
                   signing.HEADER: signing.sign(hook.secret, body),
                   EVENT_ID_HEADER: notice.event_id}
        try:
            async with self.http.post(hook.url, data=body, headers=headers,
                                      timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
                                      allow_redirects=False) as response:
                if not 200 <= response.status < 300:
                    raise NotifyFailed(f"{hook.url} answered {response.status}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise NotifyFailed(f"{hook.url} unreachable: {type(exc).__name__}: {exc}") from exc

    async def _email(self, email: EmailNotify, notice: Notice) -> None:
        message = EmailMessage()
        message["From"] = email.from_
        message["To"] = ", ".join(email.to)
        message["Subject"] = notice.subject()
        message["Message-ID"] = f"<{notice.event_id}@omnihub>"
        message.set_content(notice.text())
        smtp = email.smtp
        try:
            await aiosmtplib.send(
                message, hostname=smtp.host, port=smtp.port, username=smtp.username,
                password=smtp.password, use_tls=smtp.security == "tls",
                start_tls={"auto": None, "starttls": True, "tls": False,
                           "none": False}[smtp.security],
                timeout=smtp.timeout_seconds)
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            raise NotifyFailed(f"SMTP {smtp.host}:{smtp.port}: {type(exc).__name__}: "
                               f"{exc}") from exc
