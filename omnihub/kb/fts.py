"""Candidate phrasings from the database's own full-text index, one query per dialect.

The index holds each phrasing as space-separated terms (kb/text.py), so every backend
only has to find rows containing any of the question's terms:

- SQLite: the FTS5 table kb_fts (external content over kb_phrases, kept by triggers),
  `MATCH '"t1" OR "t2"'`.
- PostgreSQL: `array_to_tsvector(string_to_array(terms, ' ')) @@ 't1' | 't2'`, served by
  the GIN index on that expression. The terms become lexemes verbatim: no parser or
  locale decides what a Chinese "word" is.
- MySQL/MariaDB: InnoDB FULLTEXT ignores words shorter than innodb_ft_min_token_size
  (3 by default), i.e. most Chinese words, and changing that is a server setting; so the
  portable fallback matches `' ' || terms || ' ' LIKE '% t %'`, a scan of kb_phrases —
  fine for the thousands of phrasings a shop's FAQ has.

Ranking is not left to the database (FTS5's bm25() has no counterpart elsewhere):
kb/search.py scores the candidates with one BM25, so every backend ranks alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.store.tables import kb_phrases

__all__ = ["CANDIDATE_CAP", "Candidate", "candidates", "corpus_stats"]

# With fewer candidates than this, every phrasing holding a query term is a candidate,
# so the document frequencies counted over them are the exact ones.
CANDIDATE_CAP = 2000
_p = kb_phrases.c


@dataclass(frozen=True, slots=True)
class Candidate:
    phrase_id: int
    entry_id: str
    terms: tuple[str, ...]


def _fts5_query(words: Sequence[str]) -> str:
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


def _tsquery(words: Sequence[str]) -> str:
    return " | ".join("'" + w.replace("\\", "\\\\").replace("'", "''") + "'" for w in words)


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"% {escaped} %"


async def candidates(conn: AsyncConnection, words: Sequence[str], *,
                     limit: int = CANDIDATE_CAP) -> list[Candidate]:
    """The phrasings containing at least one of `words` (already index terms)."""
    if not words:
        return []
    dialect = conn.dialect.name
    columns = sa.select(_p.id, _p.entry_id, _p.terms)
    if dialect == "sqlite":
        stmt = (sa.select(_p.id, _p.entry_id, _p.terms)
                .select_from(kb_phrases.join(sa.table("kb_fts"),
                                             sa.literal_column("kb_fts.rowid") == _p.id))
                .where(sa.text("kb_fts MATCH :match").bindparams(match=_fts5_query(words))))
    elif dialect == "postgresql":
        vector = sa.func.array_to_tsvector(sa.func.string_to_array(_p.terms, " "))
        stmt = columns.where(vector.op("@@")(sa.text("CAST(:tsq AS tsquery)").bindparams(
            tsq=_tsquery(words))))
    else:
        padded = sa.func.concat(" ", _p.terms, " ")
        stmt = columns.where(sa.or_(*(padded.like(_like(w), escape="\\") for w in words)))
    rows = await conn.execute(stmt.order_by(_p.id).limit(limit))
    return [Candidate(r.id, r.entry_id, tuple(r.terms.split(" "))) for r in rows]


async def corpus_stats(conn: AsyncConnection) -> tuple[int, float]:
    """How many phrasings there are and their mean length in terms (BM25's N and avgdl)."""
    row = (await conn.execute(sa.select(sa.func.count(), sa.func.avg(_p.length)))).one()
    return int(row[0] or 0), float(row[1] or 0.0)
