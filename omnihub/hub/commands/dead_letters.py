"""`omnihub dead-letters list|replay`: the events consumers gave up on, and reviving them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from omnihub.hub.commands.options import config_option
from omnihub.hub.commands.store_access import run_on_store
from omnihub.store.outbox import Job, JobNotDead, JobNotFound, list_dead, replay_dead

_ERROR_WIDTH = 60


def _when(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}"


def _one_line(error: str | None, width: int = _ERROR_WIDTH) -> str:
    text = " ".join((error or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


@click.group("dead-letters")
def dead_letters() -> None:
    """Inspect and replay events that a consumer failed on until it gave up."""


@dead_letters.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="Show at most this many, newest first.")
@click.option("--consumer", default=None, help="Only this consumer's dead letters.")
@config_option
def list_(limit: int, consumer: str | None, config_path: Path | None) -> None:
    """One line per dead letter: id, consumer, event, attempts, dates and the last error."""
    jobs: list[Job] = run_on_store(config_path,
                                   lambda db: list_dead(db, consumer=consumer, limit=limit))
    if not jobs:
        click.echo("no dead letters", err=True)
        return
    click.echo(f"{'ID':>8}  {'CONSUMER':16}  {'EVENT':26}  {'TYPE':22}  {'TRIES':>5}  "
               f"{'FIRST FAILED (UTC)':19}  {'GAVE UP (UTC)':19}  LAST ERROR")
    for job in jobs:
        click.echo(f"{job.id:>8}  {job.consumer:16}  {job.event_id:26}  "
                   f"{job.envelope.type:22}  {job.attempts:>5}  {_when(job.created_at)}  "
                   f"{_when(job.updated_at)}  {_one_line(job.last_error)}")


@dead_letters.command("replay")
@click.argument("job_id", type=int)
@config_option
def replay(job_id: int, config_path: Path | None) -> None:
    """Send dead letter JOB_ID to its consumer again, with a fresh set of attempts."""
    try:
        job = run_on_store(config_path, lambda db: replay_dead(db, job_id))
    except (JobNotFound, JobNotDead) as exc:
        raise click.ClickException(f"{exc}; see `omnihub dead-letters list`") from None
    click.echo(f"dead letter {job.id} ({job.consumer}, event {job.event_id}) queued for retry")
