"""Merging two customers over the API, and undoing it; supervisors only, audited."""

from __future__ import annotations

from .conftest import Desk, api_post


async def customer_id(desk: Desk, identity: str) -> str:
    resp = await desk.hub.http.get("/api/v1/customers", params={"identity": identity},
                                   headers=desk.auth["supervisor"])
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["id"])


async def test_merge_then_undo_restores_both_histories(desk: Desk) -> None:
    await desk.hub.post_message(api_post("x-1", customer="visitor-7", text="hi from chat"))
    await desk.hub.post_message(api_post("x-2", customer="u-42", text="hi by mail",
                                         email="lin@example.com"))
    source = await customer_id(desk, "api:shop:visitor-7")
    target = await customer_id(desk, "email:lin@example.com")
    http, sup = desk.hub.http, desk.auth["supervisor"]

    refused = await http.post(f"/api/v1/customers/{source}/merge", json={"into": target},
                              headers=desk.auth["agent"])
    assert refused.status == 403

    merged = await http.post(f"/api/v1/customers/{source}/merge", json={"into": target},
                             headers=sup)
    assert merged.status == 201, await merged.text()
    merge_id = (await merged.json())["merge_id"]
    history = await (await http.get(f"/api/v1/customers/{target}/history", headers=sup)).json()
    assert {m["parts"][0]["text"] for m in history["items"]} == {"hi from chat", "hi by mail"}
    assert await customer_id(desk, "api:shop:visitor-7") == target

    undone = await http.post(f"/api/v1/merges/{merge_id}/undo", headers=sup)
    assert undone.status == 200
    assert await customer_id(desk, "api:shop:visitor-7") == source
    history = await (await http.get(f"/api/v1/customers/{target}/history", headers=sup)).json()
    assert [m["parts"][0]["text"] for m in history["items"]] == ["hi by mail"]

    again = await http.post(f"/api/v1/merges/{merge_id}/undo", headers=sup)
    assert again.status == 409
    audit = await (await http.get("/api/v1/audit", params={"target": source}, headers=sup)).json()
    assert [e["action"] for e in audit["items"]][:2] == ["customers.unmerge", "customers.merge"]


async def test_merge_errors_are_named(desk: Desk) -> None:
    source = await customer_id(desk, "api:shop:c-1")  # the desk's own customer
    http, sup = desk.hub.http, desk.auth["supervisor"]
    assert (await http.post(f"/api/v1/customers/{source}/merge", json={"into": source},
                            headers=sup)).status == 409
    assert (await http.post(f"/api/v1/customers/{source}/merge", json={"into": "nope"},
                            headers=sup)).status == 404
    bad = await http.post(f"/api/v1/customers/{source}/merge", json={}, headers=sup)
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "into"
    assert (await http.post("/api/v1/merges/nope/undo", headers=sup)).status == 404
