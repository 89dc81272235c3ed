from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec

from core.calendar.tables import DayKind
from core.labels import DAY_KIND_LABELS
from core.schemas import Input

DayName = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class CalendarDayView(msgspec.Struct, kw_only=True):
    day: date
    kind: DayKind
    kind_label: str = ""
    name: str

    def __post_init__(self) -> None:
        self.kind_label = DAY_KIND_LABELS[DayKind(self.kind).value]


class CalendarDayCreate(Input):
    day: date
    kind: DayKind
    name: DayName


class CalendarDayUpdate(Input):
    kind: DayKind | None = None
    name: DayName | None = None
