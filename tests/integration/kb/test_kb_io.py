"""Import and export: YAML and CSV round trips on every backend, and the CLI commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from omnihub.hub.cli import main
from omnihub.kb.io import KbFileError, dump_entries, import_entries, parse_entries
from omnihub.kb.store import entry_versions, list_entries
from omnihub.store.db import Database

EXAMPLE_KB = Path(__file__).parents[3] / "config" / "examples" / "kb.yaml"


async def test_example_kb_is_big_enough_and_bilingual(db: Database) -> None:
    report = await import_entries(db, EXAMPLE_KB.read_text(encoding="utf-8"), "yaml", actor="t")
    entries = await list_entries(db)
    assert len(report.created) == len(entries) >= 40
    assert {e.language for e in entries} == {"zh", "en"}
    assert all(e.paraphrases for e in entries)


@pytest.mark.parametrize("fmt", ["yaml", "csv"])
async def test_export_then_import_changes_nothing(db: Database, fmt: str) -> None:
    await import_entries(db, EXAMPLE_KB.read_text(encoding="utf-8"), "yaml", actor="t")
    before = await list_entries(db)
    text = dump_entries(before, fmt)  # type: ignore[arg-type]
    parsed = [e.model_dump(mode="json") for _, e in parse_entries(text, fmt)]  # type: ignore[arg-type]
    assert parsed == [e.editable() for e in before]
    report = await import_entries(db, text, fmt, actor="t")  # type: ignore[arg-type]
    assert (len(report.created), len(report.updated), len(report.unchanged)) == (0, 0, len(before))
    assert await list_entries(db) == before


async def test_import_updates_by_question_and_records_the_version(db: Database) -> None:
    first = "entries:\n  - {question: 能开发票吗, answer: 可以, language: zh}\n"
    await import_entries(db, first, "yaml", actor="ed")
    report = await import_entries(db, first.replace("可以", "可以，在订单页申请"), "yaml",
                                  actor="ann")
    assert len(report.updated) == 1
    versions = await entry_versions(db, report.updated[0])
    assert [(v.version, v.action, v.actor) for v in versions] == [(1, "import", "ed"),
                                                                  (2, "import", "ann")]


@pytest.mark.parametrize(("text", "fmt", "message"), [
    ("entries: {question: q}", "yaml", "expected `entries:` with a list"),
    ("entries:\n  - {question: q}\n", "yaml", "entry 1: answer: Field required"),
    ("question,answer,colour\nq,a,red\n", "csv", "unknown CSV column colour"),
    ("question,answer,links\nq,a,[oops\n", "csv", "line 2: links is not JSON"),
])
def test_bad_files_name_the_problem(text: str, fmt: str, message: str) -> None:
    with pytest.raises(KbFileError, match=message.replace("(", r"\(")):
        parse_entries(text, fmt)  # type: ignore[arg-type]


def test_cli_import_and_export(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(f"store: {{url: 'sqlite:///{tmp_path}/hub.db'}}\n", encoding="utf-8")
    runner = CliRunner()
    migrated = runner.invoke(main, ["migrate", "--config", str(config)])
    assert migrated.exit_code == 0, migrated.output
    done = runner.invoke(main, ["kb", "import", str(EXAMPLE_KB), "--config", str(config)])
    assert done.exit_code == 0, done.output
    assert "50 created, 0 updated, 0 unchanged" in done.output
    exported = runner.invoke(main, ["kb", "export", "--format", "csv", "--config", str(config)])
    assert exported.exit_code == 0, exported.output
    assert exported.output.splitlines()[0] == (
        "id,question,paraphrases,answer,tags,language,variants,links")
    csv_file = tmp_path / "kb.csv"
    csv_file.write_text(exported.output, encoding="utf-8")
    again = runner.invoke(main, ["kb", "import", str(csv_file), "--config", str(config)])
    assert "0 created, 0 updated, 50 unchanged" in again.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("entries: [{question: q}]\n", encoding="utf-8")
    refused = runner.invoke(main, ["kb", "import", str(bad), "--config", str(config)])
    assert refused.exit_code == 1 and "entry 1: answer: Field required" in refused.output
