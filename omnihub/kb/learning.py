"""Learning from agents: questions the bot handed over, with the answer an agent then
gave, clustered into proposed entries (or paraphrases of an entry) for an editor.

Clustering is deliberately plain: TF-IDF vectors over the segmented question terms
(kb/text.py) and a greedy single pass that joins a question to the first cluster whose
centroid is at least SIMILARITY cosine-similar. A cluster whose questions already find
an entry confidently is proposed as paraphrases of that entry; otherwise as a new
entry whose answer is the agents' most frequent answer. Suggestions are computed on
request from the open rows, and their id is a digest of their members: accepting or
rejecting one closes those rows, so the same proposal never comes back.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.kb.models import Answer, Entry, EntryIn, Question
from omnihub.kb.search import search_entries
from omnihub.kb.store import create_entry, get_entry, update_entry
from omnihub.kb.text import detect_language, terms
from omnihub.normalizer.ids import new_id
from omnihub.store.audit import Actor
from omnihub.store.db import Database
from omnihub.store.errors import NotFound
from omnihub.store.tables import kb_learning

__all__ = ["SIMILARITY", "Acceptance", "Suggestion", "accept_suggestion", "record_agent_answer",
           "record_unanswered", "reject_suggestion", "suggestions"]

SIMILARITY = 0.5
PARAPHRASE_CONFIDENCE = 0.45  # the bot's default answer threshold
_l = kb_learning.c


class Suggestion(BaseModel):
    id: str
    kind: Literal["new_entry", "paraphrase"]
    entry_id: str | None  # the entry to add paraphrases to
    question: str
    answer: str | None  # the agents' answer (new entries)
    paraphrases: list[str]  # the other questions of the cluster
    language: str | None
    support: int  # how many handed-over conversations asked this


class Acceptance(BaseModel):
    """Optional edits an editor makes while accepting a suggestion."""

    model_config = ConfigDict(extra="forbid")

    question: Question | None = None
    answer: Answer | None = None
    tags: list[str] | None = None


async def record_unanswered(conn: AsyncConnection, conversation_id: str, question: str,
                            now: datetime) -> None:
    """Keep the question the bot could not answer (once per conversation)."""
    exists = (await conn.execute(sa.select(_l.id).where(
        _l.conversation_id == conversation_id))).first()
    if exists is None and question.strip():
        await conn.execute(sa.insert(kb_learning).values(
            id=new_id(), conversation_id=conversation_id, question=question.strip()[:500],
            language=detect_language(question), answer=None, answered_by=None, status="open",
            created_at=now, updated_at=now))


async def record_agent_answer(db: Database, conversation_id: str, text: str, agent: str) -> bool:
    """The first agent answer after a hand-over becomes that question's answer."""
    async with db.write() as conn:
        done = await conn.execute(sa.update(kb_learning).where(
            _l.conversation_id == conversation_id, _l.answer.is_(None), _l.status == "open"
        ).values(answer=text[:16384], answered_by=agent, updated_at=datetime.now(UTC)))
    return bool(done.rowcount)


def _vectors(texts: Sequence[str]) -> list[dict[str, float]]:
    docs = [Counter(terms(t)) for t in texts]
    df = Counter(w for d in docs for w in d)
    n = len(docs)
    out = []
    for d in docs:
        vec = {w: tf * (math.log((1 + n) / (1 + df[w])) + 1) for w, tf in d.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        out.append({w: v / norm for w, v in vec.items()})
    return out


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    dot = sum(v * b.get(w, 0.0) for w, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values())) or 1.0
    nb = math.sqrt(sum(v * v for v in b.values())) or 1.0
    return dot / (na * nb)


def cluster(texts: Sequence[str], threshold: float = SIMILARITY) -> list[list[int]]:
    """Indexes of `texts` grouped greedily by cosine similarity to each group's centroid."""
    vectors = _vectors(texts)
    groups: list[list[int]] = []
    centroids: list[dict[str, float]] = []
    for index, vec in enumerate(vectors):
        for number, centroid in enumerate(centroids):
            if _cosine(vec, centroid) >= threshold:
                groups[number].append(index)
                for w, v in vec.items():
                    centroid[w] = centroid.get(w, 0.0) + v
                break
        else:
            groups.append([index])
            centroids.append(dict(vec))
    return groups


async def _open_rows(db: Database) -> list[Any]:
    async with db.read() as conn:
        return list((await conn.execute(sa.select(kb_learning).where(
            _l.status == "open", _l.answer.is_not(None)).order_by(_l.id))).mappings())


async def _build(db: Database, min_support: int) -> list[tuple[Suggestion, list[str]]]:
    rows = await _open_rows(db)
    out = []
    for members in cluster([r["question"] for r in rows]):
        if len(members) < min_support:
            continue
        picked = [rows[i] for i in members]
        ids = sorted(r["id"] for r in picked)
        questions = list(dict.fromkeys(r["question"] for r in picked))
        answer = Counter(r["answer"] for r in picked).most_common(1)[0][0]
        language = Counter(r["language"] for r in picked).most_common(1)[0][0]
        hits = await search_entries(db, questions[0], language=language, limit=1)
        target = hits[0].entry.id if hits and hits[0].confidence >= PARAPHRASE_CONFIDENCE \
            else None
        out.append((Suggestion(
            id=hashlib.sha256("|".join(ids).encode()).hexdigest()[:24],
            kind="paraphrase" if target else "new_entry", entry_id=target,
            question=questions[0], answer=None if target else answer,
            paraphrases=questions[1:], language=language, support=len(picked)), ids))
    out.sort(key=lambda item: (-item[0].support, item[0].id))
    return out


async def suggestions(db: Database, *, min_support: int = 2) -> list[Suggestion]:
    return [s for s, _ in await _build(db, min_support)]


async def _find(db: Database, suggestion_id: str) -> tuple[Suggestion, list[str]]:
    for suggestion, ids in await _build(db, 1):
        if suggestion.id == suggestion_id:
            return suggestion, ids
    raise NotFound(f"no open suggestion with id {suggestion_id!r}")


async def _close(db: Database, ids: list[str], status: str) -> None:
    async with db.write() as conn:
        await conn.execute(sa.update(kb_learning).where(_l.id.in_(ids), _l.status == "open")
                           .values(status=status, updated_at=datetime.now(UTC)))


async def accept_suggestion(db: Database, suggestion_id: str, edits: Acceptance, *,
                            actor: Actor | str) -> Entry:
    """Create the proposed entry, or add the questions as paraphrases; return the entry."""
    suggestion, ids = await _find(db, suggestion_id)
    if suggestion.kind == "paraphrase" and suggestion.entry_id is not None:
        entry = await get_entry(db, suggestion.entry_id)
        added = [q for q in [suggestion.question, *suggestion.paraphrases]
                 if q != entry.question][:100 - len(entry.paraphrases)]
        result = await update_entry(db, entry.id, {
            "paraphrases": list(dict.fromkeys([*entry.paraphrases, *added]))}, actor=actor)
    else:
        result = await create_entry(db, EntryIn(
            question=edits.question or suggestion.question,
            answer=edits.answer or suggestion.answer or "",
            paraphrases=[q for q in suggestion.paraphrases][:100], tags=edits.tags or [],
            language=suggestion.language), actor=actor)
    await _close(db, ids, "accepted")
    return result


async def reject_suggestion(db: Database, suggestion_id: str) -> None:
    _, ids = await _find(db, suggestion_id)
    await _close(db, ids, "rejected")
