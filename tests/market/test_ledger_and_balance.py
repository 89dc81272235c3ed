"""The ledger, balances, the overview, the subsidy calculators and the one-click report."""

from __future__ import annotations

import io
import itertools
from datetime import UTC, date, datetime

import asyncpg
import pytest
from openpyxl import load_workbook
from piccolo.engine import engine_finder

from core.migrate import run_sql_script
from market import repository
from market.piccolo_migrations import market_2026_12_05t10_03_00_000000 as voucher_migration
from tests.market.helpers import community, contract, listed_operators


async def post(world, user, community_id, kind, amount, reference, month="2026-10-01"):
    return await world.post(
        user,
        f"/api/v1/communities/{community_id}/ledger",
        json={"month": month, "kind": kind, "amount": amount, "reference": reference},
    )


async def test_a_source_is_posted_once_whatever_the_path(world, frozen_clock):
    target = await community(world, "street_x", "江滨社区")
    first = await post(world, "street_x", target["id"], "staff", 500_000, "凭证2026-10-001")
    assert first.status_code == 201, first.text
    assert first.json()["kind_label"] == "人员成本" and first.json()["direction"] == "cost"
    again = await post(world, "street_x", target["id"], "utilities", 1, "凭证2026-10-001")
    assert again.status_code == 409 and again.json()["code"] == "ledger.voucher_exists"

    # The database itself refuses a second row with the same source, whatever the code above it does.
    row = {
        "community_id": target["id"],
        "month": first.json()["month"],
        "direction": "cost",
        "kind": "staff",
        "amount": 1,
        "source": first.json()["source"],
    }
    row["month"] = date.fromisoformat(row["month"])
    with pytest.raises(asyncpg.UniqueViolationError):
        await repository.insert_entries([row], posted_by=None, posted_by_org=None, now=datetime.now(UTC))

    entries = (
        await world.get(
            "street_x",
            f"/api/v1/communities/{target['id']}/ledger",
            params={"start": "2026-01-01", "end": "2027-01-01"},
        )
    ).json()
    assert entries["total"] == 1 and entries["items"][0]["amount"] == 500_000


async def test_a_voucher_is_posted_once_per_community_whichever_office_posts_it(world, frozen_clock):
    jiangbin = await community(world, "street_x", "江滨社区")
    fuchun = await community(world, "street_x", "富春社区")
    # Every office over the community (street, district, city) in every order: the first posting stands.
    for first, second in itertools.permutations(("street_x", "district", "city"), 2):
        voucher = f"凭证-{first}-{second}"
        assert (await post(world, first, jiangbin["id"], "staff", 300_000, voucher)).status_code == 201
        again = await post(world, second, jiangbin["id"], "staff", 300_000, f"  {voucher} ")
        assert again.status_code == 409, (first, second, again.text)
        body = again.json()
        assert body["code"] == "ledger.voucher_exists" and body["message"]
        assert body["detail"]["posted_by_org_id"] == world.org_id(
            {"street_x": "street_x", "district": "district_a", "city": "city"}[first]
        )
        # Another community may use the same voucher reference, whoever posts it.
        assert (await post(world, second, fuchun["id"], "staff", 300_000, voucher)).status_code == 201
    balance = (
        await world.get(
            "district",
            f"/api/v1/communities/{jiangbin['id']}/balance",
            params={"start": "2026-10-01", "end": "2026-11-01"},
        )
    ).json()
    assert balance["balance"]["cost"] == 6 * 300_000


async def test_vouchers_already_posted_by_two_offices_are_kept_and_named_by_the_migration(world, frozen_clock):
    target = await community(world, "street_x", "江滨社区")
    month, now = date(2026, 10, 1), datetime.now(UTC)
    legacy = [("org:{street}:V-1", "staff"), ("org:{district}:V-1", "staff"), ("org:{district}:V-2", "utilities")]
    for source, kind in legacy:
        source = source.format(street=world.org_id("street_x"), district=world.org_id("district_a"))
        await repository.insert_entries(
            [
                {
                    "community_id": target["id"],
                    "month": month,
                    "direction": "cost",
                    "kind": kind,
                    "amount": 100,
                    "source": source,
                }
            ],
            posted_by=None,
            posted_by_org=None,
            now=now,
        )
    await run_sql_script(voucher_migration.SQL)

    sources = [r["source"] for r in await engine_finder().run_ddl("SELECT source FROM market_ledger_entry ORDER BY id")]
    assert sources == [
        f"voucher:{target['id']}:V-1",
        f"org:{world.org_id('district_a')}:V-1",
        f"voucher:{target['id']}:V-2",
    ]
    for voucher in ("V-1", "V-2"):
        again = await post(world, "district", target["id"], "staff", 100, voucher)
        assert again.status_code == 409 and again.json()["code"] == "ledger.voucher_exists"


