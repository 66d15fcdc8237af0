"""What the bot does with one customer message: a pure function of the text, the
search hits and the session, so the case table tests it without a hub.

Order of checks: an explicit request for a person, negative sentiment, an answer to
"did this help?", then the knowledge base: answer when confident and clearly ahead,
offer 2–3 choices when some entries are plausible, else count an unanswered turn and
hand over once there are `max_unanswered` in a row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from omnihub.bot.settings import BotSettings
from omnihub.kb.models import ScoredEntry

__all__ = ["Action", "Decision", "choose", "keyword_in"]

Action = Literal["answer", "suggest", "not_understood", "handover", "feedback_yes",
                 "feedback_no"]
HANDOVER_REASONS = ("customer_request", "negative_sentiment", "unanswered", "not_helpful")


@dataclass(frozen=True)
class Decision:
    action: Action
    hits: Sequence[ScoredEntry] = field(default_factory=tuple)
    reason: str | None = None  # handover: why (one of HANDOVER_REASONS)
    detail: str | None = None  # the keyword that fired, for the agent's note


def keyword_in(text: str, keywords: Iterable[str]) -> str | None:
    """The first keyword in text: as a substring for Chinese, as whole words otherwise."""
    lowered = text.lower()
    for word in keywords:
        needle = word.lower()
        if needle.isascii():
            if re.search(rf"(?<![a-z0-9]){re.escape(needle)}(?![a-z0-9])", lowered):
                return word
        elif needle in lowered:
            return word
    return None


def choose(text: str, hits: Sequence[ScoredEntry], settings: BotSettings, *,
           unanswered: int = 0, awaiting_feedback: bool = False,
           feedback_words: tuple[set[str], set[str]] = (set(), set())) -> Decision:
    """Decide for one message. `unanswered`: turns in a row not answered before this one."""
    found = keyword_in(text, settings.handover_keywords)
    if found:
        return Decision("handover", reason="customer_request", detail=found)
    found = keyword_in(text, settings.negative_keywords)
    if found:
        return Decision("handover", reason="negative_sentiment", detail=found)
    if awaiting_feedback:
        said = text.strip().lower()
        if said in feedback_words[0]:
            return Decision("feedback_yes")
        if said in feedback_words[1]:
            return Decision("feedback_no", reason="not_helpful")
    top = hits[0] if hits else None
    if top is not None and top.confidence >= settings.answer_threshold:
        runner_up = hits[1] if len(hits) > 1 else None
        if runner_up is None or top.score >= runner_up.score * (1 + settings.margin):
            return Decision("answer", hits=(top,))
    plausible = [h for h in hits if h.confidence >= settings.suggest_threshold]
    if len(plausible) >= 2 or (plausible and plausible[0] is top):
        offered = plausible[: settings.max_suggestions]
        if len(offered) < 2:  # a lone plausible entry: offer it next to the runner-up
            offered = list(hits[:2])
        if unanswered + 1 < settings.max_unanswered:
            return Decision("suggest", hits=tuple(offered))
    if unanswered + 1 >= settings.max_unanswered:
        return Decision("handover", reason="unanswered", detail=str(unanswered + 1))
    return Decision("not_understood")
