"""The monthly balance report (收支平衡月报) for the city construction committee (市建委).

The report for month M covers the twelve months ending with M: city and district totals, every community's
balance with the 失衡 and 预警 ones first and what drives them, the monthly income and cost trend, idle space
put to use and rent collected (in M and in the year to date), what falls due in the 90 days after M, and the
registry's changes in M.

`gather` reads all of it through the domains' repositories and services in a fixed number of statements,
however many communities there are. The renderers are pure, data in and document out: a chart (PNG), an email
body (HTML with the chart inline, and plain text) and a workbook (XLSX, one sheet per table). Money stays
integer fen until shown: `format_yuan` for people, exact two-decimal yuan values in the workbook so totals can
be added up and checked. The chart holds no Chinese, since servers often lack CJK fonts; its caption is in
the HTML beside it.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from core import clock
from core.accounts import repository as accounts_repo
from core.clock import BUSINESS_TZ, add_months, month_start
from core.money import fen_to_yuan, format_yuan
from core.outbox.service import Attachment
from leasing import repository as leasing_repo
from leasing import service as leasing
from leasing.schemas import FiguresRow, FiguresView
from market import portfolio
from market import repository as market_repo
from market import service as market
from market.balance import Thresholds, balance
from market.labels import BALANCE_STATUS_LABELS as STATUS_LABELS
from market.labels import LEDGER_KIND_LABELS
from providers import repository as providers_repo
from providers.labels import REGISTRY_STATUS_LABELS
from residents import service as residents

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WINDOW_MONTHS = 12
RENEWAL_DAYS = 90
STATUSES = ("imbalanced", "warning", "balanced", "no_data")  # the order communities are listed in
ATTENTION = ("imbalanced", "warning")
EMAIL_ROWS = 50  # longer tables are cut in the email body; the workbook always holds every row
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

RENEWAL_KIND_LABELS = {"lease": "租约", "contract": "服务合同", "listing": "名录入库"}
REGISTRY_CHANGE_LABELS = {"decision": "名录状态变更", "published": "列入名录", "expired": "名录到期未续"}
CONTRACT_STATUS_LABELS = {"active": "履约中", "expiring": "即将到期"}
LEASE_STATUS_LABELS = {"active": "履约中", "expiring": "即将到期", "ended": "已到期"}


# Gathering -------------------------------------------------------------------------------------


def report_window(month: date) -> tuple[date, date]:
    """[first month, first month after M): the twelve months ending with M."""
    end = add_months(month_start(month), 1)
    return add_months(end, -WINDOW_MONTHS), end


def _instant(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=BUSINESS_TZ)


def _ratio(income: int, cost: int) -> Decimal | None:
    return Decimal(income) / Decimal(cost) if cost > 0 else None


def _share(part: int, whole: int) -> Decimal | None:
    return Decimal(part) / Decimal(whole) if whole > 0 else None


def _figures(income: int, cost: int, thresholds: Thresholds) -> dict:
    result = balance(income, cost, thresholds)
    return {
        "income": income,
        "cost": cost,
        "net": income - cost,
        "ratio": result.ratio,
        "status": result.status.value,
        "status_label": result.label,
    }


def _sort_key(item: dict):
    ratio = item["ratio"] if item["ratio"] is not None else Decimal("Infinity")
    return STATUSES.index(item["status"]), ratio, item["id"]


def _largest(kinds: list[dict], direction: str, whole: int) -> dict | None:
    found = [k for k in kinds if k["direction"] == direction and k["amount"] > 0]
    if not found:
        return None
    top = max(found, key=lambda k: (k["amount"], k["kind"]))
    return {
        "kind": top["kind"],
        "label": LEDGER_KIND_LABELS[top["kind"]],
        "amount": top["amount"],
        "share": _share(top["amount"], whole),
    }


def _drivers(item: dict) -> str:
    """What a person reads first about a community in trouble: the gap, where the money goes and comes
    from, and how the ratio moved against the twelve months before."""
    parts = [f"缺口 {format_yuan(item['cost'] - item['income'])}"]
    if item["top_cost"]:
        parts.append(f"最大成本项为{item['top_cost']['label']}（占成本 {item['top_cost']['share']:.1%}）")
    if item["top_income"]:
        parts.append(f"最大收入项为{item['top_income']['label']}（占收入 {item['top_income']['share']:.1%}）")
    else:
        parts.append("近 12 个月无收入")
    previous = item["previous_ratio"]
    if previous is None:
        parts.append("上一周期无成本记录，无可比收支比")
    else:
        now = item["ratio"].quantize(Decimal("0.01"), ROUND_HALF_UP)
        before = previous.quantize(Decimal("0.01"), ROUND_HALF_UP)
        trend = "下降" if now < before else "上升" if now > before else "持平"
        parts.append(
            f"收支比由上一周期 {before} {trend}至 {now}" if trend != "持平" else f"收支比与上一周期持平（{now}）"
        )
    return "；".join(parts)


def _totals_by(rows: list[dict], key: str, name: str, thresholds: Thresholds) -> list[dict]:
    groups: dict[object, dict] = {}
    for row in rows:
        group = groups.setdefault(
            row[key],
            {
                "id": row[key],
                "name": row[name],
                "communities": 0,
                "income": 0,
                "cost": 0,
                "counts": dict.fromkeys(STATUSES, 0),
            },
        )
        group["communities"] += 1
        group["income"] += row["income"]
        group["cost"] += row["cost"]
        group["counts"][row["status"]] += 1
    return [{**g, **_figures(g["income"], g["cost"], thresholds)} for _, g in sorted(groups.items())]


def _leasing(month_figures: FiguresView, year_figures: FiguresView) -> dict:
    """Area (as it stands now) with rent for M and for the year to date, per district and for the city."""
    in_month = {item.id: item for item in month_figures.items}

    def row(name: str, year: FiguresRow, month: FiguresRow | None) -> dict:
        return {
            "name": name,
            "spaces": year.spaces,
            "idle_area": year.idle_area,
            "listed_area": year.listed_area,
            "leased_area": year.leased_area,
            "month_invoiced": month.invoiced if month else 0,
            "month_collected": month.collected if month else 0,
            "year_invoiced": year.invoiced,
            "year_collected": year.collected,
            "arrears": year.arrears,
        }

    return {
        "districts": [row(item.name, item, in_month.get(item.id)) for item in year_figures.items],
        "total": row("合计", year_figures.total, month_figures.total),
        "year_start": year_figures.start,
    }


def _renewals(after: date, until: date, leases: list[dict], contracts: list[dict], listings: list[dict]) -> dict:
    items = (
        [
            {
                "kind": "lease",
                "ends_on": r["ends_on"],
                "district_name": r["district_name"],
                "street_name": r["street_name"],
                "community_name": r["community_name"],
                "subject": f"{r['address']}（{r['area_m2']} ㎡）",
                "party": r["lessee_name"],
                "amount": r["monthly_rent"],
                "amount_label": "月租金",
                "status_label": LEASE_STATUS_LABELS.get(r["status"], r["status"]),
                "id": r["id"],
            }
            for r in leases
        ]
        + [
            {
                "kind": "contract",
                "ends_on": r["ends_on"],
                "district_name": r["district_name"],
                "street_name": r["street_name"],
                "community_name": r["community_name"],
                "subject": f"服务合同 {r['id']} 号（{r['category_names'] or '、'.join(r['categories'])}）",
                "party": r["operator_name"],
                "amount": r["annual_fee"],
                "amount_label": "年服务费",
                "status_label": CONTRACT_STATUS_LABELS.get(r["status"], r["status"]),
                "id": r["id"],
            }
            for r in contracts
        ]
        + [
            {
                "kind": "listing",
                "ends_on": r["valid_until"],
                "district_name": "",
                "street_name": "",
                "community_name": "",
                "subject": f"{r['category_name']}（{r['batch_title']}）",
                "party": r["operator_name"],
                "amount": None,
                "amount_label": "",
                "status_label": REGISTRY_STATUS_LABELS[r["registry_status"]],
                "id": r["id"],
            }
            for r in listings
        ]
    )
    for item in items:
        item["kind_label"] = RENEWAL_KIND_LABELS[item["kind"]]
        item["days"] = (item["ends_on"] - after).days
    items.sort(key=lambda i: (i["ends_on"], list(RENEWAL_KIND_LABELS).index(i["kind"]), i["id"]))
    counts = {kind: sum(1 for i in items if i["kind"] == kind) for kind in RENEWAL_KIND_LABELS}
    return {"after": after, "until": until, "counts": counts, "items": items}


def _registry(decisions: list[dict], listing_changes: list[dict]) -> dict:
    changes = [
        {
            "kind": "decision",
            "on": clock.business_date(d["at"]),
            "at": d["at"],
            "operator_name": d["operator_name"],
            "detail": f"{REGISTRY_STATUS_LABELS[d['from_status']]} → {REGISTRY_STATUS_LABELS[d['to_status']]}",
            "from_status": d["from_status"],
            "to_status": d["to_status"],
            "note": d["reason"],
        }
        for d in decisions
    ] + [
        {
            "kind": r["change"],
            "on": r["on_date"],
            "at": None,
            "operator_name": r["operator_name"],
            "detail": r["category_name"],
            "category": r["category"],
            "note": r["batch_title"],
        }
        for r in listing_changes
    ]
    for change in changes:
        change["kind_label"] = REGISTRY_CHANGE_LABELS[change["kind"]]
    changes.sort(key=lambda c: (c["on"], list(REGISTRY_CHANGE_LABELS).index(c["kind"]), c["operator_name"]))
    counts = {kind: sum(1 for c in changes if c["kind"] == kind) for kind in REGISTRY_CHANGE_LABELS}
    return {"counts": counts, "changes": changes}


async def gather(month: date) -> dict:
    """Everything the report for `month` shows, as plain data. Thirteen statements, whatever the size of the
    city: the city's name, two balance windows, the trend, the cost and income mix of the communities in
    trouble, two leasing windows, three kinds of renewal, two kinds of registry change and the communities
    state-owned platforms run."""
    month = month_start(month)
    start, next_month = report_window(month)
    previous_start = add_months(start, -WINDOW_MONTHS)
    renewals_until = next_month + timedelta(days=RENEWAL_DAYS)
    thresholds = market.thresholds()

    city = await accounts_repo.first_city()
    current = await market.balances(start, next_month)
    previous = {r["id"]: r["balance"] for r in await market.balances(previous_start, start)}
    monthly = {r["month"]: r for r in await market_repo.city_monthly_totals(start, next_month)}

    communities = []
    for row in current:
        result = row["balance"]
        before = previous.get(row["id"])
        communities.append(
            {
                "id": row["id"],
                "name": row["name"],
                "district_id": row["district_id"],
                "district_name": row["district_name"],
                "street_id": row["street_id"],
                "street_name": row["street_name"],
                **_figures(result.income, result.cost, thresholds),
                "previous_income": before.income if before else 0,
                "previous_cost": before.cost if before else 0,
                "previous_ratio": before.ratio if before else None,
                "top_cost": None,
                "top_income": None,
                "drivers": "",
            }
        )
    communities.sort(key=_sort_key)
    attention = [c for c in communities if c["status"] in ATTENTION]
    kinds: dict[int, list[dict]] = {}
    for row in await market_repo.kind_totals_by_community([c["id"] for c in attention], start, next_month):
        kinds.setdefault(row["community_id"], []).append(row)
    for item in attention:
        item["top_cost"] = _largest(kinds.get(item["id"], []), "cost", item["cost"])
        item["top_income"] = _largest(kinds.get(item["id"], []), "income", item["income"])
        item["drivers"] = _drivers(item)

    income, cost = sum(c["income"] for c in communities), sum(c["cost"] for c in communities)
    previous_income = sum(b.income for b in previous.values())
    previous_cost = sum(b.cost for b in previous.values())
    city_totals = {
        "id": 0,
        "name": city.name if city else "全市",
        "communities": len(communities),
        "counts": {s: sum(1 for c in communities if c["status"] == s) for s in STATUSES},
        **_figures(income, cost, thresholds),
        "previous_income": previous_income,
        "previous_cost": previous_cost,
        "previous_ratio": _ratio(previous_income, previous_cost),
    }
    trend = []
    for offset in range(WINDOW_MONTHS):
        m = add_months(start, offset)
        m_income, m_cost = (monthly[m]["income"], monthly[m]["cost"]) if m in monthly else (0, 0)
        trend.append(
            {
                "month": m,
                "income": m_income,
                "cost": m_cost,
                "net": m_income - m_cost,
                "ratio": _ratio(m_income, m_cost),
            }
        )

    month_figures = await leasing.city_figures(month, next_month)
    year_figures = await leasing.city_figures(date(month.year, 1, 1), next_month)
    renewals = _renewals(
        next_month,
        renewals_until,
        await leasing_repo.leases_ending(next_month, renewals_until),
        await market_repo.contracts_ending(next_month, renewals_until),
        await providers_repo.listings_ending(next_month, renewals_until),
    )
    registry = _registry(
        await providers_repo.status_decisions_between(_instant(month), _instant(next_month)),
        await providers_repo.listings_changed_between(month, next_month),
    )
    # Old-renovation communities run by a state-owned platform on the month's last day, and by the market.
    platform_run = await market_repo.platform_run_communities(next_month - timedelta(days=1))
    renovation = [(r["id"], r["income"], r["cost"]) for r in current if r["community_type"] == "renovation"]
    run_by = portfolio.comparison(renovation, platform_run)
    rated = await residents.latest_satisfaction(
        {
            "platform": [i for i, _, _ in renovation if i in platform_run],
            "market": [i for i, _, _ in renovation if i not in platform_run],
        }
    )
    platforms = {
        key: {
            "label": label,
            "communities": run_by[key].count,
            **_figures(run_by[key].income, run_by[key].cost, thresholds),
            "satisfaction": _satisfaction_text(*rated[key]),
        }
        for key, label in (("platform", "国企平台统一运营"), ("market", "市场化运营"))
    }
    return {
        "month": month,
        "start": start,
        "end": next_month,
        "previous_start": previous_start,
        "generated_at": clock.now(),
        "thresholds": thresholds,
        "city": city_totals,
        "districts": _totals_by(communities, "district_id", "district_name", thresholds),
        "communities": communities,
        "attention": attention,
        "trend": trend,
        "leasing": _leasing(month_figures, year_figures),
        "renewals": renewals,
        "registry": registry,
        "platforms": platforms,
    }


# Tables shared by every rendering --------------------------------------------------------------


@dataclass(frozen=True)
class Fen:
    amount: int


@dataclass(frozen=True)
class Ratio:
    value: Decimal | None
    income: int = 0  # with no cost: "无成本" when there is income, a dash when there is nothing


@dataclass(frozen=True)
class Share:
    value: Decimal | None


@dataclass(frozen=True)
class Area:
    value: Decimal


@dataclass(frozen=True)
class Table:
    sheet: str
    title: str
    headers: list[str]
    rows: list[list] = field(default_factory=list)
    total: list | None = None
    empty: str = "无"
    email_rows: int | None = EMAIL_ROWS


def _month_label(month: date) -> str:
    return f"{month:%Y-%m}"


def _window_label(data: dict) -> str:
    return f"{_month_label(data['start'])} 至 {_month_label(data['month'])}"


def _counts(item: dict) -> list:
    return [item["counts"][s] for s in STATUSES]


def _balance_cells(item: dict) -> list:
    return [
        Fen(item["income"]),
        Fen(item["cost"]),
        Fen(item["net"]),
        Ratio(item["ratio"], item["income"]),
        item["status_label"],
    ]


def tables(data: dict) -> list[Table]:
    city = data["city"]
    status_headers = [STATUS_LABELS[s] for s in STATUSES]
    money_headers = ["收入（元）", "成本（元）", "结余（元）", "收支比", "状态"]
    district_total = ["合计", city["communities"], *_balance_cells(city), *_counts(city)]
    leasing = data["leasing"]
    renewals = data["renewals"]
    return [
        Table(
            "全市汇总",
            "全市汇总",
            [
                "范围",
                "起始月",
                "截止月",
                "社区数",
                *money_headers,
                *status_headers,
                "上一周期收入（元）",
                "上一周期成本（元）",
                "上一周期收支比",
            ],
            [
                [
                    city["name"],
                    _month_label(data["start"]),
                    _month_label(data["month"]),
                    city["communities"],
                    *_balance_cells(city),
                    *_counts(city),
                    Fen(city["previous_income"]),
                    Fen(city["previous_cost"]),
                    Ratio(city["previous_ratio"], city["previous_income"]),
                ]
            ],
        ),
        Table(
            "分区县",
            "分区县汇总",
            ["区县", "社区数", *money_headers, *status_headers],
            [[d["name"], d["communities"], *_balance_cells(d), *_counts(d)] for d in data["districts"]],
            district_total,
        ),
        Table(
            "失衡与预警社区",
            "失衡与预警社区（失衡在前，按收支比由低到高）",
            [
                "序号",
                "区县",
                "街道",
                "社区",
                "状态",
                "收入（元）",
                "成本（元）",
                "缺口（元）",
                "收支比",
                "上一周期收支比",
                "最大成本项",
                "占成本",
                "最大收入项",
                "占收入",
                "说明",
            ],
            [
                [
                    i,
                    c["district_name"],
                    c["street_name"],
                    c["name"],
                    c["status_label"],
                    Fen(c["income"]),
                    Fen(c["cost"]),
                    Fen(c["cost"] - c["income"]),
                    Ratio(c["ratio"], c["income"]),
                    Ratio(c["previous_ratio"], c["previous_income"]),
                    c["top_cost"]["label"] if c["top_cost"] else "",
                    Share(c["top_cost"]["share"] if c["top_cost"] else None),
                    c["top_income"]["label"] if c["top_income"] else "",
                    Share(c["top_income"]["share"] if c["top_income"] else None),
                    c["drivers"],
                ]
                for i, c in enumerate(data["attention"], start=1)
            ],
            empty="本期没有失衡或预警的社区",
        ),
        Table(
            "全部社区",
            "全部社区（按状态与收支比排序）",
            ["序号", "区县", "街道", "社区", *money_headers, "上一周期收支比"],
            [
                [
                    i,
                    c["district_name"],
                    c["street_name"],
                    c["name"],
                    *_balance_cells(c),
                    Ratio(c["previous_ratio"], c["previous_income"]),
                ]
                for i, c in enumerate(data["communities"], start=1)
            ],
            ["合计", "", "", f"{city['communities']} 个社区", *_balance_cells(city), ""],
        ),
        Table(
            "月度趋势",
            "近 12 个月全市收支",
            ["月份", "收入（元）", "成本（元）", "结余（元）", "收支比"],
            [
                [
                    _month_label(m["month"]),
                    Fen(m["income"]),
                    Fen(m["cost"]),
                    Fen(m["net"]),
                    Ratio(m["ratio"], m["income"]),
                ]
                for m in data["trend"]
            ],
            ["合计", Fen(city["income"]), Fen(city["cost"]), Fen(city["net"]), Ratio(city["ratio"], city["income"])],
        ),
        Table(
            "存量空间",
            f"存量空间盘活与租金（{_month_label(data['month'])} 及 {leasing['year_start'].year} 年初至今）",
            [
                "区县",
                "空间数",
                "闲置面积（㎡，当前）",
                "招租中面积（㎡，当前）",
                "已出租面积（㎡，当前）",
                "本月应收租金（元）",
                "本月实收租金（元）",
                "年初至今应收租金（元）",
                "年初至今实收租金（元）",
                "逾期未缴（元）",
            ],
            [_leasing_row(d) for d in leasing["districts"]],
            _leasing_row(leasing["total"]),
            empty="尚无登记的存量空间",
        ),
        Table(
            "90天内到期",
            f"{RENEWAL_DAYS} 天内到期（最后有效日在 {renewals['after']} 至 {renewals['until'] - timedelta(days=1)} 之间）",
            [
                "类型",
                "截止日（不含）",
                "距月末天数",
                "区县",
                "街道",
                "社区",
                "对象",
                "相对方",
                "金额（元）",
                "金额说明",
                "状态",
            ],
            [
                [
                    i["kind_label"],
                    i["ends_on"],
                    i["days"],
                    i["district_name"],
                    i["street_name"],
                    i["community_name"],
                    i["subject"],
                    i["party"],
                    Fen(i["amount"]) if i["amount"] is not None else None,
                    i["amount_label"],
                    i["status_label"],
                ]
                for i in renewals["items"]
            ],
            empty=f"{RENEWAL_DAYS} 天内没有到期的租约、服务合同或名录入库",
        ),
        Table(
            "名录变动",
            f"{data['month'].year} 年 {data['month'].month} 月名录变动",
            ["日期", "类型", "运营商", "变动内容", "理由或批次"],
            [
                [c["on"], c["kind_label"], c["operator_name"], c["detail"], c["note"]]
                for c in data["registry"]["changes"]
            ],
            empty="本月名录无变动",
        ),
        Table(
            "国企平台",
            "旧改类社区：国企平台统一运营与市场化运营对比（居民满意度：各社区最近一个有答卷季度的测评合计）",
            ["运营方式", "社区数", *money_headers, "居民满意度"],
            [[p["label"], p["communities"], *_balance_cells(p), p["satisfaction"]] for p in data["platforms"].values()],
        ),
    ]


def _leasing_row(row: dict) -> list:
    return [
        row["name"],
        row["spaces"],
        Area(row["idle_area"]),
        Area(row["listed_area"]),
        Area(row["leased_area"]),
        Fen(row["month_invoiced"]),
        Fen(row["month_collected"]),
        Fen(row["year_invoiced"]),
        Fen(row["year_collected"]),
        Fen(row["arrears"]),
    ]


def highlights(data: dict) -> list[str]:
    city, leasing, renewals, registry = data["city"], data["leasing"]["total"], data["renewals"], data["registry"]
    ratio = "无成本记录" if city["ratio"] is None else f"{city['ratio']:.2f}"
    counts = "、".join(f"{STATUS_LABELS[s]} {city['counts'][s]} 个" for s in STATUSES)
    found = [
        f"全市 {city['communities']} 个社区近 12 个月收入 {format_yuan(city['income'])}，成本 {format_yuan(city['cost'])}，"
        f"收支比 {ratio}（{city['status_label']}）。",
        f"按社区：{counts}。",
    ]
    if data["attention"]:
        worst = data["attention"][0]
        found.append(
            f"最需关注：{worst['district_name']}{worst['street_name']}{worst['name']}"
            f"（{worst['status_label']}，{worst['drivers']}）。"
        )
    found.append(
        f"存量空间：已出租 {leasing['leased_area']:,.2f} ㎡（当前），本月实收租金 "
        f"{format_yuan(leasing['month_collected'])}，年初至今实收 {format_yuan(leasing['year_collected'])}，"
        f"逾期未缴 {format_yuan(leasing['arrears'])}。"
    )
    found.append(
        f"{RENEWAL_DAYS} 天内到期："
        + "、".join(f"{RENEWAL_KIND_LABELS[k]} {n} 项" for k, n in renewals["counts"].items())
        + "。"
    )
    found.append(
        "本月名录变动："
        + "、".join(f"{REGISTRY_CHANGE_LABELS[k]} {n} 项" for k, n in registry["counts"].items())
        + "。"
    )
    return found


def subject(data: dict) -> str:
    month = data["month"]
    return f"【收支平衡月报】{data['city']['name']}未来社区运营收支平衡报告（{month.year}年{month.month}月）"


def _satisfaction_text(rate: Decimal | None, count: int) -> str:
    return "暂无测评" if rate is None else f"{rate}%（{count} 份答卷）"


def report_totals(data: dict) -> dict:
    """The city's figures over the window, in fen: what the balance overview API gives for the same window."""
    city = data["city"]
    return {
        "start": data["start"],
        "end": data["end"],
        "communities": city["communities"],
        "income": city["income"],
        "cost": city["cost"],
        "counts": dict(city["counts"]),
    }


