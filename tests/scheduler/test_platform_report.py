"""The emailed monthly report compares old-renovation communities run by a state-owned platform with those
the market runs."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from core.outbox.service import send_pending
from scheduler import engine
from scheduler.jobs import job_named
from tests.market.helpers import community, contract, listed_operators
from tests.residents.survey_helpers import closed_survey
from tests.scheduler.test_report import fen, records


async def post(world, community_id, kind, amount, reference):
    response = await world.post(
        "street_x",
        f"/api/v1/communities/{community_id}/ledger",
        json={"month": "2026-10-01", "kind": kind, "amount": amount, "reference": reference},
    )
    assert response.status_code == 201, response.text


async def test_the_emailed_report_compares_platform_run_and_market_run_old_renovation_communities(
    world, frozen_clock, smtp_server, mailbox
):
    platform = await world.post(
        "city",
        "/api/v1/platforms",
        json={
            "org_id": world.org_id("owner"),
            "level": "district",
            "district_id": world.org_id("district_a"),
            "reason": "统一运营试点",
        },
    )
    run, free, new = (
        await community(world, "street_x", "江滨社区"),
        await community(world, "street_x", "富春社区"),
        await community(world, "street_x", "未来城社区", community_type="new_build"),
    )
    assigned = await world.post(
        "city",
        f"/api/v1/platforms/{platform.json()['id']}/communities",
        json={"community_id": run["id"], "starts_on": "2026-06-01", "reason": "纳入试点"},
    )
    assert assigned.status_code == 201, assigned.text
    await post(world, run["id"], "other_income", 800_000, "P-1")
    await post(world, run["id"], "staff", 400_000, "P-2")
    await post(world, free["id"], "other_income", 300_000, "M-1")
    await post(world, free["id"], "staff", 600_000, "M-2")
    await post(world, new["id"], "staff", 999_000, "N-1")  # a new build is in neither group
    # The platform-run community's residents rated its services last quarter: 9 of 10 satisfied.
    operators = await listed_operators(
        world, frozen_clock, {"kangle": {"name": "康乐养老", "categories": ("childcare",)}}
    )
    signed = await contract(world, "street_x", run["id"], operators["kangle"]["id"])
    await closed_survey(run["id"], signed["id"], operators["kangle"]["id"], satisfied=9, total=10)

    await send_pending()
    mailbox.clear()  # the registry's notices to the operator listed above
    frozen_clock.advance(days=8)  # 1 December: the November report is due
    await engine.run_period(job_named("balance_report"), "2026-11")
    assert (await send_pending()).sent == 1
    (message,) = mailbox.messages
    html = next(p for p in message.walk() if p.get_content_type() == "text/html").get_content()
    assert "国企平台统一运营与市场化运营对比" in html and "国企平台统一运营" in html
    attachment = next(p for p in message.walk() if (p.get_filename() or "").endswith(".xlsx"))
    rows = {r["运营方式"]: r for r in records(load_workbook(io.BytesIO(attachment.get_content()))["国企平台"])}
    platform_run, market_run = rows["国企平台统一运营"], rows["市场化运营"]
    assert (platform_run["社区数"], fen(platform_run["收入（元）"]), fen(platform_run["成本（元）"])) == (
        1,
        800_000,
        400_000,
    )
    assert (market_run["社区数"], fen(market_run["收入（元）"]), fen(market_run["成本（元）"])) == (1, 300_000, 600_000)
    assert platform_run["收支比"] not in (None, "")
    assert (platform_run["居民满意度"], market_run["居民满意度"]) == ("90.00%（10 份答卷）", "暂无测评")
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_content()
    assert "运营方式：国企平台统一运营；社区数：1" in text
