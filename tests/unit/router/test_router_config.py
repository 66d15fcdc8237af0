"""routing.yaml loading: every invalid file names the exact line of each problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from omnihub.hub.yamlconfig import ConfigError
from omnihub.router import load_routing

from .conftest import DATA, REPO

INVALID = sorted((DATA / "invalid").glob("*.yaml"))
EXPECT = re.compile(r"# expect: (\d+) (\S+) \| (.+)")


def expectations(path: Path) -> list[tuple[int, str, str]]:
    found = [(int(m[1]), m[2], m[3].strip()) for m in EXPECT.finditer(path.read_text(encoding="utf-8"))]
    assert found, f"{path.name} has no '# expect:' line"
    return found


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_routing_is_reported_at_its_line(path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_routing(path)
    errors = raised.value.errors
    actual = [(e.line, e.key_path) for e in errors]
    assert actual == [(line, key) for line, key, _ in expectations(path)], "\n" + str(raised.value)
    for error, (_, _, fragment) in zip(errors, expectations(path)):
        assert fragment in error.message, f"{error.message!r} lacks {fragment!r}"
        assert error.file == str(path)
        assert str(error).startswith(f"{path}:{error.line}:")


@pytest.mark.parametrize("name", sorted(p.name for p in (DATA / "routing").glob("*.yaml")))
def test_valid_routing_files_load(name: str) -> None:
    assert load_routing(DATA / "routing" / name).rules


def test_shipped_example_is_valid_and_uses_every_section() -> None:
    config = load_routing(REPO / "config" / "examples" / "routing.yaml")
    assert set(config.groups) >= {"after-sales", "logistics", "inquiry", "complaints", "senior"}
    assert config.channels["voice"].priority > config.channels["webchat"].priority
    assert config.channels["webchat"].priority > config.channels["sms"].priority
    assert config.channels["sms"].priority > config.channels["email"].priority
    assert config.escalation and config.off_hours.auto_reply and config.calendars["shop"].holidays


def test_missing_file_is_a_located_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_routing(tmp_path / "nope.yaml")
    assert "file not found" in str(raised.value)


def test_top_level_list_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("- rules\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_routing(path)
    assert raised.value.errors[0].line == 1
