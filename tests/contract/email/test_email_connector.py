"""The e-mail channel end to end (Dovecot in, aiosmtpd out): threading, bounces, loop
safety against the hub's automatic answers, unreadable mail, and the channel's config."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any

import pytest
from mailservers import (  # noqa: F401
    USER,
    Dovecot,
    SmtpServer,
    bounce,
    delivered,
    dovecot_fixture,
    email_channel,
    mail,
    messages,
    smtp_fixture,
    stored,
    until,
)
from pydantic import ValidationError

from omnihub.connectors.email.settings import EmailSettings
from omnihub.hub.runtime import HUB
from omnihub.normalizer.schema import TextPart
from omnihub.store.tokens import create_token


async def _answered(hub: Any, server: SmtpServer, conversation_id: str, count: int = 1) -> str:
    """An agent answers the conversation; returns the answer's Message-ID as sent."""
    await hub.store.queue_reply(conversation_id, [TextPart(text="We are on it.")],
                                author="agent:ann")
    sent = email.message_from_bytes((await delivered(server, count))[count - 1].content,
                                    policy=policy.default)
    return str(sent["Message-ID"]).strip("<>")


async def test_replies_thread_by_headers_then_token_never_by_subject(
        dovecot: Dovecot, smtp: SmtpServer, start_hub: Any) -> None:
    hub = (await start_hub({"channels": [email_channel(dovecot, smtp)]})).app[HUB]
    raw, first = mail(subject="Order 1001 missing")
    await dovecot.append(raw)
    conversation = (await stored(hub, first)).conversation_id
    ours = await _answered(hub, smtp, conversation)

    # The customer answers with a subject of her own: the headers keep it in the thread.
    raw, rewritten = mail(subject="Also: wrong colour", in_reply_to=ours,
                          references=[first, ours])
    await dovecot.append(raw)
    assert (await stored(hub, rewritten)).conversation_id == conversation
    # A client that drops the headers: the ticket token in the subject finds the thread.
    raw, token_only = mail(subject="Re: Order 1001 missing [#1]")
    await dovecot.append(raw)
    assert (await stored(hub, token_only)).conversation_id == conversation
    # A new mail that merely has the same subject is a new conversation.
    raw, same_subject = mail(subject="Order 1001 missing", text="Another order, same words.")
    await dovecot.append(raw)
    other = (await stored(hub, same_subject)).conversation_id
    assert other != conversation
    # Someone else quoting a ticket number does not get into that ticket.
    raw, stranger = mail(sender="eve@example.net", subject="Re: hello [#1]")
    await dovecot.append(raw)
    assert (await stored(hub, stranger)).conversation_id not in (conversation, other)


async def test_a_bounce_marks_the_answer_failed(
        dovecot: Dovecot, smtp: SmtpServer, start_hub: Any) -> None:
    hub = (await start_hub({"channels": [email_channel(dovecot, smtp)]})).app[HUB]
    raw, first = mail()
    await dovecot.append(raw)
    conversation = (await stored(hub, first)).conversation_id
    ours = await _answered(hub, smtp, conversation)

    async def sent() -> Any:
        return next((m for m in await messages(hub, "out")
                     if m.external_id == ours and m.status == "sent"), None)

    answer = await until(sent, what="the answer marked sent under its Message-ID")

    await dovecot.append(bounce(ours))

    failed = await until(lambda: _status(hub, answer.id, "failed"), what="the answer failed")
    assert failed.status == "failed"
    report = next(m for m in await messages(hub) if m.external_id != first)
    # The report is stored where the agents see it, flagged, and in the answer's thread.
    texts = [p["text"] for p in report.parts if p["kind"] == "text"]
    assert texts[0].startswith("Delivery failure report")
    conv = await hub.store.get_conversation(report.conversation_id)
    assert conv is not None and conv.thread_key == (await hub.store.get_conversation(
        conversation)).thread_key and "automated:bounce" in conv.tags


async def _status(hub: Any, message_id: str, status: str) -> Any:
    message = await hub.store.get_message(message_id)
    return message if message is not None and message.status == status else None


def _closed_routing(directory: Path) -> Path:
    """One group whose only opening hour is two days from now: closed at test time, with
    an off-hours auto-reply."""
    day = datetime.now(UTC) + timedelta(days=2)
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()]
    path = directory / "routing.yaml"
    path.write_text(
        "timezone: UTC\n"
        f"calendars:\n  office:\n    hours: {{{weekday}: \"09:00-10:00\"}}\n"
        "groups:\n  desk: {agents: [ann], calendar: office}\n"
        "agents:\n  - {id: ann}\n"
        "rules:\n  - name: all\n    then: {group: desk}\n"
        "off_hours:\n  auto_reply: \"We are closed until {opens_at}.\"\n")
    return path


