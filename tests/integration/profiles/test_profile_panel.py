"""The workbench's profile panel shows derived tags apart from agents' tags, and the
customer's last orders (headless Chromium, as the workbench tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.async_api import BrowserContext, Page, expect

from omnihub.store import profiles

from ..workbench.conftest import LiveHub, browser, live_hub, shop  # noqa: F401


async def test_the_panel_shows_derived_tags_and_orders(
        live_hub: LiveHub, browser: BrowserContext) -> None:  # noqa: F811
    await live_hub.customer_says("shop", "m-1", "where is my kettle?", customer="c-1",
                                 name="Lin")
    conversation = (await live_hub.hub.store.list_conversations(channel_id="shop")).items[0]
    customer_id = conversation.customer_id
    placed = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    await live_hub.api("POST", f"/api/v1/customers/{customer_id}/orders", {
        "order_id": "A-1001", "status": "shipped", "currency": "CNY", "total": "299.00",
        "placed_at": placed, "items": [{"name": "Kettle"}]}, role="supervisor")
    await profiles.save_profile(live_hub.hub.db, customer_id, tags=["vip"], facts={},
                                rules_sha256=None, now=datetime.now(UTC), recheck_at=None)

    page: Page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{live_hub.url}/inbox/")
    await page.locator("#token").fill(await live_hub.token("ann", "agent"))
    await page.get_by_role("button", name="Sign in").click()
    await page.locator("#conversations .conv").first.click()
    await expect(page.locator("#p-tags .badge.derived")).to_have_text(["vip"])
    await expect(page.locator("#p-orders li")).to_have_text(
        [f"A-1001 · shipped · 299.00 CNY · {placed[:10]}"])
    assert errors == []
