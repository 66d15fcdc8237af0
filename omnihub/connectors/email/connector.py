"""E-mail connector: a mailbox read over IMAP, answers sent over SMTP.

Inbound mail takes the webhook's path into the hub (`ConnectorContext.intake`), one mail
at a time, and the mailbox cursor moves only once the hub committed it
(omnihub/connectors/email/imap_poller.py). Parsing is omnihub/connectors/email/parse.py;
this module turns a parsed mail into the one schema: its thread (conversation), its
files in the media store, its loop-safety flag, and a bounce into a failed delivery.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any, ClassVar

from omnihub.connectors.base import (
    Connector,
    ConnectorContext,
    DeliveryUpdate,
    OutboundMessage,
    ParsedWebhook,
    SendReceipt,
    WebhookRequest,
)
from omnihub.connectors.email.compose import compose, message_id_for
from omnihub.connectors.email.imap_poller import MailboxPoller
from omnihub.connectors.email.parse import MailAttachment, ParsedMail, parse_mail_or_flag
from omnihub.connectors.email.settings import EmailSettings
from omnihub.connectors.email.smtp_sender import SmtpSender
from omnihub.connectors.errors import BadPayload, PermanentSendError
from omnihub.normalizer.addresses import InvalidAddress, normalize_email
from omnihub.normalizer.media import MediaError, MediaStore
from omnihub.normalizer.schema import (
    AudioPart,
    FilePart,
    Identity,
    ImagePart,
    InboundMessage,
    Part,
    Sender,
    TextPart,
    VideoPart,
)
from omnihub.store.db import Database
from omnihub.store.mail_threads import (
    bounded_references,
    find_thread,
    record_message,
    thread_for_answer,
)

__all__ = ["EmailConnector", "IDENTITY_KIND"]

log = logging.getLogger("omnihub.connectors.email")

IDENTITY_KIND = "email"
#: the identity of mail whose sender cannot be read: kept, attributed to nobody real
UNKNOWN_SENDER_KIND = "email-unknown"
_MEDIA_PARTS: dict[str, type[ImagePart | AudioPart | VideoPart]] = {
    "image": ImagePart, "audio": AudioPart, "video": VideoPart}
_AUTOMATED_NOTE = {
    "auto_reply": "Automatic reply (out-of-office or similar): not answered automatically.",
    "bounce": "Delivery failure report: the mail it refers to was not delivered.",
    "list": "Mailing-list or bulk mail: not answered automatically.",
}


def _bounded_id(value: str) -> str:
    """An external id fits 255 characters; a longer Message-ID is hashed (stable)."""
    return value if len(value) <= 255 else "sha256:" + hashlib.sha256(value.encode()).hexdigest()


class EmailConnector(Connector):
    type: ClassVar[str] = "email"
    settings_model = EmailSettings
    identity_kind: ClassVar[str] = IDENTITY_KIND
    settings: EmailSettings

    def __init__(self, settings: EmailSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.sender = SmtpSender(settings.smtp)
        self.poller: MailboxPoller | None = None

    @property
    def db(self) -> Database:
        store = self.context.extra.get("store")
        if store is None:
            raise RuntimeError("the e-mail connector needs the hub's store (context.extra)")
        return store.db  # type: ignore[no-any-return]

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self.context.intake is None:
            raise RuntimeError("the e-mail connector needs the hub's intake to take mail in")
        metrics = self.context.extra.get("metrics")
        polled = getattr(metrics, "imap_polled", None)  # omnihub_imap_poll_lag_seconds
        self.poller = MailboxPoller(
            self.settings, self.db, self.take_in,
            on_polled=(lambda at: polled(self.channel_id, at)) if polled else None)
        self.poller.start()

    async def stop(self) -> None:
        if self.poller is not None:
            await self.poller.stop()

    def health(self) -> dict[str, Any] | None:
        if self.poller is None:
            return None
        h = self.poller.health
        return {"status": "ok" if h.ok else "down", "role": h.role, "mode": h.mode,
                "last_poll_at": h.last_poll_at, "error": h.last_error}

    async def parse_webhook(self, request: WebhookRequest) -> ParsedWebhook:
        raise BadPayload("an e-mail channel reads its mailbox over IMAP; it takes no webhooks")

    # ---------------------------------------------------------------- inbound

    async def take_in(self, uid: int, raw: bytes) -> None:
        """One fetched mail into the hub; returns once it is committed (or a duplicate)."""
        from omnihub.hub.intake import IntakeRefused

        parsed = parse_mail_or_flag(raw, token_prefix=self.settings.ticket_prefix)
        if parsed.from_address and parsed.from_address == self.settings.address.lower():
            log.info("channel %s: UID %d is our own mail; skipped", self.channel_id, uid)
            return
        inbound, statuses = await self.to_schema(parsed, raw)
        assert self.context.intake is not None
        try:
            await self.context.intake(ParsedWebhook(messages=[inbound], statuses=statuses))
        except IntakeRefused as exc:
            if exc.status >= 500:
                raise  # the hub is saturated or down: the poller retries this mail
            log.error("channel %s: mail UID %d (%s) refused: %s", self.channel_id, uid,
                      inbound.external_id, exc.message)

    async def to_schema(self, parsed: ParsedMail, raw: bytes
                        ) -> tuple[InboundMessage, list[DeliveryUpdate]]:
        """The parsed mail as an InboundMessage in its thread, and the receipts it carries."""
        own_id = _bounded_id(parsed.message_id or parsed.dedupe_key)
        evidence = [c.value for c in parsed.thread_candidates() if c.kind == "message_id"]
        evidence += parsed.bounced_message_ids  # a bounce belongs to the mail it reports
        thread_key = await find_thread(self.db, self.channel_id, evidence,
                                       parsed.ticket_token) or own_id
        # Remembered before the intake: a crash after it must not lose the thread's trail.
        await record_message(self.db, self.channel_id, thread_key, own_id, direction="in",
                             subject=parsed.subject or None, references=parsed.references)
        parts = await self._parts(parsed)
        inbound = InboundMessage(
            channel_id=self.channel_id, channel_type=self.type,
            external_id=_bounded_id(parsed.dedupe_key), sender=self._sender(parsed),
            thread_key=thread_key, parts=parts, sent_at=parsed.date,
            reply_to_external_id=_bounded_id(parsed.in_reply_to) if parsed.in_reply_to else None,
            raw=raw, raw_content_type="message/rfc822", language=parsed.language,
            automated=parsed.auto)
        statuses = []
        if parsed.auto == "bounce":
            failed = ", ".join(parsed.bounced_recipients) or "the recipient"
            statuses = [DeliveryUpdate(external_id=_bounded_id(mid), status="failed",
                                       error=f"bounced: {failed} did not receive it"[:500])
                        for mid in parsed.bounced_message_ids]
        return inbound, statuses

    def _sender(self, parsed: ParsedMail) -> Sender:
        """The From address; the Reply-To travels along unverified (anyone can write one)."""
        try:
            address = normalize_email(parsed.from_address)
        except InvalidAddress:
            return Sender(identities=[Identity(kind=UNKNOWN_SENDER_KIND,
                                               address=_bounded_id(parsed.dedupe_key)[:200])],
                          display_name=parsed.from_name)
        return Sender(identities=[Identity(kind=IDENTITY_KIND, address=address)],
                      display_name=parsed.from_name)

    async def _parts(self, parsed: ParsedMail) -> list[Part]:
        notes: list[str] = []
        if parsed.flag:
            notes.append(f"⚠ This e-mail needs a look: {parsed.flag}. The original is kept.")
        if parsed.auto is not None:
            notes.append(_AUTOMATED_NOTE[parsed.auto])
        parts: list[Part] = [TextPart(text=note) for note in notes]
        body = parsed.text or parsed.full_text
        if body.strip() or parsed.html:
            parts.append(TextPart(text=body or "(no text)", html=parsed.html))
        for attachment in parsed.attachments:
            part = await self._attachment(attachment, self.context.media)
            if part is not None:
                parts.append(part)
        if not parts:
            parts.append(TextPart(text="(empty e-mail)"))
        return parts

    async def _attachment(self, attachment: MailAttachment, media: MediaStore) -> Part | None:
        """A file or inline image into the media store; one too big is named, not kept."""
        name = attachment.filename or ("inline" if attachment.inline else None)
        try:
            ref = await asyncio.to_thread(media.put, attachment.data, attachment.content_type,
                                          name)
        except MediaError as exc:
            log.warning("channel %s: attachment %r not kept: %s", self.channel_id, name, exc)
            return TextPart(text=f"(attachment {name or 'without a name'} not kept: {exc})")
        kind = _MEDIA_PARTS.get(ref.mime.partition("/")[0], FilePart)
        return kind(media=ref)

    # ---------------------------------------------------------------- outbound

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Mail the answer into its thread; its Message-ID is the external id (a bounce
        names it)."""
        recipient = message.recipient.address
        if message.recipient.kind != IDENTITY_KIND:
            raise PermanentSendError(f"not an e-mail address: {message.recipient.kind}")
        thread_key = message.thread_key or f"conversation:{message.conversation_id}"
        thread = await thread_for_answer(self.db, self.channel_id, thread_key)
        message_id = message_id_for(message.message_id, self.settings.domain)
        try:
            mail = compose(self.settings, message, thread, message_id, self.context.media)
        except MediaError as exc:
            raise PermanentSendError(f"an attachment is missing: {exc}") from None
        references = bounded_references(
            [*thread.references, *([thread.last_inbound_id] if thread.last_inbound_id else [])])
        await record_message(self.db, self.channel_id, thread_key, message_id,
                             direction="out", subject=str(mail["Subject"]),
                             references=references)
        await self.sender.send(mail, sender=self.settings.address, recipients=[recipient])
        return SendReceipt(external_id=message_id)