async def test_automatic_mail_gets_no_automatic_answer(
        dovecot: Dovecot, smtp: SmtpServer, start_hub: Any, tmp_path: Path) -> None:
    client = await start_hub({"routing": str(_closed_routing(tmp_path)),
                              "channels": [email_channel(dovecot, smtp)]})
    hub = client.app[HUB]
    raw, auto_id = mail(sender="bob@example.org", subject="Automatic reply: Your request",
                        headers={"Auto-Submitted": "auto-replied"})
    await dovecot.append(raw)
    automatic = await stored(hub, auto_id)
    raw, person_id = mail(sender="ann@example.com", subject="Hello?")
    await dovecot.append(raw)
    person = await stored(hub, person_id)

    # The person gets the off-hours reply (so the test can fail) ...
    (envelope,) = await delivered(smtp)
    assert envelope.rcpt_tos == ["ann@example.com"]
    reply = email.message_from_bytes(envelope.content, policy=policy.default)
    assert "We are closed until" in reply.get_body(("plain",)).get_content()
    assert reply["Auto-Submitted"] == "auto-replied"  # RFC 3834: ours is automatic too
    # ... the auto-responder does not: its conversation was routed without one, and flagged.
    events = await _created_events(hub)
    assert events[automatic.conversation_id]["routing"]["off_hours"] is True
    assert events[automatic.conversation_id]["routing"]["auto_reply"] is None
    assert events[person.conversation_id]["routing"]["auto_reply"]
    conv = await hub.store.get_conversation(automatic.conversation_id)
    assert conv is not None and conv.tags == ["automated:auto_reply"]
    assert not [m for m in await messages(hub, "out")
                if m.conversation_id == automatic.conversation_id]

    # Closing it sends no satisfaction survey either; closing the person's does.
    token = await create_token(hub.db, "ada", "admin")
    for conversation_id in (automatic.conversation_id, person.conversation_id):
        response = await client.post(f"/api/v1/conversations/{conversation_id}/close",
                                     json={}, headers={"Authorization": f"Bearer {token}"})
        assert response.status == 200, await response.text()
    surveys = await until(lambda: _outbound_of(hub, person.conversation_id, 2),
                          what="the person's survey")
    assert len(surveys) == 2
    assert not await _outbound_of(hub, automatic.conversation_id, 1)


async def _outbound_of(hub: Any, conversation_id: str, count: int) -> list[Any] | None:
    rows = [m for m in await messages(hub, "out") if m.conversation_id == conversation_id]
    return rows if len(rows) >= count else None


async def _created_events(hub: Any) -> dict[str, Any]:
    import sqlalchemy as sa

    from omnihub.store.tables import outbox

    async with hub.db.read() as conn:
        rows = await conn.execute(sa.select(outbox.c.payload).where(
            outbox.c.type == "conversation.created"))
        return {r.payload["data"]["id"]: r.payload["data"] for r in rows}


async def test_an_unreadable_mail_is_kept_flagged_and_visible(
        dovecot: Dovecot, start_hub: Any) -> None:
    hub = (await start_hub({"channels": [email_channel(dovecot)]})).app[HUB]
    garbage = b"\x00\x01 this is no mail at all \xff\xfe\r\n" * 3
    dovecot.drop_into_maildir(garbage)
    (message,) = await until(lambda: messages(hub), what="the unreadable mail")
    texts = [p["text"] for p in message.parts if p["kind"] == "text"]
    assert any("could not be read" in t or "needs a look" in t for t in texts)
    files = [p for p in message.parts if p["kind"] == "file"]
    assert files and files[0]["media"]["name"] == "original.eml"
    assert message.raw_ref is not None  # the raw bytes are kept too


@pytest.mark.parametrize(("change", "complaint"), [
    ({"smtp": {"host": "smtp.test", "ssl": True, "starttls": True}}, "choose one of ssl"),
    ({"imap": {"host": "imap.test", "username": "u", "password": "p", "idle": True,
               "pol_seconds": 5}}, "pol_seconds"),
    ({"address": "not an address"}, "address"),
])
def test_settings_refuse_what_would_fail_later(change: dict[str, Any], complaint: str) -> None:
    base = {"id": "mail", "type": "email", "address": USER,
            "imap": {"host": "imap.test", "username": "u", "password": "p"},
            "smtp": {"host": "smtp.test"}}
    with pytest.raises(ValidationError, match=complaint):
        EmailSettings.model_validate({**base, **change})
