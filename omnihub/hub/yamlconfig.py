"""Load an operator's YAML file into a pydantic model, reporting every problem at its line.

One loader serves hub.yaml and routing.yaml: ruamel.yaml's round-trip reader keeps the
line and column of every key, `${VAR}` / `${VAR:-default}` are filled in from the
environment, and each pydantic error is mapped back to `file:line:col: key.path: message`.
All problems of a file are collected before anything is raised, so an operator fixes a
file in one pass instead of one error per run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from omnihub.hub.envsubst import interpolate
from omnihub.hub.validation_errors import (
    KeyPath,
    clean_message,
    data_path,
    model_keys_at,
    unknown_key_message,
)

__all__ = [
    "ConfigError",
    "KeyPath",
    "LocatedError",
    "Locator",
    "format_key_path",
    "load_yaml_data",
    "load_yaml_model",
    "located_validation_errors",
]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class LocatedError:
    """One problem in a config file, printed the way editors and CI logs can jump to."""

    file: str
    line: int  # 1-based; 0 when the problem concerns the whole file (e.g. it is missing)
    column: int  # 1-based
    key_path: str  # "channels.0.secret"; "" for the file as a whole
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        if not self.key_path:
            return f"{where}: {self.message}"
        return f"{where}: {self.key_path}: {self.message}"


class ConfigError(Exception):
    """Every located problem of a config file; `str()` lists them one per line."""

    def __init__(self, errors: Sequence[LocatedError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


def format_key_path(path: Sequence[str | int]) -> str:
    """`("rules", 3, "group")` -> `"rules.3.group"`."""
    return ".".join(str(part) for part in path)


class Locator:
    """Finds where a key path sits in the file, so checks made after validation (a rule
    naming an unknown group, say) can still point the operator at a line."""

    def __init__(self, file: str, root: Any) -> None:
        self.file = file
        self.root = root

    def position(self, path: str | Sequence[str | int]) -> tuple[int, int]:
        """1-based line and column of the key (or list item) at `path`; when the path goes
        deeper than the file (a missing key), that of the deepest part that exists."""
        return self._walk(path, value=False)

    def value_position(self, path: str | Sequence[str | int]) -> tuple[int, int]:
        """Like `position`, but of the value rather than its key (`port: 80` -> the `80`)."""
        return self._walk(path, value=True)

    def error(self, path: str | Sequence[str | int], message: str) -> LocatedError:
        """A LocatedError at `path`, for loaders that check meaning after validation."""
        line, column = self.position(path)
        return LocatedError(self.file, line, column, _key_path_text(path), message)

    def _walk(self, path: str | Sequence[str | int], *, value: bool) -> tuple[int, int]:
        parts = _split(path)
        node = self.root
        line, column = _start(node)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if isinstance(node, CommentedMap):
                key = _map_key(node, part)
                if key is _MISSING:
                    break
                line, column = _map_position(node, key, value=value and last,
                                             fallback=(line, column))
                node = node[key]
            elif isinstance(node, CommentedSeq):
                item = _seq_index(node, part)
                if item is None:
                    break
                line, column = _seq_position(node, item, fallback=(line, column))
                node = node[item]
            else:
                break
        return line + 1, column + 1


_MISSING = object()


def _split(path: str | Sequence[str | int]) -> list[str | int]:
    if isinstance(path, str):
        return [int(part) if part.isdigit() else part for part in path.split(".")] if path else []
    return list(path)


def _key_path_text(path: str | Sequence[str | int]) -> str:
    return path if isinstance(path, str) else format_key_path(path)


def _start(node: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is not None and lc.line is not None:
        return lc.line, lc.col
    return 0, 0


def _map_key(node: CommentedMap, part: str | int) -> Any:
    if part in node:
        return part
    text = str(part)
    return text if text in node else _MISSING


def _map_position(
    node: CommentedMap, key: Any, *, value: bool, fallback: tuple[int, int]
) -> tuple[int, int]:
    try:  # keys pulled in by a `<<:` merge have no position of their own
        position = node.lc.value(key) if value else node.lc.key(key)
        return position[0], position[1]
    except (KeyError, TypeError):
        return fallback


def _seq_index(node: CommentedSeq, part: str | int) -> int | None:
    index = part if isinstance(part, int) else int(part) if str(part).isdigit() else None
    return index if index is not None and 0 <= index < len(node) else None


def _seq_position(
    node: CommentedSeq, index: int, *, fallback: tuple[int, int]
) -> tuple[int, int]:
    try:
        position = node.lc.item(index)
        return position[0], position[1]
    except (KeyError, TypeError):
        return fallback


# ------------------------------------------------------------------ reading

def _reader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = True  # we report every duplicate ourselves, located
    return yaml


def _read_text(path: Path, file: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([LocatedError(file, 0, 0, "", "file not found")]) from None
    except IsADirectoryError:
        message = "is a directory, not a YAML file"
        raise ConfigError([LocatedError(file, 0, 0, "", message)]) from None
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (byte {exc.start}: {exc.reason})"
        raise ConfigError([LocatedError(file, 0, 0, "", message)]) from None
    except OSError as exc:
        raise ConfigError([LocatedError(file, 0, 0, "", f"cannot read: {exc.strerror}")]) from None


def _syntax_error(file: str, exc: YAMLError) -> LocatedError:
    if not isinstance(exc, MarkedYAMLError) or exc.problem_mark is None:
        return LocatedError(file, 1, 1, "", f"invalid YAML: {exc}")
    mark = exc.problem_mark
    message = exc.problem or "invalid YAML"
    if exc.context and exc.context_mark is not None:
        where = exc.context_mark
        message += f" ({exc.context} at line {where.line + 1}, column {where.column + 1})"
    return LocatedError(file, mark.line + 1, mark.column + 1, "", f"invalid YAML: {message}")


def _duplicate_keys(file: str, node: Node | None, path: KeyPath = ()) -> list[LocatedError]:
    """YAML readers silently keep one of two equal keys; here each duplicate is an error."""
    errors: list[LocatedError] = []
    if isinstance(node, MappingNode):
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key is not None and key_node.tag != "tag:yaml.org,2002:merge":
                if key in first_line:
                    mark = key_node.start_mark
                    errors.append(LocatedError(
                        file, mark.line + 1, mark.column + 1, format_key_path((*path, key)),
                        f"duplicate key {key!r} (first defined at line {first_line[key]})",
                    ))
                else:
                    first_line[key] = key_node.start_mark.line + 1
            child_path = (*path, key if key is not None else "?")
            errors.extend(_duplicate_keys(file, value_node, child_path))
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            errors.extend(_duplicate_keys(file, item, (*path, index)))
    return errors


def load_yaml_data(path: Path | str) -> tuple[Any, Locator]:
    """Read `path` into plain Python data (env references filled in) and a Locator.

    For loaders that validate in several stages: validate the data, then report later
    findings with `locator.error(key_path, message)`. An empty file reads as `{}`.
    Raises ConfigError for a missing or unreadable file, bad YAML, duplicate keys and
    unset environment variables.
    """
    path = Path(path)
    file = str(path)
    text = _read_text(path, file)
    yaml = _reader()
    try:
        errors = _duplicate_keys(file, yaml.compose(text))
        root = yaml.load(text)
    except YAMLError as exc:
        raise ConfigError([_syntax_error(file, exc)]) from None
    if errors:
        raise ConfigError(errors)
    if root is None:
        root = CommentedMap()
    locator = Locator(file, root)
    problems: list[LocatedError] = []
    data = _plain(root, (), locator, problems)
    if problems:
        raise ConfigError(problems)
    return data, locator


def _plain(node: Any, path: KeyPath, locator: Locator, problems: list[LocatedError]) -> Any:
    """Round-trip tree -> plain dicts, lists and scalars, with env references filled in."""
    if isinstance(node, CommentedMap):
        return {
            (str(key) if isinstance(key, str) else key):
                _plain(value, (*path, key), locator, problems)
            for key, value in node.items()
        }
    if isinstance(node, CommentedSeq):
        return [_plain(item, (*path, index), locator, problems) for index, item in enumerate(node)]
    if isinstance(node, str):
        text, found = interpolate(str(node), os.environ)
        for message in found:
            line, column = locator.value_position(path)
            key_path = format_key_path(path)
            problems.append(LocatedError(locator.file, line, column, key_path, message))
        return text
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


# ------------------------------------------------------------------ validation

def load_yaml_model(
    path: Path | str, model: type[M], *, context: dict[str, Any] | None = None
) -> M:
    """Read, interpolate and validate `path` as `model`; raise ConfigError with every
    problem located at the key it concerns."""
    data, locator = load_yaml_data(path)
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "a single value"
        message = f"expected a mapping of keys at the top level, found {kind}"
        raise ConfigError([LocatedError(locator.file, 1, 1, "", message)])
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(located_validation_errors(exc, data, locator, model)) from None


def located_validation_errors(
    exc: ValidationError, data: Any, locator: Locator, model: type[BaseModel] | None = None
) -> list[LocatedError]:
    """Map each pydantic error to the key it concerns; sorted by position in the file.

    `model` (the validated model class) lets an unknown key get a did-you-mean hint; an
    `extra_forbidden` error may also carry the valid keys in `ctx["allowed_keys"]`.
    """
    located: list[LocatedError] = []
    for error in exc.errors(include_url=False):
        path = data_path(error["loc"], data)
        line, column = locator.position(path)
        if error["type"] == "extra_forbidden" and path:
            allowed = (error.get("ctx") or {}).get("allowed_keys")
            if allowed is None and model is not None:
                allowed = model_keys_at(model, path[:-1])
            message = unknown_key_message(str(path[-1]), allowed)
        else:
            message = clean_message(error["msg"])
        located.append(LocatedError(locator.file, line, column, format_key_path(path), message))
    located.sort(key=lambda error: (error.line, error.column))
    return located
