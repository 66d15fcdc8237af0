"""The generic YAML loader: located errors, ${VAR} interpolation, the Locator."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from omnihub.hub.envsubst import interpolate
from omnihub.hub.yamlconfig import ConfigError, LocatedError, load_yaml_data, load_yaml_model

FIXTURES = Path(__file__).parent / "fixtures"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rule(Strict):
    when: dict[str, str]
    group: str
    priority: int = 0


class Group(Strict):
    name: str


class Routing(Strict):
    groups: list[Group]
    rules: list[Rule]


def errors_of(path: Path, model: type[BaseModel]) -> list[LocatedError]:
    with pytest.raises(ConfigError) as caught:
        load_yaml_model(path, model)
    return caught.value.errors


def test_located_error_renders_file_line_column_key_and_message() -> None:
    error = LocatedError("hub.yaml", 3, 5, "server.port", "Input should be a valid integer")
    assert str(error) == "hub.yaml:3:5: server.port: Input should be a valid integer"
    assert str(LocatedError("hub.yaml", 0, 0, "", "file not found")) == "hub.yaml: file not found"


def test_config_error_lists_every_error_one_per_line() -> None:
    errors = [LocatedError("a.yaml", 1, 1, "x", "bad"),
              LocatedError("a.yaml", 2, 3, "y.z", "worse")]
    assert str(ConfigError(errors)) == "a.yaml:1:1: x: bad\na.yaml:2:3: y.z: worse"


def test_valid_file_validates_into_the_model() -> None:
    routing = load_yaml_model(FIXTURES / "routing.yaml", Routing)
    assert [rule.group for rule in routing.rules] == ["sales", "billing"]


def test_wrong_type_in_a_list_item_points_at_its_key(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("groups: []\nrules:\n  - when: {}\n    group: sales\n    priority: high\n")
    [error] = errors_of(path, Routing)
    assert (error.line, error.column, error.key_path) == (5, 5, "rules.0.priority")
    assert "valid integer" in error.message


class Limits(Strict):
    window: int | list[int]


def test_union_member_tags_are_left_out_of_the_key_path(tmp_path: Path) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text("# limits\nwindow: soon\n")
    errors = errors_of(path, Limits)
    assert [(e.line, e.column, e.key_path) for e in errors] == [(2, 1, "window")] * 2


def test_merged_keys_are_located_at_the_merge(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("base: &base\n  group: sales\n  priority: high\n"
                    "groups: []\nrules:\n  - <<: *base\n    when: {}\n")
    errors = errors_of(path, Routing)
    assert [(e.line, e.column, e.key_path) for e in errors] == [
        (1, 1, "base"), (6, 5, "rules.0.priority")]


def test_missing_key_points_at_its_parent(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("groups: []\nrules:\n  - when: {}\n")
    [error] = errors_of(path, Routing)
    assert (error.line, error.column, error.key_path) == (3, 5, "rules.0.group")
    assert error.message == "Field required"


def test_unknown_key_without_a_close_match_lists_the_valid_keys(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("groups:\n  - name: sales\n    members: [ann]\nrules: []\n")
    [error] = errors_of(path, Routing)
    assert (error.line, error.column) == (3, 5)
    assert error.message == "unknown key 'members' (valid keys: name)"


def test_missing_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    [error] = errors_of(path, Routing)
    assert str(error) == f"{path}: file not found"


def test_syntax_error_is_located_at_ruamels_problem_mark() -> None:
    [error] = errors_of(FIXTURES / "syntax_error.yaml", Routing)
    assert (error.line, error.column) == (4, 4)
    assert error.message.startswith("invalid YAML: expected ',' or ']'")
    assert "line 3, column 9" in error.message


def test_duplicate_key_is_located_at_the_second_one() -> None:
    [error] = errors_of(FIXTURES / "duplicate_key.yaml", Routing)
    assert str(error) == (f"{FIXTURES / 'duplicate_key.yaml'}:4:3: server.port: "
                          "duplicate key 'port' (first defined at line 2)")


def test_every_duplicate_key_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "dups.yaml"
    path.write_text("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_yaml_data(path)
    assert [(e.line, e.key_path) for e in caught.value.errors] == [(4, "b.c"), (5, "a")]


def test_top_level_must_be_a_mapping() -> None:
    [error] = errors_of(FIXTURES / "top_level_list.yaml", Routing)
    assert (error.line, error.column) == (1, 1)
    assert "expected a mapping" in error.message


def test_empty_file_reads_as_an_empty_mapping(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing here yet\n")
    data, _ = load_yaml_data(path)
    assert data == {}


def test_locator_finds_keys_values_and_items_by_key_path() -> None:
    data, locator = load_yaml_data(FIXTURES / "routing.yaml")
    assert data["rules"][1]["group"] == "billing"
    assert str(locator.error("rules.1.group", "unknown group 'billing'")) == (
        f"{FIXTURES / 'routing.yaml'}:7:5: rules.1.group: unknown group 'billing'")
    assert locator.position(("rules", 1, "when", "channel")) == (6, 12)
    assert locator.value_position("rules.1.when.channel") == (6, 21)
    assert locator.position("rules.1") == (6, 5)
    # deeper than the file: the deepest part that exists
    assert locator.position("rules.1.priority") == (6, 5)
    assert locator.position("rules.9.group") == (3, 1)


def test_interpolate_fills_variables_and_defaults() -> None:
    env = {"HOST": "example.com", "EMPTY": ""}
    assert interpolate("https://${HOST}/x", env) == ("https://example.com/x", [])
    assert interpolate("${PORT:-8080}", env) == ("8080", [])
    assert interpolate("${EMPTY:-fallback}", env) == ("fallback", [])
    assert interpolate("${EMPTY}", env) == ("", [])
    assert interpolate("${PORT:-}", env) == ("", [])
    assert interpolate("${URL:-http://${HOST}:8080}", env) == ("http://example.com:8080", [])
    assert interpolate("${HOST:-http://${MISSING}}", env) == ("example.com", [])
    assert interpolate("cost $${AMOUNT} and pa$$word", env) == ("cost ${AMOUNT} and pa$$word", [])


def test_interpolate_reports_unset_and_malformed_references() -> None:
    _, problems = interpolate("${MISSING_VAR}", {})
    assert problems == ["environment variable MISSING_VAR is not set "
                        "(set it, or give a default: ${MISSING_VAR:-default})"]
    _, problems = interpolate("${PORT:8080}", {})
    assert len(problems) == 1 and problems[0].startswith("malformed ${...} reference")
    _, problems = interpolate("${A:-${B}}", {})
    assert problems == ["environment variable B is not set "
                        "(set it, or give a default: ${B:-default})"]
    _, problems = interpolate("${unclosed", {})
    assert len(problems) == 1 and problems[0].startswith("malformed")


def test_unset_variables_are_all_reported_at_their_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMNIHUB_TEST_A", raising=False)
    monkeypatch.delenv("OMNIHUB_TEST_B", raising=False)
    path = tmp_path / "env.yaml"
    path.write_text("a: ${OMNIHUB_TEST_A}\nlist:\n  - x\n  - prefix-${OMNIHUB_TEST_B}\n")
    with pytest.raises(ConfigError) as caught:
        load_yaml_data(path)
    assert [(e.line, e.column, e.key_path) for e in caught.value.errors] == [
        (1, 4, "a"), (4, 5, "list.1")]
    assert "OMNIHUB_TEST_B" in caught.value.errors[1].message
