"""The README's screenshots, taken from the real pages: `make screenshots` writes them to docs/screenshots/
(SCREENSHOTS_DIR); in the test suite they go to a temporary folder, so the command keeps working."""

from __future__ import annotations

import os
from pathlib import Path

from leasing import service as leasing
from scheduler import jobs as scheduler_jobs
from tests.leasing.helpers import lease, space
from tests.market.helpers import listed_operators
from tests.world import PASSWORD

OPERATOR_PASSWORD = "operator-pass-1"
DESKTOP = {"width": 1280, "height": 900}


async def test_the_readme_screenshots_show_the_directory_the_work_queue_and_an_invoice(
    world, frozen_clock, browse, tmp_path
):
    out = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    operators = await listed_operators(
        world,
        frozen_clock,
        {
            "tot": {"name": "小太阳托育服务有限公司", "categories": ("childcare",)},
            "elder": {"name": "夕阳红居家养老服务有限公司", "categories": ("elderly",)},
            "culture": {"name": "春晖社区文化发展有限公司", "categories": ("culture",)},
        },
    )
    room = await space(world)
    await lease(world, room["id"], operators["tot"]["id"], starts_on="2026-10-01", monthly_rent=542_250)
    await leasing.generate_invoices()
    await scheduler_jobs.overdue_invoices(frozen_clock().date())

    public = await browse()
    page = await public.open("/directory")
    await page.screenshot(path=str(out / "directory-phone.png"), full_page=True)

    street = await browse()
    await street.login("street_x", PASSWORD)
    await street.page.set_viewport_size(DESKTOP)
    page = await street.open("/street", check=False)
    assert "逾期" in await street.text() or "欠" in await street.text()
    await page.screenshot(path=str(out / "street-work-queue.png"), full_page=True)

    operator = await browse()
    await operator.login("tot", OPERATOR_PASSWORD)
    await operator.page.set_viewport_size(DESKTOP)
    invoice_id = (await world.get("tot", "/api/v1/rent-invoices")).json()["items"][0]["id"]
    page = await operator.open(f"/operator/invoices/{invoice_id}", check=False)
    assert "¥5,422.50" in await operator.text()
    await page.screenshot(path=str(out / "operator-invoice.png"), full_page=True)

    for name in ("directory-phone.png", "street-work-queue.png", "operator-invoice.png"):
        assert (out / name).stat().st_size > 10_000, name
