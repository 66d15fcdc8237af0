"""Turning figures into the printed table and the --json file."""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from omnihub.hub.bench.base import Report
from omnihub.hub.bench.stats import Spread


def format_number(value: float, digits: int) -> str:
    """Thousands separators for big counts, fixed decimals for small figures."""
    return f"{value:,.{digits}f}"


def format_spread(spread: Spread, digits: int = 0) -> str:
    """`median [low-high]`, or the median alone when there was one rep."""
    middle = format_number(spread.median, digits)
    if spread.low == spread.high:
        return middle
    return f"{middle} [{format_number(spread.low, digits)}-{format_number(spread.high, digits)}]"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned first column, right-aligned figures, two spaces between columns."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = str(cells[0]).ljust(widths[0])
        rest = [str(cell).rjust(width) for cell, width in zip(cells[1:], widths[1:])]
        return "  ".join([first, *rest]).rstrip()

    return [line(header), *(line(row) for row in rows)]


def package_versions(names: Sequence[str]) -> dict[str, str | None]:
    """Installed versions of the packages that shape the figures."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment() -> dict[str, Any]:
    """What the figures were measured on, so a later run can be compared fairly."""
    import os

    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "system": platform.platform(),
        "cpus": os.cpu_count(),
        "packages": package_versions(
            ["omnihub", "aiohttp", "uvloop", "pydantic", "SQLAlchemy", "aiosqlite", "orjson"]
        ),
    }


def render(report: Report) -> list[str]:
    """The lines printed for one benchmark, its final line last."""
    problems = [f"PROBLEM: {problem}" for problem in report.problems]
    return [*report.lines, *problems, report.final_line]


def write_json(path: Path, reports: Sequence[Report], options: dict[str, Any]) -> None:
    """All figures of the run, by benchmark name, with the environment and options."""
    document = {
        "environment": environment(),
        "options": options,
        "benchmarks": {
            report.name: {
                "ok": report.ok,
                "problems": report.problems,
                "final_line": report.final_line,
                **report.figures,
            }
            for report in reports
        },
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
