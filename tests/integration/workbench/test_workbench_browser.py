"""The workbench in a real headless Chromium: sign in, see a customer's message arrive
live, read the cross-channel history, reply, note, take and resolve the conversation."""

from __future__ import annotations

import asyncio
from pathlib import Path

from playwright.async_api import BrowserContext, Dialog, Page, expect

from .conftest import LiveHub, Shop

SCREENSHOT = Path("/tmp/omnihub-workbench.png")
HOSTILE = 'Is this safe? <img src=x onerror=alert(1)><script>alert(2)</script>'


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_an_agent_works_a_conversation_in_the_browser(
        live_hub: LiveHub, shop: Shop, browser: BrowserContext) -> None:
    # Lin wrote on the shop's app yesterday; the same e-mail makes her one customer.
    await live_hub.customer_says("app", "app-1", "Hi from the app, order #1001",
                                 customer="u-app-9", name="Lin", email="lin@example.com")
    token = await live_hub.token("ann", "agent")
    await live_hub.api("POST", "/api/v1/canned-replies", {
        "shortcut": "/shipped", "title": "Parcel shipped",
        "body": "Hi {{customer.name}}, it left our warehouse today 🚚 — {{agent.name}}"})

    page: Page = await browser.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    urls: list[str] = []

    async def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: urls.append(request.url))
    await page.goto(f"{live_hub.url}/inbox/")
    await page.locator("#token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#whoami")).to_have_text("ann · agent")
    await expect(page.locator("#live")).to_have_text("live")
    rows = page.locator("#conversations .conv")
    await expect(rows).to_have_count(1)

    # A new message on the shop channel shows up without reloading the page.
    await live_hub.customer_says("shop", "shop-1", HOSTILE, customer="c-77", name="Lin",
                                 email="lin@example.com")
    await expect(rows).to_have_count(2)
    shop_row = rows.filter(has=page.locator(".badge.channel", has_text="shop"))
    await expect(shop_row).to_contain_text("Lin")
    await expect(shop_row).to_contain_text("unassigned")

    await shop_row.click()
    thread = page.locator("#thread .msg")
    await expect(thread).to_have_count(2)  # both channels, oldest first
    await expect(thread.nth(0).locator(".badge.channel")).to_have_text("app")
    await expect(thread.nth(1).locator(".badge.channel")).to_have_text("shop")
    await expect(thread.nth(1).locator(".msg-body")).to_have_text(HOSTILE)  # shown as text
    assert await page.locator("#thread img, #thread script").count() == 0
    await expect(page.locator("#p-identities")).to_contain_text("lin@example.com")

    # Reply with a canned reply, filled in for Lin: it reaches the customer's channel.
    await page.locator("#c-canned").select_option(label="/shipped — Parcel shipped")
    reply = "Hi Lin, it left our warehouse today 🚚 — ann"
    await expect(page.locator("#c-text")).to_have_value(reply)
    await page.get_by_role("button", name="Send").click()
    await until(lambda: len(shop.replies) == 1)
    assert shop.replies[0]["text"] == reply
    assert shop.replies[0]["customer"] == {"external_id": "c-77"}
    await expect(page.locator("#thread .msg.outbound")).to_contain_text("it left our warehouse")

    # A private note stays in the hub.
    await page.locator("#c-note").check()
    await page.locator("#c-text").fill("Courier confirmed by phone")
    await page.locator("#c-text").press("Control+Enter")
    await expect(page.locator("#thread .msg.note")).to_contain_text("Courier confirmed")

    await page.get_by_role("button", name="Assign to me").click()
    await expect(page.locator("#conv-meta")).to_contain_text("@ann")
    await expect(shop_row).to_contain_text("@ann")
    await page.locator("#f-mine").check()
    await expect(rows).to_have_count(1)
    await page.screenshot(path=str(SCREENSHOT))

    await page.get_by_role("button", name="Resolve").click()
    await expect(page.locator("#conv-meta .badge").nth(1)).to_have_text("resolved")
    await expect(rows).to_have_count(0)  # the list shows open conversations
    conversation_id = await shop_row_id(live_hub)
    stored = await live_hub.hub.store.get_conversation(conversation_id)
    assert stored is not None and stored.status == "resolved" and stored.assignee == "ann"

    await asyncio.sleep(0.3)
    assert len(shop.replies) == 1  # the note never left the hub
    assert dialogs == [] and errors == []
    assert not any(token in url for url in urls)  # the token travels in headers only

    # The token survives a reload (sessionStorage), and signing out forgets it.
    await page.reload()
    await expect(page.locator("#whoami")).to_have_text("ann · agent")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.locator("#token")).to_be_visible()
    assert await page.evaluate("sessionStorage.length") == 0


async def shop_row_id(live_hub: LiveHub) -> str:
    page = await live_hub.hub.store.list_conversations(channel_id="shop")
    assert len(page.items) == 1
    return page.items[0].id


async def test_a_wrong_token_is_refused_on_the_page(live_hub: LiveHub,
                                                    browser: BrowserContext) -> None:
    page = await browser.new_page()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    await page.goto(f"{live_hub.url}/inbox/")
    await page.locator("#token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#signin-error")).to_have_text("Unknown or revoked token.")
    await expect(page.locator("#workbench")).to_be_hidden()
    assert await page.evaluate("sessionStorage.length") == 0
    assert not any("not-a-token" in url for url in urls)