async def test_streets_post_costs_and_subsidies_but_not_revenue_nor_future_months(world, frozen_clock):
    target = await community(world, "street_x", "江滨社区")
    revenue = await post(world, "street_x", target["id"], "service_revenue", 100, "R1")
    assert revenue.status_code == 403 and revenue.json()["code"] == "ledger.kind_not_allowed"
    future = await post(world, "street_x", target["id"], "staff", 100, "F1", month="2027-06-01")
    assert future.status_code == 422 and future.json()["code"] == "ledger.month_invalid"
    assert (await post(world, "street_x", target["id"], "subsidy", 100, "S1")).status_code == 201
    assert (await post(world, "street_y", target["id"], "staff", 100, "S2")).status_code == 404
    # An operator posts nothing to the ledger directly (it reports its month): refused for its role.
    by_operator = await post(world, "operator_a", target["id"], "staff", 100, "S3")
    assert by_operator.status_code == 403 and by_operator.json()["code"] == "auth.forbidden"
    zero = await post(world, "street_x", target["id"], "staff", 0, "Z1")
    assert zero.status_code == 422


async def test_an_operator_reports_a_month_once_for_its_own_contract(world, frozen_clock):
    operators = await listed_operators(
        world, frozen_clock, {"tot": {"categories": ("childcare",)}, "other": {"categories": ("childcare",)}}
    )
    target = await community(world, "street_x", "江滨社区")
    signed = await contract(world, "street_x", target["id"], operators["tot"]["id"], starts_on="2026-03-01")
    report = {"month": "2026-10-01", "service_revenue": 1_200_000, "costs": {"staff": 700_000, "utilities": 100_000}}

    first = await world.post("tot", f"/api/v1/contracts/{signed['id']}/monthly-reports", json=report)
    assert first.status_code == 201, first.text
    assert {e["kind"]: e["amount"] for e in first.json()} == {
        "service_revenue": 1_200_000,
        "staff": 700_000,
        "utilities": 100_000,
    }
    twice = await world.post("tot", f"/api/v1/contracts/{signed['id']}/monthly-reports", json=report)
    assert twice.status_code == 409 and twice.json()["code"] == "ledger.source_exists"
    stranger = await world.post("other", f"/api/v1/contracts/{signed['id']}/monthly-reports", json=report)
    assert stranger.status_code == 404
    before_term = await world.post(
        "tot", f"/api/v1/contracts/{signed['id']}/monthly-reports", json={**report, "month": "2026-01-01"}
    )
    assert before_term.status_code == 409 and before_term.json()["code"] == "ledger.no_contract_for_month"

    balance = (await world.get("street_x", f"/api/v1/communities/{target['id']}/balance")).json()
    assert balance["balance"]["income"] == 1_200_000 and balance["balance"]["cost"] == 800_000


@pytest.mark.parametrize(
    ("income", "status", "label"),
    [
        (100_000, "balanced", "平衡"),  # exactly 1.0
        (99_999, "warning", "预警"),
        (80_000, "warning", "预警"),  # exactly 0.8
        (79_999, "imbalanced", "失衡"),
    ],
)
async def test_balance_status_at_the_threshold_edges(world, frozen_clock, income, status, label):
    target = await community(world, "street_x", "江滨社区")
    assert (await post(world, "street_x", target["id"], "staff", 100_000, "C1", month="2026-05-01")).status_code == 201
    assert (await post(world, "street_x", target["id"], "subsidy", income, "I1", month="2026-07-01")).status_code == 201
    body = (await world.get("street_x", f"/api/v1/communities/{target['id']}/balance")).json()
    assert (body["start"], body["end"]) == ("2025-11-01", "2026-11-01")  # trailing 12 complete months
    assert body["balance"]["status"] == status and body["balance"]["status_label"] == label
    assert len(body["monthly"]) == 12 and sum(m["cost"] for m in body["monthly"]) == 100_000


