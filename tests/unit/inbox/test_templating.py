"""The canned replies' renderer: names only, never evaluation; missing values warn."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from omnihub.inbox.templating import RenderContext, UnknownVariable, render, variables_of
from omnihub.normalizer.schema import Customer


def _customer(**attributes: object) -> Customer:
    now = datetime.now(UTC)
    return Customer(id="c", display_name="Ann", attributes=attributes, created_at=now,
                    updated_at=now)


@pytest.mark.parametrize("body", ["{{ customer.email }}", "{{ ''.__class__ }}",
                                  "{{ customer.attributes }}", "{{customer.name|upper}}",
                                  "{{ }}"])
def test_anything_but_a_known_name_is_refused_at_save_time(body: str) -> None:
    with pytest.raises(UnknownVariable):
        variables_of(body)


def test_known_names_are_listed_in_order() -> None:
    assert variables_of("{{order.id}} {{ customer.attributes.a.b-c }} {{agent.name}}") == [
        "order.id", "customer.attributes.a.b-c", "agent.name"]


@pytest.mark.parametrize(("attributes", "expected"), [
    ({"order": {"id": "O-9"}, "order_id": "X", "orders": [{"id": "Y"}]}, "O-9"),
    ({"order_id": 12, "orders": [{"id": "Y"}]}, "12"),
    ({"orders": [{"id": "old"}, {"id": "latest"}]}, "latest"),
])
def test_order_id_prefers_the_one_order_then_order_id_then_the_latest(
        attributes: dict[str, object], expected: str) -> None:
    rendered = render("{{order.id}}", RenderContext(_customer(**attributes), "cv", "sue"))
    assert rendered.text == expected and rendered.warnings == []


def test_missing_values_render_empty_with_one_warning_each() -> None:
    ctx = RenderContext(_customer(vip=True, plan={"name": "x"}), "cv", "sue")
    rendered = render("{{customer.attributes.vip}}|{{customer.attributes.plan}}|"
                      "{{order.id}}{{order.id}}|{{customer.attributes.plan.name}}", ctx)
    assert rendered.text == "yes|||x"
    assert rendered.warnings == ["customer.attributes.plan", "order.id"]


def test_values_are_inserted_verbatim_not_re_rendered() -> None:
    ctx = RenderContext(_customer(note="{{agent.name}}"), "cv", "sue")
    assert render("{{customer.attributes.note}}", ctx).text == "{{agent.name}}"
