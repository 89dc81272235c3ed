"""The pages through the real server in Debian's headless Chromium (Playwright, never a downloaded browser).

The server and the browser are tests/conftest.py's `live_server` and `browser`. Each test gets a fresh browser context (no cookies) and a `Browse` helper that fails
the test on any console error or uncaught page error, checks every page with the vendored axe-core and at
360 px for horizontal scrolling.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
AXE_PATH = "/__tests__/axe.min.js"
PHONE_WIDTH = 360


class Browse:
    """One person's browser: pages they open are checked as they load."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.base = base
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))

    def _console(self, message) -> None:
        # The document's own status (403, 422) is asserted by each test; Chromium also logs it as an error.
        own_status = message.text.startswith("Failed to load resource") and message.location.get("url") == self.page.url
        if message.type == "error" and not own_status:
            self.problems.append(f"console error: {message.text}")

    async def open(self, path: str, *, status: int = 200, check: bool = True) -> Page:
        response = await self.page.goto(self.base + path)
        assert response is not None
        assert response.status == status, f"{path}: {response.status}, expected {status}"
        if check:
            await self.check()
        return self.page

    async def check(self) -> None:
        """No console error, no serious or critical axe violation, no horizontal scroll at 360 px."""
        await self.page.wait_for_load_state("load")
        await self.page.add_script_tag(url=self.base + AXE_PATH)
        violations = await self.page.evaluate(
            """async () => {
                const result = await axe.run(document, {resultTypes: ["violations"]});
                return result.violations
                    .filter(v => v.impact === "serious" || v.impact === "critical")
                    .map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")}`);
            }"""
        )
        assert violations == [], f"{self.page.url}: {violations}"
        width = await self.page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_WIDTH, f"{self.page.url}: {width} px wide at {PHONE_WIDTH} px"
        assert self.problems == [], f"{self.page.url}: {self.problems}"

    async def login(self, username: str, password: str) -> None:
        await self.open("/login")
        await self.page.get_by_label("用户名").fill(username)
        await self.page.get_by_label("密码").fill(password)
        await self.page.get_by_role("button", name="登录").click()
        await self.page.wait_for_load_state("load")

    async def text(self) -> str:
        return await self.page.inner_text("main")


@pytest.fixture
async def browse(browser, live_server) -> AsyncIterator:
    """browse() → a new person's browser (no cookies), phone-sized."""
    contexts = []

    async def open_browser() -> Browse:
        context = await browser.new_context(viewport={"width": PHONE_WIDTH, "height": 800}, locale="zh-CN")
        contexts.append(context)
        await context.route(
            f"{live_server}{AXE_PATH}",
            lambda route: route.fulfill(body=AXE.read_bytes(), content_type="application/javascript"),
        )
        page = await context.new_page()
        return Browse(page, live_server)

    yield open_browser
    for context in contexts:
        await context.close()
