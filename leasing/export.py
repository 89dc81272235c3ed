"""Officials' leasing figures as XLSX with Chinese headers. Pure: figures in, bytes out."""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from core.money import fen_to_yuan
from leasing.labels import LEVEL_LABELS
from leasing.schemas import FiguresRow, FiguresView

HEADERS = [
    "空间数",
    "闲置面积（㎡）",
    "招租中面积（㎡）",
    "已出租面积（㎡）",
    "应收租金（元）",
    "实收租金（元）",
    "逾期欠缴（元）",
]


def _row(name: str, figures: FiguresRow) -> list[object]:
    return [
        name,
        figures.spaces,
        float(figures.idle_area),
        float(figures.listed_area),
        float(figures.leased_area),
        float(fen_to_yuan(figures.invoiced)),
        float(fen_to_yuan(figures.collected)),
        float(fen_to_yuan(figures.arrears)),
    ]


def figures_xlsx(result: FiguresView) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = f"按{LEVEL_LABELS[result.level]}统计"
    sheet.append([f"统计区间：{result.start} 至 {result.end}（不含）；面积为当前状态"])
    sheet.append([LEVEL_LABELS[result.level], *HEADERS])
    for item in result.items:
        sheet.append(_row(item.name, item))
    sheet.append(_row("合计", result.total))
    for index, width in enumerate([36, 10, 16, 16, 16, 16, 16, 16], start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A3"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
