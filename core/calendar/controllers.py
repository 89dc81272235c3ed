from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import Parameter

from core.accounts.principal import Principal
from core.accounts.tables import Role
from core.auth import requires
from core.calendar import service
from core.calendar.schemas import CalendarDayCreate, CalendarDayUpdate, CalendarDayView
from core.dates import check_date
from core.errors import ValidationFailed
from core.http.openapi import errors
from core.pagination import PageParams
from core.schemas import Page, as_fields

DayParam = Annotated[str, Parameter(description="日期，如 2026-10-01", max_length=10, schema_extra={"format": "date"})]


def _day(value: str) -> date:
    try:
        return check_date(date.fromisoformat(value), "day")
    except ValueError as exc:
        raise ValidationFailed("日期格式应为 YYYY-MM-DD", detail={"field": "day"}) from exc


class CalendarController(Controller):
    """Holidays and 调休 working days: working-day deadlines (such as the registry's objection period) count them."""

    path = "/api/v1/calendar/days"
    tags = ["工作日历"]
    guards = [requires(Role.city)]

    @get("/", operation_id="listCalendarDays", responses=errors(403), summary="节假日与调休上班日（市建委）")
    async def list_days(
        self,
        page: PageParams,
        year: Annotated[int | None, Parameter(ge=2000, le=2100, description="年份")] = None,
    ) -> Page[CalendarDayView]:
        rows, total = await service.list_days(year, page.limit, page.offset)
        return Page.of(rows, total, page)

    @post("/", operation_id="addCalendarDay", responses=errors(403, 409), summary="新增节假日或调休上班日（市建委）")
    async def add(self, principal: Principal, data: CalendarDayCreate) -> CalendarDayView:
        return await service.add_day(principal, data.day, data.kind, data.name)

    @patch("/{day:str}", operation_id="changeCalendarDay", responses=errors(403, 404, 422), summary="修改日历中的一天")
    async def change(self, principal: Principal, day: DayParam, data: CalendarDayUpdate) -> CalendarDayView:
        return await service.change_day(principal, _day(day), as_fields(data, drop_none=True))

    @delete("/{day:str}", operation_id="deleteCalendarDay", responses=errors(403, 404, 422), summary="删除日历中的一天")
    async def remove(self, principal: Principal, day: DayParam) -> None:
        await service.delete_day(principal, _day(day))


ROUTES = [CalendarController]
