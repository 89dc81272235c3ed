"""The public directory as CSV and XLSX, with Chinese column headers. Pure: rows in, bytes out."""

from __future__ import annotations

import csv
import io
from datetime import date

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from providers.labels import REGISTRY_STATUS_LABELS

HEADERS = [
    "序号",
    "运营商名称",
    "统一社会信用代码",
    "名录状态",
    "入库类别",
    "服务区县",
    "可运营社区数",
    "入库日期",
    "有效期至",
]


def directory_table(rows: list[dict], category_names: dict[str, str], district_names: dict[int, str]) -> list[list]:
    table = []
    for number, row in enumerate(rows, start=1):
        table.append(
            [
                number,
                row["name"],
                row["credit_code"],
                REGISTRY_STATUS_LABELS[row["registry_status"]],
                "、".join(category_names.get(c, c) for c in row["categories"]),
                "、".join(district_names.get(d, str(d)) for d in row["district_ids"]),
                row["capacity"],
                row["listed_since"].isoformat() if isinstance(row["listed_since"], date) else row["listed_since"],
                row["valid_until"].isoformat() if isinstance(row["valid_until"], date) else row["valid_until"],
            ]
        )
    return table


def to_csv(table: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    writer.writerows(table)
    # A byte-order mark so Excel on Windows opens the Chinese text as UTF-8.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(table: list[list], title: str = "优秀服务商名录") -> bytes:
    workbook = Workbook(write_only=False)
    sheet = workbook.active
    sheet.title = title[:31]
    sheet.append(HEADERS)
    for row in table:
        sheet.append(row)
    widths = [6, 40, 22, 10, 30, 30, 12, 12, 12]
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
