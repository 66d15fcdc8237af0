"""`GET /api/v1/conversations/{id}/suggestions`: what an agent wants beside a conversation.

The customer's recent orders and derived tags, their other open conversations (on other
channels or threads), the knowledge-base entries that best answer the customer's latest
question (omnihub/kb, when that package is installed in this hub), and the canned
replies sharing most words with that question.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel

from omnihub.hub.http import json_response
from omnihub.hub.runtime import HUB
from omnihub.inbox.context import visible_conversation
from omnihub.normalizer.schema import OPEN_STATUSES
from omnihub.profiles.overlap import rank_by_overlap
from omnihub.store import profiles as store
from omnihub.store.canned import list_canned
from omnihub.store.db import Database
from omnihub.store.tables import conversations, messages

__all__ = ["Suggestions", "setup"]

log = logging.getLogger("omnihub.profiles")
RECENT_ORDERS = 5
SUGGESTED = 3


class OtherConversation(BaseModel):
    id: str
    channel_id: str
    channel_type: str
    status: str
    group: str | None
    assignee: str | None
    last_message_at: datetime


class CannedSuggestion(BaseModel):
    id: str
    shortcut: str
    title: str | None
    body: str
    score: int


class Suggestions(BaseModel):
    customer_id: str
    question: str | None
    derived_tags: list[str]
    recent_orders: list[store.Order]
    open_conversations: list[OtherConversation]
    knowledge_base: list[dict[str, Any]]
    canned_replies: list[CannedSuggestion]


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/conversations/{id}/suggestions", suggestions)


def _text_of(parts: Any) -> str:
    texts = []
    for part in parts or ():
        if isinstance(part, dict):
            text = part.get("text") or part.get("caption") or part.get("transcript")
            if text:
                texts.append(str(text))
    return "\n".join(texts)


async def last_question(db: Database, conversation_id: str) -> str | None:
    """The text of the customer's latest message that has any."""
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(messages.c.parts)
            .where(messages.c.conversation_id == conversation_id, messages.c.direction == "in")
            .order_by(messages.c.id.desc()).limit(5))
        for parts in rows.scalars():
            text = _text_of(parts).strip()
            if text:
                return text
    return None


async def other_open(db: Database, customer_id: str, conversation_id: str
                     ) -> list[OtherConversation]:
    c = conversations.c
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(c.id, c.channel_id, c.channel_type, c.status, c.skill_group,
                      c.assignee, c.last_message_at)
            .where(c.customer_id == customer_id, c.status.in_(OPEN_STATUSES),
                   c.id != conversation_id)
            .order_by(c.last_message_at.desc()).limit(20))
        return [OtherConversation(id=r.id, channel_id=r.channel_id, channel_type=r.channel_type,
                                  status=r.status, group=r.skill_group, assignee=r.assignee,
                                  last_message_at=r.last_message_at) for r in rows]


async def knowledge_base(db: Database, question: str, channel: str) -> list[dict[str, Any]]:
    """The best entries of omnihub/kb for the question; [] when that package is absent."""
    try:
        from omnihub.kb.search import search_entries  # type: ignore[import-not-found]
    except ImportError:
        return []
    try:
        found = await search_entries(db, question, channel=channel, limit=SUGGESTED)
    except Exception:  # the knowledge base must not take the rest of the panel down
        log.exception("knowledge-base search failed; suggestions go without it")
        return []
    return [_plain(entry) for entry in found]


def _plain(entry: Any) -> dict[str, Any]:
    if isinstance(entry, BaseModel):
        return entry.model_dump(mode="json")
    if isinstance(entry, dict):
        return entry
    return {k: getattr(entry, k) for k in getattr(entry, "__slots__", ()) or vars(entry)}


async def suggestions(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    conversation = await visible_conversation(request)
    customer_id = conversation.customer_id
    question = await last_question(hub.db, conversation.id)
    tags, _ = await store.derived_tags_of(hub.db, customer_id)
    canned: list[CannedSuggestion] = []
    entries: list[dict[str, Any]] = []
    if question:
        replies = await list_canned(hub.db)
        ranked = rank_by_overlap(question, replies,
                                 lambda r: f"{r.shortcut} {r.title or ''} {r.body}",
                                 limit=SUGGESTED)
        canned = [CannedSuggestion(id=r.id, shortcut=r.shortcut, title=r.title, body=r.body,
                                   score=score) for r, score in ranked]
        entries = await knowledge_base(hub.db, question, conversation.channel_type)
    return json_response(Suggestions(
        customer_id=customer_id, question=question, derived_tags=tags,
        recent_orders=await store.list_orders(hub.db, customer_id, limit=RECENT_ORDERS),
        open_conversations=await other_open(hub.db, customer_id, conversation.id),
        knowledge_base=entries, canned_replies=canned))
