"""The workbench's files are served without a token, with a strict CSP; `/api/v1/me`
tells the page who the token acts as."""

from __future__ import annotations

from ..hub.conftest import HubClient


async def test_page_and_assets_are_public_and_locked_down(hub: HubClient) -> None:
    page = await hub.http.get("/inbox/")
    assert page.status == 200
    assert page.content_type == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    html = await page.text()
    assert 'src="app.js"' in html and 'href="app.css"' in html

    script = await hub.http.get("/inbox/app.js")
    assert script.status == 200 and script.content_type == "application/javascript"
    assert "innerHTML" not in await script.text()
    again = await hub.http.get("/inbox/app.js", headers={"If-None-Match": script.headers["ETag"]})
    assert again.status == 304
    style = await hub.http.get("/inbox/app.css")
    assert style.status == 200 and style.content_type == "text/css"

    moved = await hub.http.get("/inbox", allow_redirects=False)
    assert moved.status == 308 and moved.headers["Location"] == "/inbox/"
    assert (await hub.http.get("/inbox/other.js")).status == 404


async def test_me_names_the_agent_and_needs_a_token(hub: HubClient) -> None:
    resp = await hub.http.get("/api/v1/me", headers=await hub.token("senior", "sam"))
    assert resp.status == 200
    assert await resp.json() == {"agent": "sam", "role": "senior"}
    assert (await hub.http.get("/api/v1/me")).status == 401
