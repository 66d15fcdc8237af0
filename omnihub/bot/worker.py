"""The FAQ bot at work: a durable consumer of `message.received` events that answers
conversations it holds (status `pending`) through the ordinary reply path, and of
`message.sent` events to learn the answers agents give after it handed over.

Idempotent by construction (events come at least once): every bot message is queued
with an idempotency key derived from the customer message it answers, the session only
moves forward (`last_message_id`, a ULID, must grow), and the hand-over is a
conditional `pending -> open` update, so a redelivered event never answers twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from omnihub.bot.decide import Decision, choose, keyword_in
from omnihub.bot.settings import BotSettings
from omnihub.hub.bus.base import Envelope
from omnihub.kb.learning import record_agent_answer, record_unanswered
from omnihub.kb.search import search_entries
from omnihub.kb.store import get_entries, record_feedback
from omnihub.kb.text import detect_language
from omnihub.normalizer.schema import Conversation, TextPart
from omnihub.store.events import event_row, write_outbox
from omnihub.store.replies import BOT_AUTHOR
from omnihub.store.rows import CONVERSATION_COLUMNS, conversation_from_row
from omnihub.store.tables import bot_buttons, bot_sessions, conversations, messages

if TYPE_CHECKING:
    from omnihub.hub.runtime import Hub

__all__ = ["HANDOVER_EVENT", "FaqBot"]

log = logging.getLogger("omnihub.bot")

HANDOVER_EVENT = "conversation.bot_handover"
_s, _c, _m = bot_sessions.c, conversations.c, messages.c
_REASONS = {
    "customer_request": "the customer asked for a person",
    "negative_sentiment": "negative sentiment",
    "unanswered": "the bot could not answer",
    "not_helpful": "the customer said the answer did not help",
}


def _text_of(message: dict[str, Any]) -> str:
    return "\n".join(p.get("text") or "" for p in message.get("parts", [])
                     if p.get("kind") == "text").strip()


class FaqBot:
    """One per hub; `handle` is registered as the ordered consumer "bot" on topic event."""

    def __init__(self, hub: Hub, settings: BotSettings | None = None) -> None:
        self.hub = hub
        self.settings = settings or hub.settings.bot
        texts = self.settings.texts.values()
        self.yes_words = {t.yes.lower() for t in texts} | {"yes", "是", "有用"}
        self.no_words = {t.no.lower() for t in texts} | {"no", "否", "没用"}

    async def handle(self, envelope: Envelope) -> None:
        data: dict[str, Any] = envelope.payload.get("data", {})
        if envelope.type == "message.received" and data.get("direction") == "in":
            if data.get("automated"):
                return  # an out-of-office reply or a bounce: answering it could loop
            await self.on_customer_message(data)
        elif (envelope.type == "message.sent" and not data.get("private")
              and str(data.get("author", "")).startswith("agent:")):
            text = _text_of(data)
            if text:
                await record_agent_answer(self.hub.db, data["conversation_id"], text,
                                          data["author"].removeprefix("agent:"))

    # ---------------------------------------------------------------- a customer message

    async def on_customer_message(self, message: dict[str, Any]) -> None:
        conversation = await self.hub.store.get_conversation(message["conversation_id"])
        if conversation is None or conversation.status != "pending" \
                or conversation.assignee is not None:
            return  # not the bot's (never was, or a person has taken it)
        session = await self._session(conversation.id)
        if session["state"] != "active":
            return
        if session["last_message_id"] is not None and message["id"] <= session["last_message_id"]:
            return  # already handled: a redelivered event
        text = _text_of(message)
        language = detect_language(text)
        decision = await self._decide(conversation, session, text, language)
        await self._act(conversation, session, message, decision, text, language)

    async def _session(self, conversation_id: str) -> dict[str, Any]:
        """The bot's state for this conversation, made on its first message."""
        select = sa.select(bot_sessions).where(_s.conversation_id == conversation_id)
        async with self.hub.db.read() as conn:
            row = (await conn.execute(select)).mappings().first()
        if row is not None:
            return dict(row)
        now = datetime.now(UTC)
        fresh = {"conversation_id": conversation_id, "state": "active", "last_message_id": None,
                 "unanswered": 0, "answered": 0, "awaiting": None, "entry_ids": [],
                 "reason": None, "created_at": now, "updated_at": now}
        try:
            async with self.hub.db.write() as conn:
                await conn.execute(sa.insert(bot_sessions).values(**fresh))
        except IntegrityError:  # another process made it first: use theirs
            async with self.hub.db.read() as conn:
                return dict((await conn.execute(select)).mappings().one())
        return fresh

    async def _decide(self, conversation: Conversation, session: dict[str, Any], text: str,
                      language: str) -> Decision:
        if not text:  # a photo, a sticker: nothing to look up
            return choose("", [], self.settings, unanswered=session["unanswered"])
        if session["awaiting"] == "choice" and session["entry_ids"]:
            async with self.hub.db.read() as conn:
                offered = await get_entries(conn, session["entry_ids"])
            picked = next((e for e in offered.values() if e.question == text.strip()), None)
            if picked is not None:
                hits = await search_entries(self.hub.db, picked.question, limit=10)
                chosen = [h for h in hits if h.entry.id == picked.id]
                if chosen:
                    return Decision("answer", hits=(chosen[0],))
        hits = await search_entries(self.hub.db, text, language=language,
                                    channel=conversation.channel_id,
                                    limit=self.settings.max_suggestions)
        return choose(text, hits, self.settings, unanswered=session["unanswered"],
                      awaiting_feedback=session["awaiting"] == "feedback",
                      feedback_words=(self.yes_words, self.no_words))

    async def _act(self, conversation: Conversation, session: dict[str, Any],
                   message: dict[str, Any], decision: Decision, text: str,
                   language: str) -> None:
        says = self.settings.texts_for(language)
        key = f"bot:{message['id']}"
        progress: dict[str, Any] = {}
        if decision.action == "answer":
            hit = decision.hits[0]
            body = hit.entry.answer_for(conversation.channel_id, conversation.channel_type)
            links = "\n".join(f"{link.title}: {link.url}" for link in hit.entry.links)
            reply = "\n\n".join(part for part in (body, links, says.helpful_prompt) if part)
            await self._say(conversation.id, key, reply, [says.yes, says.no])
            progress = {"unanswered": 0, "answered": session["answered"] + 1,
                        "awaiting": "feedback", "entry_ids": [hit.entry.id]}
        elif decision.action == "suggest":
            buttons = [h.entry.question for h in decision.hits]
            await self._say(conversation.id, key, says.choose, buttons)
            progress = {"unanswered": session["unanswered"] + 1, "awaiting": "choice",
                        "entry_ids": [h.entry.id for h in decision.hits]}
        elif decision.action == "not_understood":
            await self._say(conversation.id, key, says.not_understood)
            progress = {"unanswered": session["unanswered"] + 1, "awaiting": None,
                        "entry_ids": []}
        elif decision.action == "feedback_yes":
            await self._feedback(conversation.id, message["id"], session["entry_ids"],
                                 helpful=True)
            await self._say(conversation.id, key, says.thanks)
            progress = {"awaiting": None}
        else:  # a hand-over, or "no" to "did this help?", which is one
            if decision.action == "feedback_no":
                await self._feedback(conversation.id, message["id"], session["entry_ids"],
                                     helpful=False)
            await self.hand_over(conversation, decision.reason or "unanswered",
                                 decision.detail, language)
            return
        await self._advance(conversation.id, message["id"], progress)

    async def _say(self, conversation_id: str, key: str, text: str,
                   buttons: list[str] | None = None) -> None:
        """Queue a bot message; its buttons are stored first, so delivery always sees them."""
        if buttons:
            async with self.hub.db.write() as conn:
                exists = (await conn.execute(sa.select(bot_buttons.c.conversation_id).where(
                    bot_buttons.c.conversation_id == conversation_id,
                    bot_buttons.c.idempotency_key == key))).first()
                if exists is None:
                    await conn.execute(sa.insert(bot_buttons).values(
                        conversation_id=conversation_id, idempotency_key=key,
                        buttons=[b[:256] for b in buttons]))
        await self.hub.store.queue_reply(conversation_id, [TextPart(text=text)],
                                         author=BOT_AUTHOR, idempotency_key=key)

    async def _advance(self, conversation_id: str, message_id: str,
                       progress: dict[str, Any]) -> None:
        async with self.hub.db.write() as conn:
            await conn.execute(sa.update(bot_sessions).where(
                _s.conversation_id == conversation_id,
                sa.or_(_s.last_message_id.is_(None), _s.last_message_id < message_id),
            ).values(**progress, last_message_id=message_id, updated_at=datetime.now(UTC)))

    async def _feedback(self, conversation_id: str, message_id: str, entry_ids: list[str], *,
                        helpful: bool) -> None:
        """Count the answer once: only the update that ends the wait for it counts."""
        async with self.hub.db.write() as conn:
            moved = await conn.execute(sa.update(bot_sessions).where(
                _s.conversation_id == conversation_id, _s.awaiting == "feedback",
                sa.or_(_s.last_message_id.is_(None), _s.last_message_id < message_id),
            ).values(awaiting=None))
            if moved.rowcount:
                await record_feedback(conn, entry_ids, helpful)

    # ---------------------------------------------------------------- hand-over

    async def hand_over(self, conversation: Conversation, reason: str, detail: str | None,
                        language: str) -> bool:
        """Tell the customer, leave the agents a note saying why, open the conversation to
        its group (same transaction as the event), and let the assigner serve the group."""
        says = self.settings.texts_for(language)
        why = _REASONS.get(reason, reason) + (f" ({detail})" if detail else "")
        await self._say(conversation.id, "bot:handover", says.handover)
        await self.hub.store.queue_reply(
            conversation.id, [TextPart(text=f"Handed over by the FAQ bot: {why}.")],
            author=BOT_AUTHOR, private=True, idempotency_key="bot:handover-note")
        now = datetime.now(UTC)
        async with self.hub.db.write() as conn:
            changed = (await conn.execute(sa.update(conversations).where(
                _c.id == conversation.id, _c.status == "pending").values(
                status="open", updated_at=now, **self._clocks(conversation, now)))).rowcount
            if not changed:
                return False
            await conn.execute(sa.update(bot_sessions).where(
                _s.conversation_id == conversation.id).values(
                state="handed_over", reason=reason, updated_at=now))
            question = await self._last_question(conn, conversation.id)
            if question:
                await record_unanswered(conn, conversation.id, question, now)
            row = (await conn.execute(sa.select(*CONVERSATION_COLUMNS).where(
                _c.id == conversation.id))).mappings().one()
            opened = conversation_from_row(row)
            await write_outbox(conn, [event_row(HANDOVER_EVENT, {
                "conversation": opened.model_dump(mode="json"), "reason": reason,
                "detail": detail, "previous_status": "pending"}, key=conversation.id, now=now)])
        if self.hub.store.on_commit is not None:
            self.hub.store.on_commit()
        log.info("bot handed %s over: %s", conversation.id, why)
        if opened.group:
            await self.hub.assigner.serve([opened.group])
        return True

    def _clocks(self, conversation: Conversation, now: datetime) -> dict[str, Any]:
        """The first-response and resolution deadlines, started at the hand-over."""
        router = self.hub.routing.router
        if router is None:
            return {}
        return {metric + "_due": router.due_time(group=conversation.group,
                                                 channel_type=conversation.channel_type,
                                                 metric=metric, start=now)
                for metric in ("first_response", "resolution")}

    async def _last_question(self, conn: Any, conversation_id: str) -> str | None:
        """The customer's latest message that asks something (not "人工" / "agent")."""
        rows = await conn.execute(sa.select(_m.parts).where(
            _m.conversation_id == conversation_id, _m.direction == "in"
        ).order_by(_m.id.desc()).limit(10))
        for (parts,) in rows:
            text = _text_of({"parts": parts})
            if text and not keyword_in(text, self.settings.handover_keywords) \
                    and text.lower() not in self.yes_words | self.no_words:
                return text
        return None
