"""The YAML an operator edits, damaged at random: every loader answers a located
ConfigError (file:line and the key) or loads — it never raises anything else.

Two kinds of damage, both from the shipped examples: text-level (a line deleted,
duplicated or re-indented, a character replaced — the typos of a hand edit) and
tree-level (a value swapped for one of another type, a key removed).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from omnihub.hub.settings import load_hub_settings
from omnihub.hub.yamlconfig import ConfigError
from omnihub.profiles.rules import load_tag_rules
from omnihub.router.load import load_routing

EXAMPLES_DIR = Path(__file__).parent.parent.parent / "config" / "examples"
LOADERS = {"hub.yaml": load_hub_settings, "routing.yaml": load_routing,
           "customer_tags.yaml": load_tag_rules}
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

values = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=20) \
    | st.lists(st.text(max_size=8), max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                   st.integers(), max_size=2)


@st.composite
def damaged_text(draw: st.DrawFn, text: str) -> str:
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["delete", "duplicate", "indent", "dedent", "char"]))
        line = lines[index]
        if how == "delete":
            del lines[index]
        elif how == "duplicate":
            lines.insert(index, line)
        elif how == "indent":
            lines[index] = "  " + line
        elif how == "dedent":
            lines[index] = line[2:] if line.startswith("  ") else line
        elif line:
            at = draw(st.integers(0, len(line) - 1))
            lines[index] = line[:at] + draw(st.sampled_from(list(":-[]{}'\"#&*!|>% \t0"))) \
                + line[at + 1:]
        if not lines:
            break
    return "\n".join(lines) + "\n"


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def damaged_tree(draw: st.DrawFn, text: str) -> str:
    yaml = YAML(typ="safe")
    tree = yaml.load(text)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(tree)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = tree
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(values)
    out = io.StringIO()
    yaml.dump(tree, out)
    return out.getvalue()


def _load(name: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(text)
    try:
        LOADERS[name](path)
    except ConfigError as exc:
        assert exc.errors, "a ConfigError names at least one problem"
        for error in exc.errors:
            assert error.line >= 1 and str(path.name) in error.file


def _example(name: str) -> str:
    return (EXAMPLES_DIR / name).read_text()


@FUZZ
@given(data=st.data())
def test_hub_yaml_typos(tmp_path_factory: Any, data: st.DataObject) -> None:
    text = data.draw(damaged_text(_example("hub.yaml")) | damaged_tree(_example("hub.yaml")))
    _load("hub.yaml", text, tmp_path_factory.mktemp("hub"))


@FUZZ
@given(data=st.data())
def test_routing_yaml_typos(tmp_path_factory: Any, data: st.DataObject) -> None:
    text = data.draw(damaged_text(_example("routing.yaml"))
                     | damaged_tree(_example("routing.yaml")))
    _load("routing.yaml", text, tmp_path_factory.mktemp("routing"))


@FUZZ
@given(data=st.data())
def test_customer_tag_rules_typos(tmp_path_factory: Any, data: st.DataObject) -> None:
    text = data.draw(damaged_text(_example("customer_tags.yaml"))
                     | damaged_tree(_example("customer_tags.yaml")))
    _load("customer_tags.yaml", text, tmp_path_factory.mktemp("tags"))
