"""A real HTTP server for the application and Debian's headless chromium, for tests that look as a person does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import uvicorn
from playwright.async_api import Browser, async_playwright

from tests.servers import free_port

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
async def live_server(app) -> AsyncIterator[str]:
    """The application behind a real HTTP server on a free port, in the tests' own loop (the pool is open)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        await browser.close()
