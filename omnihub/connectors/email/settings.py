"""Settings of an e-mail channel (`type: email`): one support address, read over IMAP and
answered over SMTP. Passwords come from the environment (`${IMAP_PASSWORD}`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from omnihub.connectors.base import ChannelSettings

__all__ = ["EmailSettings", "ImapSettings", "SmtpSettings"]

_ADDRESS = r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$"
_HOST = r"^[A-Za-z0-9.:\[\]-]+$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImapSettings(_Section):
    """Where inbound mail is read. Port 993 is IMAP over TLS; 143 is plain (loopback only:
    aioimaplib has no STARTTLS)."""

    host: str = Field(pattern=_HOST)
    port: int = Field(default=993, ge=1, le=65535)
    ssl: bool = True
    username: str = Field(min_length=1)
    password: str = Field(min_length=1, repr=False)
    mailbox: str = Field(default="INBOX", min_length=1, max_length=200)
    #: wait for new mail with IMAP IDLE when the server offers it (else poll)
    idle: bool = True
    #: how often to look for new mail when not idling
    poll_seconds: float = Field(default=60.0, gt=0, le=3600)
    #: timeout of one IMAP command, in seconds
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    #: a CA bundle to trust for a server with a private certificate (PEM file)
    ca_file: str | None = None


class SmtpSettings(_Section):
    """How answers go out: port 465 with `ssl: true`, or 587 with `starttls: true`."""

    host: str = Field(pattern=_HOST)
    port: int = Field(default=587, ge=1, le=65535)
    #: TLS from the first byte (port 465)
    ssl: bool = False
    #: upgrade a plain connection with STARTTLS and refuse to send without it (port 587)
    starttls: bool = True
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    #: a CA bundle to trust for a server with a private certificate (PEM file)
    ca_file: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SmtpSettings:
        if self.ssl and self.starttls:
            raise ValueError("choose one of ssl (port 465) and starttls (port 587)")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


class EmailSettings(ChannelSettings):
    type: Literal["email"] = "email"
    #: the support address customers write to; outgoing mail is From: it
    address: str = Field(pattern=_ADDRESS, max_length=254)
    #: the name shown beside the address (`Acme Support <support@acme.example>`)
    display_name: str | None = Field(default=None, max_length=200)
    #: where customers' answers should go, if not to `address`
    reply_to: str | None = Field(default=None, pattern=_ADDRESS, max_length=254)
    imap: ImapSettings
    smtp: SmtpSettings
    #: the ticket token in subjects is `[<prefix><number>]`, e.g. `[#42]`
    ticket_prefix: str = Field(default="#", min_length=1, max_length=8,
                               pattern=r"^[^\s\[\]]+$")
    #: the domain of the Message-IDs we create; defaults to the address's domain
    message_id_domain: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]+$")
    #: a poller holds its mailbox for this long between renewals (several hub processes:
    #: one polls, the others stand by and take over once it is gone)
    lease_seconds: float = Field(default=60.0, ge=1, le=3600)
    #: reconnect backoff after the IMAP server went away: first wait, and the cap
    retry_base_seconds: float = Field(default=1.0, gt=0, le=60)
    retry_max_seconds: float = Field(default=300.0, gt=0, le=3600)

    @property
    def domain(self) -> str:
        return self.message_id_domain or self.address.rpartition("@")[2]
