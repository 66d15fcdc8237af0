"""Knowledge-base search quality: precision@1 and recall@3 on held-out questions, and
how the FAQ bot would treat them (answer, offer choices, hand over).

A quality figure, not a speed one: it loads config/examples/kb.yaml into a scratch
SQLite store and asks the questions of kb_questions.yaml (written apart from the
entries, in Chinese and English, some with no answer in the knowledge base).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from omnihub.hub.bench.base import Benchmark, BenchOptions, Report
from omnihub.hub.bench.report import format_table

EXAMPLE_KB = Path(__file__).resolve().parents[3] / "config" / "examples" / "kb.yaml"


async def measure(kb_path: Path = EXAMPLE_KB) -> dict[str, Any]:
    """Figures of kb/evaluate.py over a fresh store holding the example knowledge base."""
    from omnihub.kb.evaluate import evaluate, load_questions
    from omnihub.kb.io import import_entries
    from omnihub.store.db import Database
    from omnihub.store.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="omnihub-bench-kb-") as workdir:
        db = Database(f"sqlite:///{workdir}/kb.db")
        try:
            await upgrade(db)
            await import_entries(db, kb_path.read_text(encoding="utf-8"), "yaml", actor="bench")
            return await evaluate(db, load_questions())
        finally:
            await db.dispose()


def kb_report(figures: dict[str, Any]) -> Report:
    """Word the figures as a Report (pure, testable)."""
    bot = figures["bot"]
    rows = [
        ["held-out questions", str(figures["questions"])],
        ["precision@1", f"{figures['precision_at_1']:.3f}"],
        ["recall@3", f"{figures['recall_at_3']:.3f}"],
        ["bot answers (right / wrong)", f"{bot['answered_right']} / {bot['answered_wrong']}"],
        ["bot offers choices (right one among them / not)",
         f"{bot['suggested_with_right']} / {bot['suggested_without_right']}"],
        ["bot hands over or asks again", str(bot["handed_over"] + bot["not_understood"])],
        ["out-of-scope questions answered (should be 0)",
         f"{figures['out_of_scope']['answered']} of "
         f"{sum(figures['out_of_scope'].values())}"],
    ]
    lines = format_table(["kb search", "value"], rows)
    lines += [f"miss: {m}" for m in figures["misses"]]
    return Report(
        name="kb", lines=lines, figures={k: v for k, v in figures.items() if k != "misses"},
        final_line=(f"kb precision@1 {figures['precision_at_1']:.3f}, recall@3 "
                    f"{figures['recall_at_3']:.3f}, bot answers {figures['bot_answer_rate']:.0%}"),
    )


def run(options: BenchOptions) -> Report:
    options.progress("kb: loading the example knowledge base and asking held-out questions")
    return kb_report(asyncio.run(measure()))


KB = Benchmark(name="kb", summary="knowledge-base search precision@1 / recall@3, bot split",
               run=run)
