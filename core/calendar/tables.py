from __future__ import annotations

from enum import Enum

from piccolo.columns import Date, Varchar
from piccolo.table import Table


class DayKind(str, Enum):
    holiday = "holiday"  # 放假: no work, whatever the weekday
    workday = "workday"  # 调休上班: a weekend day that is worked


class CalendarDay(Table, tablename="core_calendar_day"):
    """A day that differs from the plain Monday-to-Friday week. Days not listed follow the weekday."""

    day = Date(primary_key=True)
    kind = Varchar(length=10, choices=DayKind)
    name = Varchar(length=40, default="")
