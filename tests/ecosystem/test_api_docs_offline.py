"""The API documents as someone on a government intranet sees them: in a real browser that can reach this server
and nothing else."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import Browser, Route


async def _offline_page(browser: Browser, base: str):
    """A page whose requests to anywhere but this server fail, as on an intranet; the addresses it tried are
    collected, with the console's errors."""
    context = await browser.new_context()
    page = await context.new_page()
    outside: list[str] = []
    errors: list[str] = []
    local = urlsplit(base).netloc

    async def only_local(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == local or url.startswith(("data:", "blob:")):
            await route.continue_()
        else:
            outside.append(url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_local)
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page, outside, errors


async def test_swagger_ui_lists_the_operations_without_internet(live_server, browser):
    context, page, outside, errors = await _offline_page(browser, live_server)
    await page.goto(f"{live_server}/schema")
    await page.wait_for_selector(".opblock", timeout=30_000)
    assert await page.locator(".opblock").count() >= 5
    assert await page.get_by_text("未来社区长效运营市场 API").first.is_visible()
    assert await page.get_by_text("优秀服务商名录").first.is_visible()
    assert outside == []
    assert errors == []
    await context.close()


async def test_the_reading_view_lists_the_same_operations_without_internet(live_server, browser):
    context, page, outside, errors = await _offline_page(browser, live_server)
    await page.goto(f"{live_server}/schema/elements")
    await page.get_by_text("未来社区长效运营市场 API").first.wait_for(timeout=30_000)
    await page.get_by_text("公开名录").first.click()
    await page.locator("a[href^='#/operations/']").first.wait_for()
    assert await page.locator("a[href^='#/operations/']").count() >= 5
    assert outside == []
    assert errors == []
    await context.close()


async def test_the_documents_assets_come_from_this_server(client):
    page = (await client.get("/schema")).text
    assert "cdn." not in page and "unpkg" not in page and "googleapis" not in page
    script = await client.get("/api-docs-assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "max-age=86400" in script.headers["cache-control"]