# Chart -----------------------------------------------------------------------------------------


def chart_figure(data: dict) -> Figure:
    """Income and cost per month over the window, in 10,000 yuan (万元), every text in the shipped font."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    from scheduler.chart_font import COST, INCOME, UNIT, chart_font

    font = chart_font()
    labels = [_month_label(m["month"]) for m in data["trend"]]
    positions = list(range(len(labels)))
    # Pixel positions only: the figures themselves stay in fen everywhere else.
    income = [m["income"] / 1_000_000 for m in data["trend"]]
    cost = [m["cost"] / 1_000_000 for m in data["trend"]]
    decimals = 0 if max(income + cost, default=0) >= 10 else 1
    figure = Figure(figsize=(8, 3.6), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    axes.plot(positions, income, marker="o", linewidth=2, color="#1f77b4", label=INCOME)
    axes.plot(positions, cost, marker="s", linewidth=2, color="#ff7f0e", label=COST)
    axes.fill_between(
        positions,
        income,
        cost,
        where=[i < c for i, c in zip(income, cost, strict=True)],
        color="#d62728",
        alpha=0.12,
        interpolate=True,
    )
    axes.set_xticks(positions, labels, rotation=45, fontsize=8, fontproperties=font)
    axes.set_ylabel(UNIT, fontproperties=font)
    axes.set_ylim(bottom=0)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.{decimals}f}"))
    for tick in axes.get_yticklabels():
        tick.set_fontproperties(font)
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False, prop=font)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.tight_layout()
    return figure


def render_chart_png(data: dict) -> bytes:
    buffer = io.BytesIO()
    chart_figure(data).savefig(buffer, format="png")
    return buffer.getvalue()


# HTML and text ---------------------------------------------------------------------------------

STYLE = (
    "body{font-family:'PingFang SC','Microsoft YaHei',sans-serif;color:#222;margin:16px}h1{font-size:21px}"
    "h2{font-size:17px;margin:24px 0 8px}table{border-collapse:collapse;font-size:13px}"
    "td,th{border:1px solid #bbb;padding:4px 8px}th{background:#eef2f8;text-align:left;white-space:nowrap}"
    "td.n{text-align:right;white-space:nowrap}tr.imbalanced{background:#fde8e8}tr.warning{background:#fff6dc}"
    "tr.total td{font-weight:bold}p.note{color:#555}"
)
ROW_CLASSES = {STATUS_LABELS["imbalanced"]: "imbalanced", STATUS_LABELS["warning"]: "warning"}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Fen):
        return format_yuan(value.amount)
    if isinstance(value, Ratio):
        if value.value is None:
            return "无成本" if value.income > 0 else "—"
        return f"{value.value:.2f}"
    if isinstance(value, Share):
        return "" if value.value is None else f"{value.value:.1%}"
    if isinstance(value, Area):
        return f"{value.value:,.2f}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _numeric(value) -> bool:
    return isinstance(value, Fen | Ratio | Share | Area | int) and not isinstance(value, bool)


def _shown(table: Table) -> tuple[list[list], str]:
    """The rows the email shows, and a note when some are left to the workbook."""
    if table.email_rows is None or len(table.rows) <= table.email_rows:
        return table.rows, ""
    if table.email_rows == 0:
        return [], f"共 {len(table.rows)} 行，明细见附件工作表“{table.sheet}”。"
    return (
        table.rows[: table.email_rows],
        f"仅列出前 {table.email_rows} 行（共 {len(table.rows)} 行），完整清单见附件工作表“{table.sheet}”。",
    )


def _html_row(cells: list, *, total: bool = False) -> str:
    status = next((ROW_CLASSES[c] for c in cells if isinstance(c, str) and c in ROW_CLASSES), None)
    css = "total" if total else status
    return (
        (f'<tr class="{css}">' if css else "<tr>")
        + "".join(
            f'<td class="n">{html.escape(_text(c))}</td>' if _numeric(c) else f"<td>{html.escape(_text(c))}</td>"
            for c in cells
        )
        + "</tr>"
    )


def _html_table(table: Table) -> str:
    parts = [f"<h2>{html.escape(table.title)}</h2>"]
    if not table.rows:
        return "".join(parts) + f"<p>{html.escape(table.empty)}</p>"
    rows, note = _shown(table)
    parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in table.headers) + "</tr>")
    parts += [_html_row(r) for r in rows]
    if table.total:
        parts.append(_html_row(table.total, total=True))
    parts.append("</table>")
    if note:
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    return "".join(parts)


def render_html(data: dict, chart_cid: str) -> str:
    """The email body: highlights, the tables, and the trend chart inline (cid:`chart_cid`)."""
    found = {t.sheet: t for t in tables(data)}
    thresholds = data["thresholds"]
    generated = data["generated_at"].astimezone(BUSINESS_TZ)
    title = subject(data).removeprefix("【收支平衡月报】")
    parts = [
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>统计区间：{_window_label(data)}（近 12 个月，按入账月份）；生成时间：{generated:%Y-%m-%d %H:%M}。<br>"
        f"收支比 = 收入 ÷ 成本；不低于 {thresholds.balanced_at} 为平衡，{thresholds.warning_at} 至 "
        f"{thresholds.balanced_at} 为预警，低于 {thresholds.warning_at} 为失衡。</p>",
        "<h2>要点</h2><ul>",
        *(f"<li>{html.escape(line)}</li>" for line in highlights(data)),
        "</ul>",
        _html_table(found["全市汇总"]),
        _html_table(found["分区县"]),
        _html_table(found["失衡与预警社区"]),
        "<h2>收支趋势</h2>",
        f'<p><img src="cid:{html.escape(chart_cid)}" width="880" alt="近 12 个月全市收入与成本走势图" '
        'style="max-width:100%;height:auto"></p>',
        f'<p class="note">图：{_window_label(data)} 全市每月收入（蓝线，图例 Income）与成本（橙线，图例 Cost），'
        "单位：万元（纵轴 CNY 10k）；红色阴影为成本高于收入的月份。</p>",
        _html_table(found["月度趋势"]),
        _html_table(found["存量空间"]),
        '<p class="note">面积为报告生成时的状态；租金按账单所属月份统计，实收为已缴账单，逾期未缴为年初至今账单中当前逾期的部分。</p>',
        _html_table(found["90天内到期"]),
        _html_table(found["名录变动"]),
        _html_table(found["国企平台"]),
        _html_table(found["全部社区"]),
        "<p>完整数据见附件 XLSX（每张表一个工作表，金额单位为元，保留两位小数）。</p>",
        "</body></html>",
    ]
    return "".join(parts)


def _text_table(table: Table) -> list[str]:
    lines = ["", f"【{table.title}】"]
    if not table.rows:
        return lines + [table.empty]
    rows, note = _shown(table)
    for row in rows + ([table.total] if table.total else []):
        lines.append("；".join(f"{h}：{_text(v)}" for h, v in zip(table.headers, row, strict=True) if _text(v) != ""))
    if note:
        lines.append(note)
    return lines


def render_text(data: dict) -> str:
    """The plain-text alternative of the email body."""
    found = tables(data)
    lines = [
        subject(data).removeprefix("【收支平衡月报】"),
        f"统计区间：{_window_label(data)}（近 12 个月）",
        "",
        "【要点】",
        *(f"- {line}" for line in highlights(data)),
    ]
    for table in found:
        lines += _text_table(table)
    lines += ["", "收支趋势图见 HTML 版本；完整数据见附件 XLSX（金额单位为元，保留两位小数）。"]
    return "\n".join(lines) + "\n"


# Workbook --------------------------------------------------------------------------------------

NUMBER_FORMATS = {Fen: "#,##0.00", Ratio: "0.0000", Share: "0.0%", Area: "#,##0.00"}


def _xlsx_value(value):
    if isinstance(value, Fen):
        return fen_to_yuan(value.amount)
    if isinstance(value, Ratio | Share):
        return None if value.value is None else value.value.quantize(Decimal("0.0001"), ROUND_HALF_UP)
    if isinstance(value, Area):
        return Decimal(value.value).quantize(Decimal("0.01"))
    if isinstance(value, date):
        return value.isoformat()
    return value


def render_xlsx(data: dict) -> bytes:
    """One sheet per table, headers in the first row. Money is yuan as exact two-decimal numbers (the headers
    say 元), ratios and shares are numbers, so every total can be added up again."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for table in tables(data):
        sheet = workbook.create_sheet(table.sheet)
        sheet.append(table.headers)
        # Rows counted here: openpyxl's max_row scans the sheet, which made writing quadratic.
        for line, row in enumerate(table.rows + ([table.total] if table.total else []), start=2):
            for column, value in enumerate(row, start=1):
                cell = sheet.cell(row=line, column=column, value=_xlsx_value(value))
                if type(value) in NUMBER_FORMATS:
                    cell.number_format = NUMBER_FORMATS[type(value)]
        for index, header in enumerate(table.headers, start=1):
            width = 48 if header == "说明" else max(12, len(header) * 2 + 2)
            sheet.column_dimensions[get_column_letter(index)].width = width
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# The report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthlyReport:
    month: date
    subject: str
    html: str
    text: str
    chart_png: bytes
    xlsx: bytes
    totals: dict
    chart_cid: str

    def attachments(self) -> list[Attachment]:
        """The chart, shown inline in the HTML, and the workbook, for the email outbox."""
        label = _month_label(self.month)
        return [
            Attachment(f"balance-{label}.png", "image/png", self.chart_png, content_id=self.chart_cid),
            Attachment(f"未来社区收支平衡月报-{label}.xlsx", XLSX_MIME, self.xlsx),
        ]


def chart_cid(month: date) -> str:
    return f"balance-trend-{month:%Y%m}@future-community.local"


async def build(month: date) -> MonthlyReport:
    """Gather and render the report for `month` (any day of it); the HTML shows the chart as cid:`chart_cid`."""
    data = await gather(month)
    cid = chart_cid(data["month"])
    return MonthlyReport(
        month=data["month"],
        subject=subject(data),
        html=render_html(data, cid),
        text=render_text(data),
        chart_png=render_chart_png(data),
        xlsx=render_xlsx(data),
        totals=report_totals(data),
        chart_cid=cid,
    )
