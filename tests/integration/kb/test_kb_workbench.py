"""Agents search the knowledge base beside the thread (headless Chromium): the customer's
question is looked up as the conversation opens, an agent's own words find entries too,
and "Insert" puts the answer into the reply box."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import BrowserContext, Page, expect

from omnihub.kb.io import import_entries

from ..workbench.conftest import LiveHub, browser, live_hub, shop  # noqa: F401

EXAMPLE_KB = Path(__file__).parents[3] / "config" / "examples" / "kb.yaml"


async def test_the_workbench_finds_and_inserts_knowledge_base_answers(
        live_hub: LiveHub, browser: BrowserContext) -> None:  # noqa: F811
    await import_entries(live_hub.hub.db, EXAMPLE_KB.read_text(encoding="utf-8"), "yaml",
                         actor="test")
    await live_hub.customer_says("shop", "m-1", "退款多久到账", customer="c-1", name="Lin")

    page: Page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{live_hub.url}/inbox/")
    await page.locator("#token").fill(await live_hub.token("ann", "agent"))
    await page.get_by_role("button", name="Sign in").click()
    await page.locator("#conversations .conv").first.click()

    # The customer's question was searched as the conversation opened.
    await expect(page.locator("#kb-q")).to_have_value("退款多久到账")
    hits = page.locator("#kb-results .kb-hit")
    await expect(hits.first.locator("strong")).to_have_text("退款一般多久能到账？")
    answer = await hits.first.locator("p").text_content()
    assert answer

    await hits.first.get_by_role("button", name="Insert").click()
    await expect(page.locator("#c-text")).to_have_value(answer)

    # An agent's own words, in English this time.
    await page.locator("#kb-q").fill("which payment methods do you accept")
    await page.locator("#kb-q").press("Enter")
    await expect(hits.first.locator("strong")).to_have_text("What payment methods do you accept?")
    await page.locator("#kb-q").fill("zzqx nothing like this")
    await page.locator("#kb-q").press("Enter")
    await expect(page.locator("#kb-results li")).to_have_text(["no matching answer"])
    assert errors == []
