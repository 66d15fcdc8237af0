"""Search quality stays above the floor measured when the benchmark was written
(precision@1 0.843, recall@3 0.963 on 108 held-out questions; `omnihub bench --only kb`)."""

from __future__ import annotations

from omnihub.hub.bench import registry
from omnihub.hub.bench.kb import kb_report, measure
from omnihub.kb.evaluate import load_questions

PRECISION_AT_1_FLOOR = 0.82
RECALL_AT_3_FLOOR = 0.94


def test_held_out_set_is_large_and_bilingual() -> None:
    questions = load_questions()
    known = [q for q in questions if q.entry is not None]
    assert len(known) >= 100
    assert any("\u4e00" <= ch <= "\u9fff" for q in known for ch in q.text)
    assert any(q.text.isascii() for q in known)
    assert "kb" in registry.names()


async def test_search_quality_and_bot_split_stay_above_the_floor() -> None:
    figures = await measure()
    assert figures["precision_at_1"] >= PRECISION_AT_1_FLOOR, figures["misses"]
    assert figures["recall_at_3"] >= RECALL_AT_3_FLOOR, figures["misses"]
    bot = figures["bot"]
    assert bot["answered_wrong"] <= 2  # the bot answers only when it is sure ...
    assert figures["bot_answer_rate"] >= 0.5  # ... and is sure for most questions
    assert figures["out_of_scope"]["answered"] == 0  # never guesses outside the KB
    report = kb_report(figures)
    assert report.final_line.startswith(f"kb precision@1 {figures['precision_at_1']:.3f}")
