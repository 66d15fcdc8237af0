"""`omnihub check-config`: OK per valid file, located errors on stderr, exit 1 on any."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from omnihub.hub.cli import main
from omnihub.hub.commands import check_config as command
from omnihub.hub.yamlconfig import ConfigError, load_yaml_data

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def routing_loader(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """A stand-in routing loader: every rule must name a declared group."""
    loaded: list[Path] = []

    def load_routing(path: Path) -> None:
        loaded.append(Path(path))
        data, locator = load_yaml_data(path)
        groups = {group["name"] for group in data.get("groups", [])}
        errors = [locator.error(("rules", index, "group"), f"unknown group {rule['group']!r}")
                  for index, rule in enumerate(data.get("rules", []))
                  if rule["group"] not in groups]
        if errors:
            raise ConfigError(errors)

    module = types.ModuleType("omnihub.router.config")
    module.load_routing = load_routing  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "omnihub.router.config", module)
    return loaded


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["check-config", *args])
    return result.exit_code, result.stdout, result.stderr


def test_valid_file_prints_ok_and_exits_0() -> None:
    path = FIXTURES / "good.yaml"
    code, out, err = run(str(path))
    assert (code, out, err) == (0, f"OK {path}\n", "")


def test_invalid_file_prints_located_errors_and_exits_1() -> None:
    path = FIXTURES / "many_errors.yaml"
    code, out, err = run(str(path))
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 5
    assert lines[0] == f"{path}:2:3: server.hots: unknown key 'hots' (did you mean 'host'?)"
    assert lines[4].startswith(f"{path}:9:7: inbox.webhooks.0.secret: ")


def test_every_file_is_checked_even_after_a_bad_one() -> None:
    bad, good = FIXTURES / "typo_key.yaml", FIXTURES / "good.yaml"
    code, out, err = run(str(bad), str(good))
    assert code == 1
    assert out == f"OK {good}\n"
    assert err == f"{bad}:3:3: server.prot: unknown key 'prot' (did you mean 'port'?)\n"


def test_missing_file_is_an_error() -> None:
    path = FIXTURES / "absent.yaml"
    code, _, err = run(str(path))
    assert (code, err) == (1, f"{path}: file not found\n")


def test_syntax_error_is_located() -> None:
    path = FIXTURES / "syntax_error.yaml"
    code, _, err = run(str(path))
    assert code == 1
    assert err.startswith(f"{path}:4:4: invalid YAML: ")


def test_routing_files_go_to_the_routing_loader(routing_loader: list[Path]) -> None:
    by_name, by_content = FIXTURES / "routing.yaml", FIXTURES / "support_rules.yaml"
    code, out, err = run(str(by_name), str(by_content))
    assert routing_loader == [by_name, by_content]
    assert code == 1
    assert out == f"OK {by_content}\n"
    assert err == f"{by_name}:7:5: rules.1.group: unknown group 'billing'\n"


def test_default_config_and_the_routing_file_it_names(
    routing_loader: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(FIXTURES)
    code, out, err = run("--config", "with_routing.yaml")
    assert routing_loader == [Path("routing.yaml")]
    assert code == 1
    assert out == "OK with_routing.yaml\n"
    assert err == "routing.yaml:7:5: rules.1.group: unknown group 'billing'\n"


def test_default_config_path_is_config_hub_yaml(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "hub.yaml").write_text("server:\n  port: 8081\n")
    assert run() == (0, "OK config/hub.yaml\n", "")


def test_routing_without_a_loader_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(command, "ROUTING_LOADERS", ("omnihub.router.no_such_loader",))
    path = FIXTURES / "routing.yaml"
    code, _, err = run(str(path))
    assert code == 1
    assert err.startswith(f"{path}: routing validation not available")
