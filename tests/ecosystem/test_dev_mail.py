"""In development every message the system sends is caught and can be read in the browser: the monthly report
with its chart and workbook, as the construction committee would get it."""

from __future__ import annotations

import dataclasses
import io
import os
from datetime import date

import pytest
from openpyxl import load_workbook

from app.app import create_app
from app.mailcatcher import start_catcher
from core.outbox.service import send_pending
from core.settings import get_settings
from scheduler.service import queue_report
from tests.market.helpers import community
from tests.servers import free_port


@pytest.fixture
def catcher():
    """The catcher `make run` starts, on a free port, keeping mail where the pages read it."""
    settings = get_settings()
    port = free_port()
    controller = start_catcher("127.0.0.1", port, settings.dev_mail_dir)
    yield dataclasses.replace(settings, smtp_port=port)
    controller.stop()
    for caught in settings.dev_mail_dir.glob("*.eml"):
        caught.unlink()


async def _send_the_october_report(world) -> None:
    jiangbin = await community(world, "street_x", "江滨社区")
    for kind, amount in (("staff", 500_000), ("subsidy", 300_000)):
        posted = await world.post(
            "street_x",
            f"/api/v1/communities/{jiangbin['id']}/ledger",
            json={"month": "2026-10-01", "kind": kind, "amount": amount, "reference": f"{kind}-1"},
        )
        assert posted.status_code == 201, posted.text


async def test_the_report_sent_in_development_is_read_in_the_browser(
    world, frozen_clock, catcher, live_server, browser
):
    await _send_the_october_report(world)
    assert await queue_report(date(2026, 10, 1), ["jianwei@example.org"]) == 1
    assert (await send_pending(settings=catcher)).sent == 1

    page = await browser.new_page()
    await page.goto(f"{live_server}/dev/mail")
    await page.get_by_text("共 1 封").wait_for()
    await page.get_by_role("link", name="收支平衡月报").click()
    await page.get_by_role("heading", name="附件").wait_for()
    assert await page.get_by_text("jianwei@example.org").first.is_visible()

    body = page.frame_locator("iframe[title='邮件正文']")
    await body.get_by_text("江滨社区").first.wait_for()
    chart_width = await body.locator("img").first.evaluate("img => img.complete && img.naturalWidth")
    assert chart_width > 300  # the chart the message carries, shown in place

    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="xlsx").first.click()
    download = await download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    workbook = load_workbook(io.BytesIO((await download.path()).read_bytes()))
    assert "全部社区" in workbook.sheetnames
    await page.close()


async def test_a_message_that_does_not_exist_is_a_plain_not_found(client):
    assert (await client.get("/dev/mail/0000000000000000000-00000000")).status_code == 404
    assert (await client.get("/dev/mail/../../etc/passwd")).status_code == 404


def test_outside_development_there_are_no_mail_pages():
    before = os.environ.get("APP_ENV")
    os.environ["APP_ENV"] = "production"
    get_settings.cache_clear()
    try:
        paths = {route.path for route in create_app().routes}
    finally:
        os.environ["APP_ENV"] = before or "development"
        get_settings.cache_clear()
    assert "/schema" in paths and not any(path.startswith("/dev") for path in paths)
