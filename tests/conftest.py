"""Test harness: a real PostgreSQL, SMTP server and payment server, started once per run.

The environment is set before any project module is imported, so the settings see it.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, async_playwright

from tests.servers import LocalStripe, SmtpServer, free_port, start_test_database

_TMP = Path(tempfile.mkdtemp(prefix="fcom-test-"))
# Registered before the database starts, so it runs after the server's own stop-and-delete at exit.
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
SMTP_PORT = free_port()
STRIPE_PORT = free_port()
APP_DATABASE_URL, OWNER_DATABASE_URL = start_test_database(_TMP)
os.environ.update(
    {
        "DATABASE_URL": APP_DATABASE_URL,
        "MIGRATION_DATABASE_URL": OWNER_DATABASE_URL,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(SMTP_PORT),
        "SMTP_TIMEOUT_SECONDS": "3",
        "STRIPE_API_BASE": f"http://127.0.0.1:{STRIPE_PORT}",
        "LOCALSTRIPE_PORT": str(STRIPE_PORT),
        "SECRET_KEY": "test-secret-key-at-least-32-bytes-long!",
        # localstripe's keys are the development ones; the servers the tests start run as in development.
        "APP_ENV": "development",
        "DEV_MAIL_DIR": str(_TMP / "mail"),
        # The real PBKDF2 hash, with fewer rounds so creating hundreds of test users stays quick.
        "PASSWORD_HASH_ITERATIONS": "1000",
        # Every test request comes from one address: limits generous enough never to throttle the suite
        # (tests/security/test_abuse_limits.py builds an app with small ones).
        "RATE_LIMIT_PUBLIC_PER_MINUTE": "1000000",
        "RATE_LIMIT_LOGIN_PER_MINUTE": "1000000",
        "OBJECTION_PER_ADDRESS_PER_HOUR": "1000000",
    }
)

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from piccolo.engine import engine_finder  # noqa: E402

from app.app import create_app  # noqa: E402
from core import clock  # noqa: E402
from core.migrate import migrate  # noqa: E402
from core.reference import load_reference_data  # noqa: E402
from core.settings import get_settings  # noqa: E402
from tests.payment_server import FaultyPaymentServer  # noqa: E402
from tests.reached import recording  # noqa: E402
from tests.world import World, build_world  # noqa: E402

KEEP_TABLES = {"migration", "core_data_version"}


logging.getLogger("httpx").setLevel(logging.WARNING)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The documented-errors check compares what every other test provoked, so it runs after them all.
    items.sort(key=lambda item: item.path.name == "test_documented_errors_reached.py")


@pytest.fixture(scope="session")
async def app():
    # The same start-up the server does (migrate, open the pool), without an ASGI lifespan task:
    # httpx's ASGITransport sends requests only, so the pool is opened here in the tests' own loop.
    application = create_app()
    engine = engine_finder()
    await migrate()
    await engine.start_connection_pool(min_size=2, max_size=30)
    await load_reference_data()
    yield application
    await engine.close_connection_pool()


@pytest.fixture(scope="session")
async def table_names(app) -> list[str]:
    rows = await engine_finder().run_ddl(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    return [r["tablename"] for r in rows if r["tablename"] not in KEEP_TABLES]


@pytest.fixture(scope="session")
async def owner_connection(app) -> AsyncIterator[asyncpg.Connection]:
    """The owner's connection: the application's role may not truncate the audit log."""
    connection = await asyncpg.connect(OWNER_DATABASE_URL)
    yield connection
    await connection.close()


@pytest.fixture(autouse=True)
async def clean_database(table_names, owner_connection) -> AsyncIterator[None]:
    """Each test starts from empty tables (truncation, so tests may use real concurrent transactions)."""
    yield
    await owner_connection.execute(f"TRUNCATE {', '.join(table_names)} RESTART IDENTITY CASCADE")
    await load_reference_data()


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=recording(app)), base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def world(client) -> World:
    """An org tree with one user per role, and two of some so scopes can be compared."""
    return await build_world(client)


class ControlledClock:
    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta) -> None:
        from datetime import timedelta

        self.current += timedelta(**delta)


@pytest.fixture
def frozen_clock() -> ControlledClock:
    controlled = ControlledClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    clock.set_clock(controlled)
    yield controlled
    clock.set_clock(None)


@pytest.fixture(scope="session")
def smtp_server() -> SmtpServer:
    server = SmtpServer(SMTP_PORT)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp_server):
    """What arrives during the test; every message must pass tests.servers.parse_strictly."""
    if not smtp_server.running:
        smtp_server.start()
    smtp_server.mailbox.clear()
    yield smtp_server.mailbox
    assert smtp_server.mailbox.malformed == [], "malformed mail was sent"


@pytest.fixture(scope="session")
def localstripe() -> LocalStripe:
    server = LocalStripe(STRIPE_PORT)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def payment_server(localstripe, monkeypatch) -> AsyncIterator[FaultyPaymentServer]:
    """A misbehaving payment server in front of localstripe, and the settings aimed at it with a short timeout."""
    server = FaultyPaymentServer(f"http://127.0.0.1:{localstripe.port}")
    await server.start()
    monkeypatch.setenv("STRIPE_API_BASE", server.url)
    monkeypatch.setenv("STRIPE_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("STRIPE_MAX_RETRIES", "2")
    get_settings.cache_clear()
    yield server
    await server.stop()
    monkeypatch.undo()
    get_settings.cache_clear()


# A real HTTP server and Debian's headless Chromium, for tests that look as a person does (tests/web,
# tests/ecosystem). The application runs under uvicorn in the tests' own event loop, on a free port, with the
# database pool the `app` fixture opened.
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
async def live_server(app) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(recording(app), host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    # Never skipped: without Chromium these tests fail, and `make test` installs it (see the Makefile).
    assert CHROMIUM.exists(), "Debian's chromium is needed at /usr/bin/chromium: apt-get install -y chromium"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        await launched.close()
