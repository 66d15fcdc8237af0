"""Full-text search of the knowledge base on SQLite (FTS5), PostgreSQL (tsvector) and
MySQL/MariaDB (portable fallback): the same entries, the same ranking."""

from __future__ import annotations

from omnihub.kb.models import EntryChange, EntryIn
from omnihub.kb.search import search_entries
from omnihub.kb.store import create_entry, delete_entry, update_entry
from omnihub.store.db import Database

REFUND_TIME = EntryIn(
    question="退款一般多久能到账？", paraphrases=["退款什么时候到", "钱什么时候退回来"],
    answer="退款审核通过后，原路退回，一般1-3个工作日到账。", language="zh", tags=["refund"],
    variants={"sms": "退款1-3个工作日到账。"})
REFUND_HOW = EntryIn(question="怎么申请退款？", paraphrases=["如何退款", "我要退款"],
                     answer="在订单详情页点击“申请退款”。", language="zh")
SHIPPING = EntryIn(question="How long does shipping take?",
                   paraphrases=["When will my order arrive?", "delivery time"],
                   answer="Standard shipping takes 3-5 business days.", language="en")
INVOICE = EntryIn(question="Can I get an invoice?", paraphrases=["I need a VAT receipt"],
                  answer="Yes: download it from your order page.", language="en")


async def _seed(db: Database) -> dict[str, str]:
    ids = {}
    for name, data in (("refund_time", REFUND_TIME), ("refund_how", REFUND_HOW),
                       ("shipping", SHIPPING), ("invoice", INVOICE)):
        ids[name] = (await create_entry(db, data, actor="editor")).id
    return ids


async def test_chinese_question_finds_the_refund_timing_entry(db: Database) -> None:
    ids = await _seed(db)
    hits = await search_entries(db, "退款多久到账")
    assert [h.entry.id for h in hits][:2] == [ids["refund_time"], ids["refund_how"]]
    assert hits[0].confidence > hits[1].confidence
    assert hits[0].matched == "退款一般多久能到账？"


async def test_english_question_with_other_word_forms(db: Database) -> None:
    ids = await _seed(db)
    hits = await search_entries(db, "when does my order arrive")
    assert hits[0].entry.id == ids["shipping"]
    hits = await search_entries(db, "invoices please")
    assert [h.entry.id for h in hits] == [ids["invoice"]]


async def test_language_filter_and_channel_variant(db: Database) -> None:
    ids = await _seed(db)
    assert await search_entries(db, "退款", language="en") == []
    hits = await search_entries(db, "退款多久到账", language="zh", channel="sms", limit=1)
    assert [(h.entry.id, h.answer) for h in hits] == [(ids["refund_time"], "退款1-3个工作日到账。")]


async def test_nothing_in_common_finds_nothing(db: Database) -> None:
    await _seed(db)
    assert await search_entries(db, "the weather on mars") == []
    assert await search_entries(db, "？？ !!") == []


async def test_index_follows_changes_and_deletes(db: Database) -> None:
    ids = await _seed(db)
    await update_entry(db, ids["invoice"], EntryChange(paraphrases=["发票怎么开"]), actor="ed")
    hits = await search_entries(db, "开发票")
    assert [h.entry.id for h in hits] == [ids["invoice"]]
    await delete_entry(db, ids["invoice"], actor="ed")
    assert await search_entries(db, "开发票") == []


async def test_quotes_and_operators_in_the_query_are_plain_words(db: Database) -> None:
    await _seed(db)
    for text in ['"shipping" OR NEAR(', "ship' | !x & \\", "100% _refund_", "a:b*"]:
        await search_entries(db, text)  # no syntax error from any backend
    hits = await search_entries(db, 'shipping" OR "take')
    assert hits and hits[0].entry.question == "How long does shipping take?"
