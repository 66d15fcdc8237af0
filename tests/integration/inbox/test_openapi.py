"""`GET /api/v1/openapi.json` describes every API route, without a token."""

from __future__ import annotations

from .conftest import Desk


async def test_openapi_describes_every_route(desk: Desk) -> None:
    resp = await desk.hub.http.get("/api/v1/openapi.json")
    assert resp.status == 200
    spec = await resp.json()
    assert spec["openapi"].startswith("3.")
    described = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    routes = {(r.method, r.resource.canonical) for r in desk.hub.app.router.routes()
              if r.resource is not None and r.method != "HEAD"
              and r.resource.canonical.startswith("/api/v1/")}
    assert described == routes
    transfer = spec["paths"]["/api/v1/conversations/{id}/transfer"]["post"]
    ref = transfer["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(schema["properties"]) == {"group", "assignee", "reason"}
    assert "conversations.transfer" in transfer["description"]
    assert "Conversation" in spec["components"]["schemas"]
