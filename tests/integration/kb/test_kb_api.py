"""The knowledge base over the agent API: the role table, versions, bad input as 4xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ..hub.conftest import make_hub  # noqa: F401
from ..inbox.conftest import Desk, open_desk

EXAMPLE_KB = Path(__file__).parents[3] / "config" / "examples" / "kb.yaml"
ENTRY = {"question": "怎么开发票？", "answer": "在订单页申请。", "paraphrases": ["要发票"],
         "language": "zh", "tags": ["invoice"], "variants": {"sms": "订单页申请发票"},
         "links": [{"title": "发票", "url": "https://shop.example.com/invoice"}]}


@pytest.fixture
async def desk(make_hub, make_store_url) -> AsyncIterator[Desk]:  # type: ignore[no-untyped-def]  # noqa: F811
    yield await open_desk(await make_hub(await make_store_url("sqlite")))


# (method, path, body) -> roles allowed; the others get 403
EDITORS = ("supervisor", "admin")
EVERYONE = ("agent", "senior", "supervisor", "admin")


@pytest.mark.parametrize("role", EVERYONE)
async def test_role_table(desk: Desk, role: str) -> None:
    entry = await desk.ok("POST", "/api/v1/kb/entries", "admin", json=ENTRY)
    path = f"/api/v1/kb/entries/{entry['id']}"
    calls: list[tuple[str, str, dict[str, Any], tuple[str, ...]]] = [
        ("GET", "/api/v1/kb/entries", {}, EVERYONE),
        ("GET", path, {}, EVERYONE),
        ("GET", f"{path}/versions", {}, EVERYONE),
        ("GET", "/api/v1/kb/search", {"params": {"q": "发票"}}, EVERYONE),
        ("GET", "/api/v1/kb/export", {}, EVERYONE),
        ("POST", "/api/v1/kb/entries", {"json": {**ENTRY, "question": f"q {role}"}}, EDITORS),
        ("PATCH", path, {"json": {"answer": f"by {role}"}}, EDITORS),
        ("POST", "/api/v1/kb/import", {"json": {"format": "yaml", "content": "entries: []"}},
         EDITORS),
        ("GET", "/api/v1/kb/suggestions", {}, EDITORS),
        ("DELETE", path, {}, EDITORS),
    ]
    for method, url, kw, allowed in calls:
        resp = await desk.call(method, url, role, **kw)
        expected = (200, 201, 204) if role in allowed else (403,)
        assert resp.status in expected, (role, method, url, resp.status, await resp.text())


async def test_every_change_is_a_version_with_who_and_before_after(desk: Desk) -> None:
    entry = await desk.ok("POST", "/api/v1/kb/entries", "supervisor", json=ENTRY)
    assert (entry["version"], entry["created_by"]) == (1, "sue")
    path = f"/api/v1/kb/entries/{entry['id']}"
    changed = await desk.ok("PATCH", path, "admin", json={"answer": "在“我的订单”申请。"})
    assert (changed["version"], changed["updated_by"]) == (2, "ada")
    same = await desk.ok("PATCH", path, "admin", json={"answer": "在“我的订单”申请。"})
    assert same["version"] == 2  # a change to nothing is no new version
    await desk.ok("DELETE", path, "supervisor")
    assert (await desk.call("GET", path)).status == 404
    versions = (await desk.ok("GET", f"{path}/versions"))["items"]
    assert [(v["version"], v["action"], v["actor"]) for v in versions] == [
        (1, "create", "sue"), (2, "update", "ada"), (3, "delete", "sue")]
    assert versions[1]["before"]["answer"] == "在订单页申请。"
    assert versions[1]["after"]["answer"] == "在“我的订单”申请。"
    assert versions[2]["after"] is None
    audit = (await desk.ok("GET", "/api/v1/audit", "admin",
                           params={"target": entry["id"]}))["items"]
    assert sorted(a["action"] for a in audit) == ["kb.create", "kb.delete", "kb.update"]


async def test_search_over_the_api(desk: Desk) -> None:
    await desk.ok("POST", "/api/v1/kb/import", "admin", json={
        "format": "yaml", "content": EXAMPLE_KB.read_text(encoding="utf-8")})
    found = await desk.ok("GET", "/api/v1/kb/search", params={"q": "退款多久到账", "limit": "2"})
    assert [i["entry"]["question"] for i in found["items"]][0] == "退款一般多久能到账？"
    assert len(found["items"]) == 2
    sms = await desk.ok("GET", "/api/v1/kb/search",
                        params={"q": "refund time", "language": "en", "channel": "sms"})
    assert sms["items"][0]["answer"] == "Refunds reach your original payment method in 3-5 business days."


@pytest.mark.parametrize(("method", "path", "kw", "field"), [
    ("GET", "/api/v1/kb/search", {}, "q"),
    ("GET", "/api/v1/kb/search", {"params": {"q": "x", "limit": "0"}}, "limit"),
    ("GET", "/api/v1/kb/search", {"params": {"q": "x", "language": "Chinese!"}}, "language"),
    ("POST", "/api/v1/kb/entries", {"json": {"question": "q"}}, "answer"),
    ("POST", "/api/v1/kb/entries", {"json": {**ENTRY, "links": [{"title": "t", "url": "ftp:x"}]}},
     "links.0.url"),
    ("POST", "/api/v1/kb/entries", {"json": {**ENTRY, "colour": "red"}}, "colour"),
    ("POST", "/api/v1/kb/import", {"json": {"format": "yaml", "content": "entries: [1, "}},
     "content"),
    ("POST", "/api/v1/kb/import", {"json": {"format": "csv", "content": "question\nq\n"}},
     "content"),
    ("POST", "/api/v1/kb/import", {"json": {"format": "xml", "content": "<a/>"}}, "format"),
    ("GET", "/api/v1/kb/export", {"params": {"format": "xml"}}, "format"),
    ("GET", "/api/v1/kb/suggestions", {"params": {"min_support": "-1"}}, "min_support"),
])
async def test_bad_input_is_422_naming_the_field(desk: Desk, method: str, path: str,
                                                 kw: dict[str, Any], field: str) -> None:
    resp = await desk.call(method, path, "admin", **kw)
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["error"]["field"] == field


async def test_unknown_ids_are_404(desk: Desk) -> None:
    for method, path in (("GET", "/api/v1/kb/entries/nope"), ("PATCH", "/api/v1/kb/entries/nope"),
                         ("DELETE", "/api/v1/kb/entries/nope"),
                         ("GET", "/api/v1/kb/entries/nope/versions"),
                         ("POST", "/api/v1/kb/suggestions/nope/accept"),
                         ("POST", "/api/v1/kb/suggestions/nope/reject")):
        kw = {"json": {"answer": "x"}} if method == "PATCH" else {}
        resp = await desk.call(method, path, "admin", **kw)
        assert resp.status == 404, (method, path, resp.status)
