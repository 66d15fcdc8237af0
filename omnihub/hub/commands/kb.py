"""`omnihub kb import FILE` / `omnihub kb export`: the knowledge base as YAML or CSV."""

from __future__ import annotations

from pathlib import Path

import click

from omnihub.hub.commands.options import config_option
from omnihub.hub.commands.store_access import run_on_store
from omnihub.kb.io import Format, KbFileError, dump_entries, import_entries, parse_entries
from omnihub.kb.store import list_entries


def _format_of(path: Path, given: str | None) -> Format:
    if given:
        return given  # type: ignore[return-value]
    return "csv" if path.suffix.lower() == ".csv" else "yaml"


@click.group()
def kb() -> None:
    """Import and export the FAQ knowledge base."""


@kb.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["yaml", "csv"]),
              help="Default: from the file name (.csv, else YAML).")
@click.option("--actor", default="cli", show_default=True,
              help="Who the new versions are recorded as.")
@config_option
def import_(file: Path, fmt: str | None, actor: str, config_path: Path | None) -> None:
    """Create or update entries from FILE: matched by id, else by question and language."""
    kind = _format_of(file, fmt)
    text = file.read_text(encoding="utf-8")
    try:
        parse_entries(text, kind)  # refuse a bad file before opening the store
    except KbFileError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    report = run_on_store(config_path, lambda db: import_entries(db, text, kind, actor=actor))
    counts = report.as_dict()
    click.echo(f"{file}: {counts['created']} created, {counts['updated']} updated, "
               f"{counts['unchanged']} unchanged", err=True)


@kb.command("export")
@click.option("--format", "fmt", type=click.Choice(["yaml", "csv"]), default="yaml",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of stdout.")
@config_option
def export(fmt: str, output: Path | None, config_path: Path | None) -> None:
    """Write every entry, in a form `omnihub kb import` reads back."""
    entries = run_on_store(config_path, list_entries)
    text = dump_entries(entries, fmt)  # type: ignore[arg-type]
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"{len(entries)} entries written to {output}", err=True)
