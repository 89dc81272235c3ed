"""The one-click community report as HTML and XLSX. Pure: the gathered data in, a document out.

Each part of the report is a `Section` (a title, headers and rows); other domains contribute sections of
the same shape through `COMMUNITY_REPORT_SECTIONS` in their service module (leasing adds spaces and leases).
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from core.clock import BUSINESS_TZ
from core.money import format_yuan
from market.labels import (
    COMMUNITY_POOL_LABELS,
    COMMUNITY_STATUS_LABELS,
    COMMUNITY_TIER_LABELS,
    COMMUNITY_TYPE_LABELS,
    CONTRACT_STATUS_LABELS,
    CREATION_LEVEL_LABELS,
    NEED_STATUS_LABELS,
    PRIORITY_LABELS,
)
from market.schemas import CommunityReport, CommunityRow


@dataclass(frozen=True)
class Section:
    title: str
    headers: list[str]
    rows: list[list] = field(default_factory=list)
    note: str = ""


def _yuan(fen: int | None) -> str:
    return "" if fen is None else format_yuan(fen)


def _percent(share) -> str:
    return f"{share * 100:.1f}%"


def file_section(c: CommunityRow) -> Section:
    rows: list[list[Any]] = [
        ["社区名称", c.name],
        ["所属区县", c.district_name],
        ["所属街道", c.street_name],
        ["社区类型", COMMUNITY_TYPE_LABELS[c.community_type]],
        ["建设类型", COMMUNITY_TIER_LABELS[c.tier]],
        ["项目库", COMMUNITY_POOL_LABELS[c.pool]],
        ["创建级别", CREATION_LEVEL_LABELS[c.creation_level]],
        ["计划开工", c.planned_start or ""],
        ["计划完工", c.planned_finish or ""],
        ["面积（公顷）", str(c.area_hectares)],
        ["户数", c.households],
        ["老年人口占比", _percent(c.elderly_share)],
        ["儿童占比", _percent(c.children_share)],
        ["状态", COMMUNITY_STATUS_LABELS[c.status]],
    ]
    return Section("社区档案", ["项目", "内容"], rows)


def sections(data: CommunityReport) -> list[Section]:
    balance_view = data.balance
    result = balance_view.balance
    found = [
        file_section(data.community),
        Section(
            "社区需求",
            ["编号", "服务类别", "优先级", "说明", "状态"],
            [
                [
                    n.id,
                    n.category_name,
                    PRIORITY_LABELS[n.priority],
                    n.text,
                    NEED_STATUS_LABELS[n.status],
                ]
                for n in data.needs
            ],
            note="" if data.needs else "暂无需求",
        ),
        Section(
            "运营商与服务合同",
            ["合同编号", "运营商", "服务类别", "起始日", "截止日（不含）", "年服务费", "状态"],
            [
                [
                    k.id,
                    k.operator_name,
                    "、".join(data.category_names.get(c, c) for c in k.categories),
                    k.starts_on,
                    k.ends_on,
                    _yuan(k.annual_fee),
                    CONTRACT_STATUS_LABELS[k.status],
                ]
                for k in data.contracts
            ],
            note="" if data.contracts else "暂无服务合同",
        ),
        Section(
            "收支平衡",
            ["项目", "内容"],
            [
                ["统计区间", f"{balance_view.start} 至 {balance_view.end}（不含）"],
                ["收入", _yuan(result.income)],
                ["成本", _yuan(result.cost)],
                ["收支比", "无成本" if result.ratio is None else f"{result.ratio:.4f}"],
                ["状态", result.label],
            ],
        ),
        Section(
            "月度收支",
            ["月份", "收入", "成本", "结余"],
            [
                [f"{m.month:%Y-%m}", _yuan(m.income), _yuan(m.cost), _yuan(m.income - m.cost)]
                for m in balance_view.monthly
            ],
        ),
        Section(
            "收支构成",
            ["方向", "类别", "金额"],
            [["收入" if k.direction == "income" else "成本", k.label, _yuan(k.amount)] for k in balance_view.by_kind],
        ),
        Section(
            "未来 12 个月已承诺收支预测",
            ["月份", "收入", "成本"],
            [[f"{m.month:%Y-%m}", _yuan(m.income), _yuan(m.cost)] for m in balance_view.forecast],
        ),
    ]
    found += [Section(**s) if isinstance(s, dict) else s for s in data.sections]
    return found


def _cell(value) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def render_html(data: CommunityReport) -> str:
    community = data.community
    generated = data.generated_at.astimezone(BUSINESS_TZ)
    parts = [
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{html.escape(community.name)} 社区运营报告</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #999;padding:4px 8px}th{background:#eef}</style></head><body>",
        f"<h1>{html.escape(community.district_name)}{html.escape(community.street_name)}"
        f"{html.escape(community.name)} 社区运营报告</h1>",
        f"<p>生成时间：{generated:%Y-%m-%d %H:%M}</p>",
    ]
    for section in sections(data):
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.note and not section.rows:
            parts.append(f"<p>{html.escape(section.note)}</p>")
            continue
        parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in section.headers) + "</tr>")
        for row in section.rows:
            parts.append("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


def render_xlsx(data: CommunityReport) -> bytes:
    """One sheet per section; amounts are the formatted yuan people read, as in the HTML."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for section in sections(data):
        sheet = workbook.create_sheet(section.title[:31])
        sheet.append(section.headers)
        for row in section.rows:
            sheet.append([v.isoformat() if isinstance(v, date) else v for v in row])
        if section.note and not section.rows:
            sheet.append([section.note])
        for index in range(1, len(section.headers) + 1):
            sheet.column_dimensions[get_column_letter(index)].width = 18
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