async def test_the_overview_lists_every_community_worst_first_within_scope(world, frozen_clock):
    figures = {"平衡社区": 120_000, "预警社区": 90_000, "失衡社区": 50_000}
    ids = {}
    for name, income in figures.items():
        target = await community(world, "street_x", name)
        ids[name] = target["id"]
        await post(world, "street_x", target["id"], "staff", 100_000, f"C-{name}")
        await post(world, "street_x", target["id"], "subsidy", income, f"I-{name}")
    other = await community(world, "street_y", "银湖社区")
    await post(world, "street_y", other["id"], "staff", 100_000, "C-other")

    city = (await world.get("city", "/api/v1/balance/overview")).json()
    assert city["communities"] == 4
    assert [i["community_name"] for i in city["items"]] == ["银湖社区", "失衡社区", "预警社区", "平衡社区"]
    assert city["counts"] == {"imbalanced": 2, "warning": 1, "balanced": 1, "no_data": 0}
    assert city["total"]["income"] == 260_000 and city["total"]["cost"] == 400_000

    street = (await world.get("street_x", "/api/v1/balance/overview", params={"status": "warning"})).json()
    assert street["communities"] == 3 and [i["community_name"] for i in street["items"]] == ["预警社区"]

    # A community with nothing posted yet is not called balanced; it is listed last.
    await community(world, "street_x", "新建社区")
    city = (await world.get("city", "/api/v1/balance/overview")).json()
    assert city["items"][-1]["community_name"] == "新建社区"
    assert city["items"][-1]["balance"]["status_label"] == "暂无收支数据" and city["counts"]["no_data"] == 1
    assert (await world.get("operator_a", "/api/v1/balance/overview")).status_code == 403


async def test_the_forecast_counts_what_active_contracts_promise(world, frozen_clock):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    target = await community(world, "street_x", "江滨社区")
    await contract(
        world,
        "street_x",
        target["id"],
        operators["tot"]["id"],
        starts_on="2026-01-01",
        ends_on="2027-04-01",
        annual_fee=1_200_000,
    )
    body = (await world.get("street_x", f"/api/v1/communities/{target['id']}/balance")).json()
    forecast = {m["month"]: m["cost"] for m in body["forecast"]}
    assert len(forecast) == 12 and min(forecast) == "2026-12-01"
    assert forecast["2027-03-01"] == 100_000 and forecast["2027-04-01"] == 0


async def test_subsidy_calculators(world):
    hangzhou = await world.post(
        "street_x",
        "/api/v1/subsidies/hangzhou-old-estate",
        json={"total_cost": 50_000 * 100 * 1000, "area_m2": "100000", "share": "0.5"},
    )
    assert hangzhou.status_code == 200, hangzhou.text
    # 5,000 万 over 100,000 m² is 500 元/m², counted at 300: 0.5 × 300 × 100,000 = 1,500 万.
    assert hangzhou.json()["subsidy"] == 1_500 * 10_000 * 100 and hangzhou.json()["cost_per_m2_counted"] == 30_000
    bad = await world.post(
        "street_x", "/api/v1/subsidies/hangzhou-old-estate", json={"total_cost": 1, "area_m2": "0", "share": "0.5"}
    )
    assert bad.status_code == 422 and bad.json()["code"] == "subsidy.input_invalid"

    fuyang = await world.post(
        "street_x",
        "/api/v1/subsidies/fuyang-award",
        json={"spend": 800 * 10_000 * 100, "target_level": "city", "levels_passed": ["city"]},
    )
    body = fuyang.json()
    assert body["award"] == 800 * 10_000 * 100 and body["saving_reward"] == 100 * 10_000 * 100
    assert "另奖励差额的一半" in body["explanation"]
    assert (await world.client.post("/api/v1/subsidies/fuyang-award", json={})).status_code == 401


async def test_the_one_click_report_holds_the_file_contracts_and_balance(world, frozen_clock):
    operators = await listed_operators(world, frozen_clock, {"tot": {"name": "小橙托育", "categories": ("childcare",)}})
    target = await community(world, "street_x", "江滨社区")
    await contract(world, "street_x", target["id"], operators["tot"]["id"])
    await post(world, "street_x", target["id"], "staff", 123_456, "C1")

    page = await world.get("street_x", f"/api/v1/communities/{target['id']}/report.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for text in ("富阳区富春街道江滨社区 社区运营报告", "社区档案", "小橙托育", "¥1,234.56", "收支平衡"):
        assert text in page.text

    sheet = await world.get("street_x", f"/api/v1/communities/{target['id']}/report.xlsx")
    workbook = load_workbook(io.BytesIO(sheet.content))
    assert workbook.sheetnames[:3] == ["社区档案", "社区需求", "运营商与服务合同"]
    assert workbook["运营商与服务合同"]["B2"].value == "小橙托育"
    assert workbook["运营商与服务合同"]["C2"].value == "托育"  # the category's name, not its code
    assert (await world.get("street_y", f"/api/v1/communities/{target['id']}/report.html")).status_code == 404
