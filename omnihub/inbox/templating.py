"""The canned replies' variables: a tiny renderer that only ever looks names up.

No expression language (Jinja and friends would evaluate what an admin types): a body is
text with `{{ name }}` holes, every name is checked against VARIABLES when the reply is
saved, and rendering replaces each hole with a value or, when there is none, with
nothing and a warning naming the variable.

`{{order.id}}` is the customer's order: `attributes.order.id` when the CRM put one
order there, else `attributes.order_id`, else the `id` of the last entry of
`attributes.orders` (the latest order, lists being kept oldest first).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omnihub.normalizer.schema import Customer

__all__ = ["VARIABLES", "RenderContext", "Rendered", "UnknownVariable", "render",
           "variables_of"]

VARIABLES = ("customer.name", "customer.attributes.<key>[.<key>…]", "conversation.id",
             "agent.name", "order.id")
_HOLE = re.compile(r"{{(.*?)}}", re.DOTALL)
_ATTRIBUTE = re.compile(r"customer\.attributes(\.[A-Za-z0-9_-]+)+")
_FIXED = frozenset({"customer.name", "conversation.id", "agent.name", "order.id"})


class UnknownVariable(ValueError):
    """A `{{ name }}` the renderer does not know; raised when the reply is saved."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown variable {{{{{name}}}}}; known: {', '.join(VARIABLES)}")
        self.name = name


def variables_of(body: str) -> list[str]:
    """The variable names in `body`, in order; UnknownVariable for the first bad one."""
    names = []
    for hole in _HOLE.finditer(body):
        name = hole.group(1).strip()
        if name not in _FIXED and not _ATTRIBUTE.fullmatch(name):
            raise UnknownVariable(name)
        names.append(name)
    return names


@dataclass(frozen=True, slots=True)
class RenderContext:
    """Where the values come from: the conversation's customer, the conversation, the agent."""

    customer: Customer | None
    conversation_id: str
    agent: str


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    warnings: list[str]


def _path(data: Any, keys: list[str]) -> Any:
    for key in keys:
        if isinstance(data, Mapping):
            data = data.get(key)
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return None
    return data


def _order_id(attributes: Mapping[str, Any]) -> Any:
    found = _path(attributes, ["order", "id"])
    if found is None:
        found = attributes.get("order_id")
    orders = attributes.get("orders")
    if found is None and isinstance(orders, list) and orders:
        found = _path(orders[-1], ["id"])
    return found


def _value(name: str, ctx: RenderContext) -> Any:
    attributes = ctx.customer.attributes if ctx.customer is not None else {}
    if name == "customer.name":
        return ctx.customer.display_name if ctx.customer is not None else None
    if name == "conversation.id":
        return ctx.conversation_id
    if name == "agent.name":
        return ctx.agent
    if name == "order.id":
        return _order_id(attributes)
    return _path(attributes, name.split(".")[2:])


def _text(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, (dict, list)):
        return None  # a structure is not something to put in a sentence
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def render(body: str, ctx: RenderContext) -> Rendered:
    """Fill every hole; a missing value becomes "" and a warning naming the variable."""
    variables_of(body)  # a body saved before a variable was retired still fails loudly
    warnings: list[str] = []

    def fill(hole: re.Match[str]) -> str:
        name = hole.group(1).strip()
        text = _text(_value(name, ctx))
        if text is None:
            if name not in warnings:
                warnings.append(name)
            return ""
        return text

    return Rendered(_HOLE.sub(fill, body), warnings)
