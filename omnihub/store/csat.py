"""Satisfaction surveys: the survey is a system reply, the answer a message stored on the
surveyed conversation.

A survey is an ordinary queued reply by `system` whose idempotency key is SURVEY_KEY: at
most one per conversation, and a retried close never sends two. Its delivery carries
SURVEY_BUTTONS where the channel shows buttons (store/replies.py).

The answer is recognized *before* ingest (Store.ingest calls `record_answer` first, for
one-character texts only): "1".."5" from a customer whose most recent survey on that
channel went out within the window, on a conversation that is still closed, while the
customer has no other open conversation there. It is stored on the surveyed conversation,
sets `csat` and emits `message.received` and `conversation.rated`. Doing it before ingest,
rather than moving the message after it, means no conversation is ever created, routed
or announced for a bare rating; the cost is one indexed read for each message whose
whole text is a digit, and ratings bypass the group-commit writer (they are rare).
A later answer within the window replaces the earlier one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from omnihub.normalizer.ids import new_id
from omnihub.normalizer.schema import InboundMessage, Message, TextPart
from omnihub.store.crypto import PiiCipher
from omnihub.store.db import Database
from omnihub.store.events import event_row, write_outbox
from omnihub.store.ingest_batch import IngestResult
from omnihub.store.rows import CONVERSATION_COLUMNS, conversation_from_row, message_row
from omnihub.store.tables import conversations, identities, messages

__all__ = ["SURVEY_BUTTONS", "SURVEY_KEY", "record_answer", "score_of"]

SURVEY_KEY = "csat-survey"
SURVEY_BUTTONS = ["1", "2", "3", "4", "5"]
_m, _c = messages.c, conversations.c


def score_of(inbound: InboundMessage) -> int | None:
    """1..5 when the message is nothing but that digit (a typed answer or a button)."""
    if len(inbound.parts) != 1 or not isinstance(inbound.parts[0], TextPart):
        return None
    text = inbound.parts[0].text.strip()
    return int(text) if len(text) == 1 and text in "12345" else None


async def record_answer(db: Database, cipher: PiiCipher, inbound: InboundMessage, score: int,
                        *, window: timedelta,
                        on_commit: Callable[[], object] | None = None) -> IngestResult | None:
    """Store a rating on the surveyed conversation; None when this is not one (ingest it)."""
    now = datetime.now(UTC)
    primary = inbound.sender.identities[0]
    try:
        async with db.write() as conn:
            seen = (await conn.execute(sa.select(_m.id).where(
                _m.channel_id == inbound.channel_id, _m.direction == "in",
                _m.external_id == inbound.external_id))).first()
            if seen is not None:
                return None  # a provider retry: ingest answers it as the duplicate it is
            customer_id = (await conn.execute(sa.select(identities.c.customer_id).where(
                identities.c.kind == primary.kind,
                identities.c.blind_index == cipher.blind_index(primary.kind, primary.address),
            ))).scalar()
            if customer_id is None:
                return None
            survey = (await conn.execute(
                sa.select(_m.conversation_id, _m.created_at).where(
                    _m.customer_id == customer_id, _m.channel_id == inbound.channel_id,
                    _m.idempotency_key == SURVEY_KEY).order_by(_m.id.desc()).limit(1))).first()
            if survey is None or survey.created_at < now - window:
                return None
            open_here = (await conn.execute(sa.select(_c.id).where(
                _c.customer_id == customer_id, _c.channel_id == inbound.channel_id,
                _c.open_key.is_not(None)).limit(1))).first()
            row = (await conn.execute(sa.select(*CONVERSATION_COLUMNS).where(
                _c.id == survey.conversation_id))).mappings().first()
            if open_here is not None or row is None or row["status"] != "closed":
                return None  # the customer is talking again: a digit is an ordinary answer
            sent_at = inbound.sent_at if inbound.sent_at and inbound.sent_at <= now else now
            message = Message(
                id=new_id(), conversation_id=survey.conversation_id, customer_id=customer_id,
                channel_id=inbound.channel_id, channel_type=inbound.channel_type,
                direction="in", author="customer", external_id=inbound.external_id,
                parts=list(inbound.parts), created_at=sent_at, received_at=now,
                status="received")
            data = message.model_dump(mode="json")
            await conn.execute(sa.insert(messages), [message_row(message, data)])
            await conn.execute(sa.update(conversations).where(
                _c.id == survey.conversation_id).values(csat=score, updated_at=now,
                                                        last_message_at=now))
            rated = conversation_from_row({**row, "csat": score, "updated_at": now,
                                           "last_message_at": now})
            await write_outbox(conn, [
                event_row("message.received", data, key=rated.id, now=now),
                event_row("conversation.rated", {
                    "conversation": rated.model_dump(mode="json"), "score": score,
                    "previous_score": row["csat"], "message_id": message.id},
                    key=rated.id, now=now),
            ])
    except IntegrityError:
        return None  # the same message raced in through ingest: it is stored there
    if on_commit is not None:
        on_commit()
    return IngestResult(message=message, duplicate=False, conversation_created=False,
                        customer_created=False)
