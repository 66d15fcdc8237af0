"""Segmentation, the bot's decision rules and the learning step's clustering, pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from omnihub.bot.decide import choose, keyword_in
from omnihub.bot.settings import BotSettings
from omnihub.kb.learning import cluster
from omnihub.kb.models import Entry, ScoredEntry
from omnihub.kb.text import detect_language, terms


def test_chinese_is_segmented_in_search_mode() -> None:
    assert {"退款", "多久", "到", "账"} <= set(terms("退款多久到账"))
    # jieba cuts 发顺丰 here and 顺丰 elsewhere: the characters let both meet
    assert {"顺", "丰"} <= set(terms("能发顺丰吗")) & set(terms("可以给我发顺丰吗"))
    assert terms("的了吗") == ()


def test_english_words_are_folded_to_one_form() -> None:
    assert terms("Invoices, SHIPPING") == terms("invoice shipped")
    assert terms("ＶＩＰ") == terms("vip")  # full-width letters


def test_language() -> None:
    assert (detect_language("退款"), detect_language("refund")) == ("zh", "en")


@pytest.mark.parametrize(("text", "found"), [
    ("我要转人工", "人工"), ("AGENT please", "agent"), ("reagent", None),
    ("human being", "human"), ("请帮我", None)])
def test_keywords(text: str, found: str | None) -> None:
    assert keyword_in(text, ["人工", "agent", "human"]) == found


def _hit(question: str, score: float, confidence: float) -> ScoredEntry:
    now = datetime.now(UTC)
    entry = Entry(id=question, question=question, answer="a", version=1, created_by="t",
                  updated_by="t", created_at=now, updated_at=now)
    return ScoredEntry(entry=entry, answer="a", score=score, confidence=confidence,
                       matched=question)


SETTINGS = BotSettings(channels=["x"], answer_threshold=0.5, margin=0.4, suggest_threshold=0.2,
                       max_unanswered=2)


@pytest.mark.parametrize(("hits", "unanswered", "action"), [
    ([_hit("a", 10, 0.9), _hit("b", 5, 0.5)], 0, "answer"),
    ([_hit("a", 10, 0.9), _hit("b", 9, 0.8)], 0, "suggest"),  # too close to call
    ([_hit("a", 10, 0.4), _hit("b", 5, 0.3)], 0, "suggest"),  # not confident
    ([_hit("a", 10, 0.4), _hit("b", 5, 0.3)], 1, "handover"),  # the second miss
    ([_hit("a", 10, 0.1)], 0, "not_understood"),
    ([], 1, "handover"),
])
def test_decision_rules(hits: list[ScoredEntry], unanswered: int, action: str) -> None:
    assert choose("q", hits, SETTINGS, unanswered=unanswered).action == action


def test_request_and_sentiment_win_over_a_confident_answer() -> None:
    hits = [_hit("a", 10, 1.0)]
    assert choose("退款 转人工", hits, SETTINGS).reason == "customer_request"
    assert choose("this is a scam", hits, SETTINGS).reason == "negative_sentiment"


def test_feedback_only_while_awaiting_it() -> None:
    words = ({"yes"}, {"no"})
    assert choose("No", [], SETTINGS, awaiting_feedback=True,
                  feedback_words=words).action == "feedback_no"
    assert choose("No", [], SETTINGS, feedback_words=words).action == "not_understood"


def test_similar_questions_cluster_together() -> None:
    groups = cluster(["周末有人值班吗", "你们周末有客服值班吗", "能开发票吗", "发票可以开吗",
                      "周末有客服吗"])
    assert sorted(map(sorted, groups)) == [[0, 1, 4], [2, 3]]
