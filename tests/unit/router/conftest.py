"""Helpers for the table-driven router tests: the data folder, YAML cases, instants."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parents[3]


def load_cases(name: str) -> list[dict[str, Any]]:
    """A YAML list of cases from the data folder."""
    return YAML(typ="safe").load((DATA / name).read_text(encoding="utf-8"))


def instant(value: Any) -> datetime:
    """An aware datetime from a case file ("2026-03-02T10:00+08:00")."""
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    assert at.tzinfo is not None, f"case time {value!r} needs an offset"
    return at
