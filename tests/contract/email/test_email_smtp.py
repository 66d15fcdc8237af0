"""Agents' answers leave through a real SMTP server (aiosmtpd): the headers that thread
them in the customer's mail client, multipart bodies, attachments, STARTTLS and AUTH."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path
from typing import Any

import pytest
from mailservers import (  # noqa: F401
    USER,
    Dovecot,
    SmtpServer,
    delivered,
    dovecot_fixture,
    email_channel,
    mail,
    messages,
    smtp_fixture,
    stored,
    until,
)

from omnihub.hub.runtime import HUB
from omnihub.normalizer.schema import FilePart, TextPart


async def _answer(hub: Any, dovecot: Dovecot, server: SmtpServer) -> tuple[Any, str, Any]:
    """A customer writes; an agent answers with a text and a PDF. Returns the mail the
    SMTP server got, the customer's Message-ID and the stored answer."""
    raw, customer_id = mail(subject="Where is my order?")
    await dovecot.append(raw)
    inbound = await stored(hub, customer_id)
    pdf = hub.connectors["mail"].context.media.put(b"%PDF-1.4 invoice", "application/pdf",
                                                   "invoice.pdf")
    answer, _ = await hub.store.queue_reply(
        inbound.conversation_id,
        [TextPart(text="Hello Ann,\n\nit left our warehouse today."), FilePart(media=pdf)],
        author="agent:ann")
    (envelope,) = await delivered(server)

    async def sent() -> Any:
        message = await hub.store.get_message(answer.id)
        return message if message.status == "sent" else None

    return envelope, customer_id, await until(sent, what="the answer marked sent")


async def test_an_answer_carries_the_thread_headers_and_both_bodies(
        dovecot: Dovecot, smtp: SmtpServer, start_hub: Any) -> None:
    client = await start_hub({"channels": [email_channel(
        dovecot, smtp, reply_to="help@test.local", message_id_domain="mail.test.local")]})
    hub = client.app[HUB]
    envelope, customer_id, answer = await _answer(hub, dovecot, smtp)

    assert envelope.mail_from == USER and envelope.rcpt_tos == ["ann@example.com"]
    sent = email.message_from_bytes(envelope.content, policy=policy.default)
    message_id = sent["Message-ID"].strip("<>")
    assert message_id.endswith("@mail.test.local")
    assert answer.external_id == message_id  # a bounce names it: that is how it is found
    assert sent["In-Reply-To"] == f"<{customer_id}>"
    assert sent["References"] == f"<{customer_id}>"
    assert sent["Reply-To"] == "help@test.local"
    assert sent["From"] == f"Test Support <{USER}>"
    assert sent["Subject"] == "Re: Where is my order? [#1]"
    assert "Auto-Submitted" not in sent  # a person wrote it
    body = sent.get_body(("plain",))
    assert body is not None and "it left our warehouse today." in body.get_content()
    html = sent.get_body(("html",))
    assert html is not None and "<p>Hello Ann,</p>" in html.get_content()
    (attachment,) = list(sent.iter_attachments())
    assert attachment.get_filename() == "invoice.pdf"
    assert attachment.get_content() == b"%PDF-1.4 invoice"


async def test_the_next_answer_answers_the_newest_mail(
        dovecot: Dovecot, smtp: SmtpServer, start_hub: Any) -> None:
    client = await start_hub({"channels": [email_channel(dovecot, smtp)]})
    hub = client.app[HUB]
    envelope, first_id, answer = await _answer(hub, dovecot, smtp)
    ours = answer.external_id
    raw, second_id = mail(subject="Re: Where is my order? [#1]", text="Thanks! And the invoice?",
                          in_reply_to=ours, references=[first_id, ours])
    await dovecot.append(raw)
    follow_up = await stored(hub, second_id)
    assert follow_up.conversation_id == answer.conversation_id
    await hub.store.queue_reply(answer.conversation_id, [TextPart(text="Attached before.")],
                                author="agent:ann")
    second = email.message_from_bytes((await delivered(smtp, 2))[1].content,
                                      policy=policy.default)
    assert second["In-Reply-To"] == f"<{second_id}>"
    assert second["References"] == f"<{first_id}> <{ours}> <{second_id}>"
    assert second["Subject"] == "Re: Where is my order? [#1]"  # one token, no "Re: Re:"


@pytest.fixture
def tls_smtp(tmp_path: Path) -> Any:
    server = SmtpServer(tmp_path)
    server.controller.start()
    yield server
    server.controller.stop()


async def test_starttls_and_auth(dovecot: Dovecot, tls_smtp: SmtpServer, start_hub: Any) -> None:
    client = await start_hub({"channels": [email_channel(dovecot, tls_smtp)]})
    hub = client.app[HUB]
    envelope, _, answer = await _answer(hub, dovecot, tls_smtp)
    assert tls_smtp.auth is not None and tls_smtp.auth.attempts == [b"hub"]
    assert answer.status == "sent" and envelope.content


async def test_a_refused_login_is_retried_not_dropped(
        dovecot: Dovecot, tls_smtp: SmtpServer, start_hub: Any) -> None:
    settings = {**tls_smtp.settings(), "password": "wrong"}
    client = await start_hub({"channels": [email_channel(dovecot, smtp=None) | {
        "smtp": settings}], "outbox": {"backoff_base_seconds": 60}})
    hub = client.app[HUB]
    raw, customer_id = mail()
    await dovecot.append(raw)
    inbound = await stored(hub, customer_id)
    answer, _ = await hub.store.queue_reply(inbound.conversation_id, [TextPart(text="Hi")],
                                            author="agent:ann")
    await until(lambda: _value(tls_smtp.auth.attempts), what="a login attempt")
    assert (await hub.store.get_message(answer.id)).status == "queued"  # to be retried
    assert tls_smtp.inbox.received == []


async def _value(v: Any) -> Any:
    return v


async def test_a_recipient_the_server_refuses_fails_the_answer(
        dovecot: Dovecot, smtp: SmtpServer, start_hub: Any) -> None:
    hub = (await start_hub({"channels": [email_channel(dovecot, smtp)]})).app[HUB]
    smtp.inbox.unknown.add("gone@example.com")
    raw, customer_id = mail(sender="gone@example.com")
    await dovecot.append(raw)
    inbound = await stored(hub, customer_id)
    answer, _ = await hub.store.queue_reply(inbound.conversation_id, [TextPart(text="Hi")],
                                            author="agent:ann")

    async def failed() -> Any:
        message = await hub.store.get_message(answer.id)
        return message if message.status == "failed" else None

    assert (await until(failed, what="the answer to fail")).status == "failed"
    assert smtp.inbox.received == []

    async def dead_lettered() -> str | None:  # recorded just after the status is set
        error = await _delivery_error(hub, answer.id)
        return error if "550" in error else None

    error = await until(dead_lettered, what="the dead letter")
    assert "550" in error and "user unknown" in error


async def _delivery_error(hub: Any, message_id: str) -> str:
    import sqlalchemy as sa

    from omnihub.store.tables import jobs

    async with hub.db.read() as conn:
        rows = (await conn.execute(sa.select(jobs.c.last_error))).scalars().all()
    return " ".join(r or "" for r in rows)
