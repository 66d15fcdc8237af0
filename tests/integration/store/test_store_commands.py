"""`omnihub migrate` and `omnihub token …` driven as a user would, through click."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from omnihub.hub.commands.migrate import migrate
from omnihub.hub.commands.token import token
from omnihub.store.db import Database
from omnihub.store.migrate import head_revision
from omnihub.store.tokens import Principal, authenticate


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """A hub.yaml holding only `store: {url: …}` (JSON is valid YAML)."""

    def write(url: str) -> Path:
        path = tmp_path / "hub.yaml"
        path.write_text(json.dumps({"store": {"url": url}}))
        return path

    return write


@pytest.fixture
def sqlite_config(tmp_path: Path, write_config: Callable[[str], Path]) -> Path:
    return write_config(f"sqlite:///{tmp_path / 'data' / 'omnihub.db'}")


def run(command: object, *args: str | Path) -> Result:
    return CliRunner().invoke(command, [str(a) for a in args])  # type: ignore[arg-type]


def _authenticate(config: Path, secret: str) -> Principal | None:
    url = json.loads(config.read_text())["store"]["url"]

    async def check() -> Principal | None:
        db = Database(url)
        try:
            return await authenticate(db, secret)
        finally:
            await db.dispose()

    return asyncio.run(check())


def test_migrate_creates_the_schema_then_is_a_no_op(
    store_url: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(store_url)
    first = run(migrate, "--config", config)
    assert first.exit_code == 0, first.output
    assert first.stdout == f"store schema upgraded from empty to {head_revision()}\n"
    again = run(migrate, "--config", config)
    assert again.exit_code == 0
    assert again.stdout == f"store schema already at {head_revision()}\n"
    created = run(token, "create", "--agent", "alice", "--role", "agent", "--config", config)
    assert created.exit_code == 0, created.output
    assert _authenticate(config, created.stdout.strip()) is not None


def test_migrate_sqlite_creates_the_data_folder(sqlite_config: Path, tmp_path: Path) -> None:
    assert not (tmp_path / "data").exists()
    result = run(migrate, "--config", sqlite_config)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "omnihub.db").exists()


@pytest.mark.parametrize(
    "url, shown",
    [
        (  # nothing listens on port 1
            "postgresql://postgres@127.0.0.1:1/test",
            "store postgresql+asyncpg://postgres@127.0.0.1:1/test unreachable: ",
        ),
        (
            "mysql://root@no-such-host.invalid:3306/test",
            "store mysql+aiomysql://root@no-such-host.invalid:3306/test?charset=utf8mb4 "
            "unreachable: ",
        ),
        ("postgresql+psycopg2://postgres@127.0.0.1/test", "invalid store.url: "),
        ("sqlite+pysqlite:///x.db", "invalid store.url: "),
    ],
)
def test_unusable_store_is_one_error_line_and_exit_2(
    write_config: Callable[[str], Path], url: str, shown: str
) -> None:
    result = run(migrate, "--config", write_config(url))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: " + shown)
    assert result.stderr.count("\n") == 1, result.stderr


def test_unsupported_scheme_is_a_located_config_error(write_config: Callable[[str], Path]) -> None:
    result = run(migrate, "--config", write_config("oracle://scott@db/orcl"))
    assert result.exit_code == 1
    assert "hub.yaml:1:" in result.stderr and "store.url" in result.stderr
    assert "Traceback" not in result.stderr


def test_password_is_not_shown_in_the_error(write_config: Callable[[str], Path]) -> None:
    result = run(migrate, "--config", write_config("postgresql://postgres:hunter2@127.0.0.1:1/x"))
    assert result.exit_code == 2
    assert "hunter2" not in result.stderr


def test_token_create_prints_only_the_token(sqlite_config: Path) -> None:
    assert run(migrate, "--config", sqlite_config).exit_code == 0
    result = run(token, "create", "--agent", "alice", "--role", "senior", "--config", sqlite_config)
    assert result.exit_code == 0, result.output
    secret = result.stdout.removesuffix("\n")
    assert secret.startswith("oh_") and result.stdout == secret + "\n"
    assert "shown only this once" in result.stderr
    principal = _authenticate(sqlite_config, secret)
    assert principal is not None and (principal.agent, principal.role) == ("alice", "senior")


def test_token_list_and_revoke(sqlite_config: Path) -> None:
    assert run(migrate, "--config", sqlite_config).exit_code == 0
    secret = run(
        token, "create", "--agent", "bob", "--role", "admin", "--config", sqlite_config
    ).stdout.strip()
    principal = _authenticate(sqlite_config, secret)
    assert principal is not None

    listed = run(token, "list", "--config", sqlite_config)
    assert listed.exit_code == 0
    (row,) = listed.stdout.splitlines()[1:]
    assert row.split()[:3] == [principal.id, "bob", "admin"] and row.endswith("active")
    assert secret not in listed.stdout

    assert run(token, "revoke", principal.id, "--config", sqlite_config).exit_code == 0
    assert _authenticate(sqlite_config, secret) is None
    assert "revoked" in run(token, "list", "--config", sqlite_config).stdout.splitlines()[1]
    again = run(token, "revoke", principal.id, "--config", sqlite_config)
    assert again.exit_code == 1
    assert f"no active token with id {principal.id!r}" in again.stderr


def test_token_create_refuses_an_unknown_role(sqlite_config: Path) -> None:
    result = run(token, "create", "--agent", "alice", "--role", "root", "--config", sqlite_config)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "'agent', 'senior', 'supervisor', 'admin'" in result.stderr


def test_token_create_on_an_unmigrated_store_says_to_migrate(sqlite_config: Path) -> None:
    (sqlite_config.parent / "data").mkdir()
    result = run(token, "create", "--agent", "alice", "--role", "agent", "--config", sqlite_config)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: store schema at none (empty database), code expects {head_revision()}: "
        "run `omnihub migrate`\n"
    )


def test_token_create_refuses_an_overlong_agent_name(sqlite_config: Path) -> None:
    assert run(migrate, "--config", sqlite_config).exit_code == 0
    result = run(token, "create", "--agent", "x" * 81, "--role", "agent", "--config", sqlite_config)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "agent name must be 1 to 80 characters" in result.stderr
