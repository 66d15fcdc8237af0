"""Search quality on held-out questions: precision@1, recall@3 and what the bot would do.

Used by `omnihub bench --only kb` and by the test that keeps the figures above a floor.
Each question names the entry (by its question text) that answers it, or none when the
knowledge base has no answer; the bot's split is `decide.choose` on a first message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from omnihub.bot.decide import choose
from omnihub.bot.settings import BotSettings
from omnihub.kb.search import search_entries
from omnihub.kb.text import detect_language
from omnihub.store.db import Database

__all__ = ["QUESTIONS", "Question", "evaluate", "load_questions"]

QUESTIONS = Path(__file__).resolve().parents[1] / "hub" / "bench" / "kb_questions.yaml"


@dataclass(frozen=True)
class Question:
    text: str
    entry: str | None  # the question of the right entry; None: not in the knowledge base


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return [Question(str(q["q"]), q["entry"]) for q in data["questions"]]


async def evaluate(db: Database, questions: list[Question],
                   settings: BotSettings | None = None) -> dict[str, Any]:
    """Figures over `questions` against the entries in `db`; misses listed for reading."""
    settings = settings or BotSettings()
    known = [q for q in questions if q.entry is not None]
    at1 = at3 = 0
    bot = {"answered_right": 0, "answered_wrong": 0, "suggested_with_right": 0,
           "suggested_without_right": 0, "handed_over": 0, "not_understood": 0}
    unknown = {"answered": 0, "not_answered": 0}
    misses: list[str] = []
    for q in questions:
        language = detect_language(q.text)
        hits = await search_entries(db, q.text, language=language, limit=3)
        top = [h.entry.question for h in hits]
        decision = choose(q.text, hits, settings)
        if q.entry is None:
            unknown["answered" if decision.action == "answer" else "not_answered"] += 1
            continue
        at1 += bool(top) and top[0] == q.entry
        at3 += q.entry in top
        if not top or top[0] != q.entry:
            misses.append(f"{q.text} -> {top[0] if top else '(nothing)'}")
        offered = [h.entry.question for h in decision.hits]
        if decision.action == "answer":
            bot["answered_right" if offered[0] == q.entry else "answered_wrong"] += 1
        elif decision.action == "suggest":
            bot["suggested_with_right" if q.entry in offered else "suggested_without_right"] += 1
        elif decision.action == "handover":
            bot["handed_over"] += 1
        else:
            bot["not_understood"] += 1
    count = len(known) or 1
    return {
        "questions": len(known),
        "precision_at_1": round(at1 / count, 4),
        "recall_at_3": round(at3 / count, 4),
        "bot": bot,
        "bot_answer_rate": round((bot["answered_right"] + bot["answered_wrong"]) / count, 4),
        "bot_answer_precision": round(
            bot["answered_right"] / max(1, bot["answered_right"] + bot["answered_wrong"]), 4),
        "out_of_scope": unknown,
        "misses": misses,
    }
