"""`omnihub prune`: delete finished conversations past their retention period."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from omnihub.hub.commands.options import config_option, load_settings
from omnihub.hub.commands.store_access import run_on_store


@click.command("prune")
@click.option("--older-than", "older_than", default=None, metavar="PERIOD",
              help="e.g. 90d: replaces backup.retention.default_days (per-channel periods "
                   "in hub.yaml still apply).")
@click.option("--dry-run", is_flag=True, help="Only count what would go, per channel.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="Conversations deleted per transaction.")
@config_option
def prune(older_than: str | None, dry_run: bool, batch_size: int, config_path: Path | None) -> None:
    """Remove resolved and closed conversations whose last activity is older than the
    retention period, with their messages, raw payloads and media no one else uses.

    Open, pending and snoozed conversations are never touched, whatever their age.
    """
    from omnihub.router.durations import DurationError, format_duration, parse_duration
    from omnihub.store.retention import prune as prune_store

    settings = load_settings(config_path)
    try:
        period = parse_duration(older_than) if older_than is not None else None
    except DurationError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    policy = settings.backup.retention.policy(period)
    report = run_on_store(config_path, lambda db: prune_store(
        db, policy, now=datetime.now(UTC), media_root=settings.media.dir, dry_run=dry_run,
        batch_size=batch_size))
    verb = "would remove" if dry_run else "removed"
    if not report.channels:
        click.echo(f"nothing to prune (default period {format_duration(policy.default)})")
        return
    click.echo(f"{'CHANNEL':24}  {'TYPE':12}  {'CONVERSATIONS':>13}  {'MESSAGES':>9}")
    for channel_id, entry in sorted(report.channels.items()):
        click.echo(f"{channel_id:24}  {entry.channel_type:12}  {entry.conversations:>13}  "
                   f"{entry.messages:>9}")
    media = "" if dry_run else f" and {report.media_deleted} media file(s)"
    click.echo(f"{verb} {report.conversations} conversation(s), {report.messages} message(s)"
               f"{media}")
