"""pydantic's errors in YAML terms: which key they concern, which keys were valid."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

KeyPath = tuple[str | int, ...]
_SEQUENCES = (list, tuple, set, frozenset, Sequence)


def data_path(loc: Sequence[str | int], data: Any) -> KeyPath:
    """pydantic's `loc` without the union/validator tags it inserts (`('port', 'int')`):
    only the parts that are keys or indexes of the data, plus a final missing key."""
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, Mapping):
            if part in node:
                path.append(part)
                node = node[part]
            elif last:
                path.append(part)  # a required key that is missing
            continue  # else: a tag naming a union member or a validator
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
            continue
        break  # a scalar: the rest of loc only names types
    return tuple(path)


def unknown_key_message(key: str, allowed: Sequence[str] | None) -> str:
    """Name the unknown key and the one probably meant, else the keys that are valid."""
    message = f"unknown key {key!r}"
    if not allowed:
        return message
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    if close:
        return f"{message} (did you mean {close[0]!r}?)"
    return f"{message} (valid keys: {', '.join(sorted(allowed))})"


def model_keys_at(model: type[BaseModel], path: Sequence[str | int]) -> list[str] | None:
    """The keys the model accepts at `path` (following fields, lists and dicts), if known."""
    annotation: Any = model
    for part in path:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = _field_for_key(annotation, part)
            if field is None:
                return None
            annotation = field
        elif get_origin(annotation) in _SEQUENCES and isinstance(part, int):
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (dict, Mapping):
            annotation = get_args(annotation)[1]
        else:
            return None
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [info.alias or name for name, info in annotation.model_fields.items()]
    return None


def _field_for_key(model: type[BaseModel], key: str | int) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def _unwrap(annotation: Any) -> Any:
    """`Annotated[X, ...]` -> X; `X | None` -> X (a union of several types stays)."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin is Union or type(annotation).__name__ == "UnionType":
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def clean_message(message: str) -> str:
    """Drop the "Value error, " pydantic puts before a validator's own message."""
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message
