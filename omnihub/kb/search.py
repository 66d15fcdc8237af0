"""Find the best entries for a question: full-text candidates, ranked by BM25.

The database's full-text index (kb/fts.py) finds every phrasing that shares a term with
the question; those are scored here with Okapi BM25 (k1=1.2, b=0.75) over the phrasings.
N and the mean length come from the table, and the document frequencies are counted
over the candidates — exact, since every phrasing holding a query term is a candidate
(up to fts.CANDIDATE_CAP). A small scorer of our own rather than rank_bm25: that
library wants the whole corpus in memory, which several hub processes would each keep
and refresh; this one needs only the candidates of one query.

An entry scores as its best phrasing (question or a paraphrase), then is re-weighted by
its "did this help?" counts: x0.5 (never helped) .. x1.5 (always helped), Laplace
smoothed, so two answers don't swing it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from omnihub.kb.fts import candidates, corpus_stats
from omnihub.kb.models import Entry, ScoredEntry
from omnihub.kb.store import get_entries
from omnihub.kb.text import terms
from omnihub.store.db import Database

__all__ = ["K1", "B", "feedback_weight", "search_entries"]

K1 = 1.2
B = 0.75
MAX_QUERY_TERMS = 64


def feedback_weight(entry: Entry) -> float:
    """1.0 with no feedback; towards 1.5 when customers say it helped, 0.5 when not."""
    share = (entry.helpful + 1) / (entry.helpful + entry.unhelpful + 2)
    return 0.5 + share


def _idf(n: int, df: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def _language_ok(entry: Entry, language: str | None) -> bool:
    if language is None or entry.language is None:
        return True
    return entry.language.split("-")[0] == language.split("-")[0]


async def search_entries(db: Database, query: str, *, language: str | None = None,
                         channel: str | None = None, limit: int = 3) -> list[ScoredEntry]:
    """The `limit` best entries for `query`, best first; [] when nothing shares a word.

    `language` keeps entries of that language (and those with none); `channel` (a
    channel id or type) picks each entry's answer variant for that channel.
    """
    words = list(dict.fromkeys(terms(query)))[:MAX_QUERY_TERMS]
    if not words or limit < 1:
        return []
    async with db.read() as conn:
        found = await candidates(conn, words)
        if not found:
            return []
        n, avgdl = await corpus_stats(conn)
        entries = await get_entries(conn, {c.entry_id for c in found})
    query_set = set(words)
    df = Counter(w for c in found for w in set(c.terms) & query_set)
    idf = {w: _idf(max(n, 1), df.get(w, 0)) for w in words}
    total_idf = sum(idf.values()) or 1.0
    best: dict[str, tuple[float, float, tuple[str, ...]]] = {}
    for cand in found:
        entry = entries.get(cand.entry_id)
        if entry is None or not _language_ok(entry, language):
            continue
        tf = Counter(cand.terms)
        length = len(cand.terms)
        norm = K1 * (1 - B + B * length / (avgdl or 1.0))
        matched = [w for w in words if w in tf]
        score = sum(idf[w] * tf[w] * (K1 + 1) / (tf[w] + norm) for w in matched)
        covered = sum(idf[w] for w in matched) / total_idf
        share = sum(tf[w] for w in matched) / length if length else 0.0
        confidence = 0.75 * covered + 0.25 * share
        if score > best.get(cand.entry_id, (-1.0, 0.0, ()))[0]:
            best[cand.entry_id] = (score, confidence, cand.terms)
    hits = []
    for entry_id, (score, confidence, matched_terms) in best.items():
        entry = entries[entry_id]
        weight = feedback_weight(entry)
        hits.append(ScoredEntry(
            entry=entry, answer=entry.answer_for(channel, channel), score=score * weight,
            confidence=round(min(1.0, confidence * min(1.0, 0.5 + weight / 2)), 4),
            matched=_phrasing_text(entry, matched_terms)))
    hits.sort(key=lambda h: (-h.score, h.entry.id))
    return hits[:limit]


def _phrasing_text(entry: Entry, matched_terms: Sequence[str]) -> str:
    """The original text of the phrasing whose terms matched (the index keeps only terms)."""
    for text in (entry.question, *entry.paraphrases):
        if terms(text) == tuple(matched_terms):
            return text
    return entry.question
