"""`omnihub token create|list|revoke`: agent API tokens, handed out once, stored hashed."""

from __future__ import annotations

from pathlib import Path

import click

from omnihub.hub.commands.options import config_option
from omnihub.hub.commands.store_access import run_on_store
from omnihub.store.tokens import ROLES, create_token, list_tokens, revoke_token


@click.group()
def token() -> None:
    """Manage the Bearer tokens of the agent API."""


@token.command("create")
@click.option("--agent", required=True, help="The agent's name, as it appears in assignments.")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the token may do.")
@config_option
def create(agent: str, role: str, config_path: Path | None) -> None:
    """Create a token and print it, alone, on stdout.

    Only its hash is stored, so this is the one time it is shown: `$(omnihub token create …)`
    captures exactly the token; the notice goes to stderr.
    """
    try:
        secret = run_on_store(config_path, lambda db: create_token(db, agent, role))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--agent") from None
    click.echo(f"token for {agent} ({role}) created; it is shown only this once", err=True)
    click.echo(secret)


@token.command("list")
@config_option
def list_(config_path: Path | None) -> None:
    """Show every token (never the secret), revoked ones marked."""
    tokens = run_on_store(config_path, list_tokens)
    if not tokens:
        click.echo("no tokens; create one with `omnihub token create`", err=True)
        return
    click.echo(f"{'ID':26}  {'AGENT':20}  {'ROLE':10}  {'CREATED (UTC)':19}  STATUS")
    for info in tokens:
        status = "active" if info.active else f"revoked {info.revoked_at:%Y-%m-%d %H:%M:%S}"
        click.echo(
            f"{info.id:26}  {info.agent:20}  {info.role:10}  "
            f"{info.created_at:%Y-%m-%d %H:%M:%S}  {status}"
        )


@token.command("revoke")
@click.argument("token_id")
@config_option
def revoke(token_id: str, config_path: Path | None) -> None:
    """Revoke a token by its ID (from `omnihub token list`)."""
    if not run_on_store(config_path, lambda db: revoke_token(db, token_id)):
        raise click.ClickException(f"no active token with id {token_id!r}")
    click.echo(f"token {token_id} revoked", err=True)
