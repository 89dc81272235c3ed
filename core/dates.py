"""Dates and months the application accepts: 2000-01-01 to 2100-12-31, start before end.

Query parameters come through the `period` dependency (start and end, both optional) and path months
through `report_month`; dates in request bodies are checked by `core.schemas.Input`. All answer
422 `request.date_out_of_range` or `request.date_range_invalid`, naming the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from litestar.params import Parameter

from core.errors import DateOutOfRange, DateRangeInvalid, ValidationFailed

EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


def check_date(value: date, field: str, *, earliest: date = EARLIEST) -> date:
    if not earliest <= value <= LATEST:
        raise DateOutOfRange(
            detail={
                "field": field,
                "value": value.isoformat(),
                "earliest": earliest.isoformat(),
                "latest": LATEST.isoformat(),
            }
        )
    return value


def check_order(start: date | None, end: date | None, fields: tuple[str, str], *, may_be_equal: bool = False) -> None:
    """`start` must come before `end` (or on it, where an empty period makes sense)."""
    if start is not None and end is not None and (start > end or (start == end and not may_be_equal)):
        raise DateRangeInvalid(detail={"fields": list(fields), "start": start.isoformat(), "end": end.isoformat()})


@dataclass(frozen=True)
class Period:
    """Half-open [start, end) from the query; either may be left out for the service's default."""

    start: date | None
    end: date | None


BOUND = "月份（取该月第一天），区间为左闭右开 [start, end)，2000-01-01 至 2100-12-31"


def provide_period(
    start: Annotated[date | None, Parameter(description=BOUND)] = None,
    end: Annotated[date | None, Parameter(description=BOUND)] = None,
) -> Period:
    for name, value in (("start", start), ("end", end)):
        if value is not None:
            check_date(value, name)
    check_order(start, end, ("start", "end"))
    return Period(start, end)


def parse_month(text: str, field: str = "month") -> date:
    """ "2026-10" as its first day."""
    try:
        first = date.fromisoformat(f"{text}-01")
    except ValueError as exc:
        raise ValidationFailed("月份不正确，应为 YYYY-MM", detail={"field": field, "value": text}) from exc
    return check_date(first, field)


def provide_report_month(
    month: Annotated[str, Parameter(pattern=r"^\d{4}-\d{2}$", description="月份，如 2026-10（2000-01 至 2100-12）")],
) -> date:
    return parse_month(month)
