"""Knowledge-base files: export every entry as YAML or CSV, import one back.

YAML is `entries: [{question, paraphrases, answer, tags, language, variants, links}]`
(the id is written on export and optional on import). CSV has one row per entry with
the same columns: paraphrases one per line inside the cell, tags comma-separated,
variants and links as JSON.

Import updates an entry it can find — by `id`, else by the same question and language —
and creates the rest; each change is an ordinary new version (action "import"), an
unchanged entry writes nothing. The whole file is validated before anything is written.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from omnihub.kb.models import Entry, EntryIn
from omnihub.kb.store import create_entry, list_entries, update_entry
from omnihub.store.audit import Actor
from omnihub.store.db import Database

__all__ = ["CSV_COLUMNS", "Format", "ImportReport", "KbFileError", "dump_entries",
           "import_entries", "parse_entries"]

Format = Literal["yaml", "csv"]
CSV_COLUMNS = ("id", "question", "paraphrases", "answer", "tags", "language", "variants",
               "links")


class KbFileError(ValueError):
    """The file is not a knowledge base; the message names the entry and the field."""


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"created": len(self.created), "updated": len(self.updated),
                "unchanged": len(self.unchanged)}


# ---------------------------------------------------------------- reading

def _yaml_items(text: str) -> list[Any]:
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise KbFileError(f"not valid YAML: {' '.join(str(exc).split())}") from None
    if isinstance(data, dict):
        data = data.get("entries")
    if not isinstance(data, list):
        raise KbFileError("expected `entries:` with a list of entries")
    return data


def _csv_items(text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = {"question", "answer"} - set(reader.fieldnames or ())
    if missing:
        raise KbFileError(f"CSV header lacks {', '.join(sorted(missing))}")
    unknown = set(reader.fieldnames or ()) - set(CSV_COLUMNS)
    if unknown:
        raise KbFileError(f"unknown CSV column {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(CSV_COLUMNS)}")
    items = []
    for number, row in enumerate(reader, start=2):
        item: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
        try:
            if "paraphrases" in item:
                item["paraphrases"] = [p.strip() for p in item["paraphrases"].splitlines()
                                       if p.strip()]
            if "tags" in item:
                item["tags"] = [t.strip() for t in item["tags"].split(",") if t.strip()]
            for key in ("variants", "links"):
                if key in item:
                    item[key] = json.loads(item[key])
        except json.JSONDecodeError as exc:
            raise KbFileError(f"line {number}: {key} is not JSON ({exc.msg})") from None
        item["_where"] = f"line {number}"
        items.append(item)
    return items


def parse_entries(text: str, fmt: Format) -> list[tuple[str | None, EntryIn]]:
    """(id or None, entry) for each item, or KbFileError naming the first bad one."""
    items = _yaml_items(text) if fmt == "yaml" else _csv_items(text)
    out = []
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise KbFileError(f"entry {index}: expected a mapping")
        where = item.pop("_where", f"entry {index}")
        entry_id = item.pop("id", None)
        try:
            out.append((str(entry_id) if entry_id else None, EntryIn.model_validate(item)))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "entry"
            raise KbFileError(f"{where}: {loc}: {first['msg']}") from None
    return out


async def import_entries(db: Database, text: str, fmt: Format, *,
                         actor: Actor | str) -> ImportReport:
    parsed = parse_entries(text, fmt)
    existing = await list_entries(db)
    by_id = {e.id: e for e in existing}
    by_question = {(e.language, e.question): e for e in existing}
    report = ImportReport()
    for entry_id, data in parsed:
        found = by_id.get(entry_id) if entry_id else None
        found = found or by_question.get((data.language, data.question))
        if found is None:
            created = await create_entry(db, data, actor=actor, action="import")
            by_question[(data.language, data.question)] = created
            report.created.append(created.id)
            continue
        after = await update_entry(db, found.id, data.model_dump(mode="json"), actor=actor,
                                   action="import")
        (report.updated if after.version != found.version else report.unchanged).append(found.id)
    return report


# ---------------------------------------------------------------- writing

def dump_entries(entries: list[Entry], fmt: Format) -> str:
    if fmt == "yaml":
        yaml = YAML(typ="safe", pure=True)
        yaml.default_flow_style = False
        yaml.allow_unicode = True
        yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
        out = io.StringIO()
        yaml.dump({"entries": [{"id": e.id, **e.editable()} for e in entries]}, out)
        return out.getvalue()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for e in entries:
        data = e.editable()
        writer.writerow({
            "id": e.id, "question": data["question"], "answer": data["answer"],
            "paraphrases": "\n".join(data["paraphrases"]), "tags": ",".join(data["tags"]),
            "language": data["language"] or "",
            "variants": json.dumps(data["variants"], ensure_ascii=False) if data["variants"]
            else "",
            "links": json.dumps(data["links"], ensure_ascii=False) if data["links"] else ""})
    return out.getvalue()
