"""Ranking canned replies by word overlap with the customer's question.

Words are lower-cased runs of letters or digits; Chinese, Japanese and Korean text has no
spaces, so it is split into overlapping character pairs (`退款到账` -> 退款, 款到, 到账),
the usual cheap stand-in for a segmenter. A few function words that every question shares
are left out, so "how do I" does not make every reply fit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

__all__ = ["rank_by_overlap", "words"]

T = TypeVar("T")

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_IS_CJK = re.compile(rf"[{_CJK}]")
_STOP = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "does", "for",
    "from", "have", "how", "i", "if", "in", "is", "it", "me", "my", "of", "on", "or", "our",
    "please", "the", "this", "to", "was", "we", "what", "when", "where", "which", "why",
    "will", "with", "you", "your"))


def words(text: str) -> frozenset[str]:
    """The comparable words of a text (see the module docstring)."""
    found: set[str] = set()
    for run in _TOKEN.findall(text.casefold()):
        if _IS_CJK.match(run):
            found.update(run[i:i + 2] for i in range(max(len(run) - 1, 1)))
        elif run not in _STOP and (len(run) > 1 or run.isdigit()):
            found.add(run)
    return frozenset(found)


def rank_by_overlap(question: str, candidates: Iterable[T], text_of: Callable[[T], str],
                    *, limit: int = 3) -> list[tuple[T, int]]:
    """The candidates sharing most words with `question` (at least one), best first;
    ties keep the candidates' order."""
    asked = words(question)
    if not asked:
        return []
    scored: Sequence[tuple[T, int]] = [(c, len(asked & words(text_of(c)))) for c in candidates]
    ranked = sorted((s for s in scored if s[1] > 0), key=lambda s: -s[1])
    return ranked[:limit]

