"""The monthly balance report built from a small city on the real database: its totals against the balance
overview API, the communities in trouble first, the chart, what falls due and what changed in the registry."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from piccolo.engine import engine_finder

from leasing import service as leasing
from scheduler import report
from tests.leasing.helpers import lease, space
from tests.market.helpers import community, contract, listed_operators

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SHEETS = [
    "全市汇总",
    "分区县",
    "失衡与预警社区",
    "全部社区",
    "月度趋势",
    "存量空间",
    "90天内到期",
    "名录变动",
    "国企平台",
]


async def post(world, user: str, community_id: int, kind: str, amount: int, reference: str, month: str) -> None:
    response = await world.post(
        user,
        f"/api/v1/communities/{community_id}/ledger",
        json={"month": month, "kind": kind, "amount": amount, "reference": reference},
    )
    assert response.status_code == 201, response.text


def fen(value) -> int:
    """A yuan amount from the workbook, back in fen."""
    return int(Decimal(str(value)) * 100)


def records(sheet) -> list[dict]:
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


async def december_2026(world, frozen_clock, localstripe) -> dict:
    """Two districts, four communities (失衡, 预警, 平衡, nothing posted), a lease paying rent, a contract ending
    in February 2027, and an operator warned on 1 December; then the clock moves to January 2027."""
    operators = await listed_operators(
        world,
        frozen_clock,
        {  # published on 2026-12-01
            "tot": {"name": "小橙托育", "categories": ("childcare",)},
            "elder": {"name": "康乐养老", "categories": ("elderly",)},
        },
    )
    jiangbin = await community(world, "street_x", "江滨社区")
    caihong = await community(world, "street_y", "彩虹社区")
    wenxin = await community(world, "street_z", "文新社区", user="district_b")
    await community(world, "street_z", "新建社区", user="district_b")

    await post(world, "street_x", jiangbin["id"], "staff", 700_000, "J-1", "2026-03-01")
    await post(world, "street_x", jiangbin["id"], "utilities", 300_000, "J-2", "2026-10-01")
    await post(world, "street_x", jiangbin["id"], "subsidy", 100_000, "J-3", "2026-06-01")
    await post(world, "street_x", jiangbin["id"], "staff", 400_000, "J-0", "2025-06-01")  # the year before
    await post(world, "street_x", jiangbin["id"], "subsidy", 360_000, "J-00", "2025-06-01")
    await post(world, "street_y", caihong["id"], "staff", 500_000, "C-1", "2026-12-01")
    await post(world, "street_y", caihong["id"], "subsidy", 450_000, "C-2", "2026-09-01")
    await post(world, "district_b", wenxin["id"], "utilities", 200_000, "W-1", "2026-11-01")
    await post(world, "district_b", wenxin["id"], "other_income", 300_000, "W-2", "2026-11-01")
    await post(world, "district_b", wenxin["id"], "staff", 999_000, "W-0", "2024-06-01")  # before both windows

    ending = await contract(
        world,
        "street_y",
        caihong["id"],
        operators["elder"]["id"],
        categories=("elderly",),
        starts_on="2026-01-01",
        ends_on="2027-03-01",
        annual_fee=1_200_000,
    )
    await contract(world, "street_x", jiangbin["id"], operators["tot"]["id"])  # ends 2029: not due
    warned = await world.post(
        "city",
        f"/api/v1/operators/{operators['elder']['id']}/status",
        json={"status": "warned", "reason": "居民满意度连续两期低于 80%"},
    )
    assert warned.status_code == 200, warned.text

    room = await space(world, community_id=jiangbin["id"])
    await lease(
        world, room["id"], operators["tot"]["id"], starts_on="2026-09-01", ends_on="2027-09-01", monthly_rent=300_000
    )
    assert await leasing.generate_invoices() == 4  # September to December
    await leasing.mark_overdue_invoices()
    invoices = (await world.get("tot", "/api/v1/rent-invoices")).json()["items"]
    december = next(i for i in invoices if i["month"] == "2026-12-01")
    paid = await world.post(
        "tot", f"/api/v1/rent-invoices/{december['id']}/payments", json={"payment_method": "pm_card_visa"}
    )
    assert paid.status_code == 201 and paid.json()["status"] == "succeeded", paid.text

    frozen_clock.current = datetime(2027, 1, 5, 2, 0, tzinfo=UTC)
    await post(world, "street_x", jiangbin["id"], "staff", 5_000_000, "J-next", "2027-01-01")  # after the month
    return {"operators": operators, "contract": ending, "communities": [jiangbin, caihong, wenxin]}


async def test_the_december_report_agrees_with_the_api_and_puts_trouble_first(world, frozen_clock, localstripe):
    city = await december_2026(world, frozen_clock, localstripe)
    built = await report.build(date(2026, 12, 15))
    assert built.month == date(2026, 12, 1) and "2026年12月" in built.subject

    overview = (
        await world.get("city", "/api/v1/balance/overview", params={"start": "2026-01-01", "end": "2027-01-01"})
    ).json()
    income, cost = overview["total"]["income"], overview["total"]["cost"]
    assert (income, cost) == (1_150_000, 1_700_000)  # rent paid for December included, January excluded
    assert (built.totals["income"], built.totals["cost"]) == (income, cost)
    assert built.totals["counts"] == overview["counts"]

    workbook = load_workbook(io.BytesIO(built.xlsx))
    assert workbook.sheetnames == SHEETS
    (summary,) = records(workbook["全市汇总"])
    assert (fen(summary["收入（元）"]), fen(summary["成本（元）"])) == (income, cost)
    assert (summary["起始月"], summary["截止月"], summary["社区数"]) == ("2026-01", "2026-12", 4)
    assert (summary["失衡"], summary["预警"], summary["平衡"], summary["暂无收支数据"]) == (1, 1, 1, 1)
    *districts, district_total = records(workbook["分区县"])
    assert [d["区县"] for d in districts] == ["富阳区", "西湖区"]
    assert sum(fen(d["收入（元）"]) for d in districts) == fen(district_total["收入（元）"]) == income
    assert sum(fen(d["成本（元）"]) for d in districts) == fen(district_total["成本（元）"]) == cost
    *months, trend_total = records(workbook["月度趋势"])
    assert [m["月份"] for m in months][::11] == ["2026-01", "2026-12"]
    assert sum(fen(m["收入（元）"]) for m in months) == fen(trend_total["收入（元）"]) == income
    assert sum(fen(m["成本（元）"]) for m in months) == cost

    trouble = records(workbook["失衡与预警社区"])
    assert [(t["社区"], t["状态"]) for t in trouble] == [("江滨社区", "失衡"), ("彩虹社区", "预警")]
    jiangbin = trouble[0]
    assert jiangbin["收支比"] == pytest.approx(0.4) and jiangbin["上一周期收支比"] == pytest.approx(0.9)
    assert (jiangbin["最大成本项"], jiangbin["最大收入项"]) == ("人员成本", "租金收入")
    assert jiangbin["占成本"] == pytest.approx(0.7) and "下降" in jiangbin["说明"]
    everyone = records(workbook["全部社区"])
    assert [c["社区"] for c in everyone[:-1]] == ["江滨社区", "彩虹社区", "文新社区", "新建社区"]

    html = built.html
    section = html.index("失衡与预警社区")
    assert section < html.index("江滨社区", section) < html.index("彩虹社区", section)
    assert f'src="cid:{built.chart_cid}"' in html and "¥11,500.00" in html
    assert "江滨社区" in built.text and "¥17,000.00" in built.text

    assert built.chart_png.startswith(PNG_SIGNATURE) and b"Matplotlib" in built.chart_png
    assert [a.content_id for a in built.attachments()] == [built.chart_cid, None]

    (spaces,) = [r for r in records(workbook["存量空间"]) if r["区县"] == "合计"]
    assert spaces["已出租面积（㎡，当前）"] == pytest.approx(120.5)
    assert (fen(spaces["本月应收租金（元）"]), fen(spaces["本月实收租金（元）"])) == (300_000, 300_000)
    assert (fen(spaces["年初至今应收租金（元）"]), fen(spaces["逾期未缴（元）"])) == (1_200_000, 900_000)

    due = records(workbook["90天内到期"])
    assert [(d["类型"], d["社区"], d["相对方"], d["截止日（不含）"], d["距月末天数"]) for d in due] == [
        ("服务合同", "彩虹社区", "康乐养老", "2027-03-01", 59)
    ]
    assert fen(due[0]["金额（元）"]) == 1_200_000 and str(city["contract"]["id"]) in due[0]["对象"]

    changes = records(workbook["名录变动"])
    decision = next(c for c in changes if c["类型"] == "名录状态变更")
    assert (decision["日期"], decision["运营商"], decision["变动内容"]) == ("2026-12-01", "康乐养老", "在库 → 警示")
    assert decision["理由或批次"] == "居民满意度连续两期低于 80%"
    assert sorted(c["运营商"] for c in changes if c["类型"] == "列入名录") == ["小橙托育", "康乐养老"]


async def test_the_report_reads_in_the_same_number_of_statements_for_a_bigger_city(world, frozen_clock, monkeypatch):
    engine_class = type(engine_finder())  # the engine's attributes are slots: the method is counted on its class
    run = engine_class.run_querystring
    statements = []

    async def counted(self, querystring, *args, **kwargs):
        statements.append(querystring)
        return await run(self, querystring, *args, **kwargs)

    async def count() -> int:
        statements.clear()
        with monkeypatch.context() as patch:
            patch.setattr(engine_class, "run_querystring", counted)
            await report.build(date(2026, 10, 1))
        return len(statements)

    first = await community(world, "street_x", "江滨社区")
    await post(world, "street_x", first["id"], "staff", 100_000, "A-1", "2026-10-01")
    small = await count()
    for index, street in enumerate(["street_x", "street_y", "street_y"]):
        more = await community(world, street, f"新社区{index}")
        await post(world, street, more["id"], "staff", 100_000, f"B-{index}", "2026-09-01")
        await post(world, street, more["id"], "subsidy", 50_000 + 20_000 * index, f"S-{index}", "2026-09-01")
    assert await count() == small
    assert small <= 15
