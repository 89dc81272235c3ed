"""City staff keep the calendar; everything that counts working days reads it through `working_calendar`."""

from __future__ import annotations

from datetime import date

from core import clock
from core.accounts.principal import Principal
from core.audit import service as audit
from core.calendar import repository as repo
from core.calendar.errors import CalendarDayExists, CalendarDayNotFound
from core.calendar.schemas import CalendarDayView
from core.calendar.tables import DayKind
from core.db import transaction
from core.pagination import with_total


async def working_calendar(since: date) -> clock.WorkingCalendar:
    """The holidays and worked weekend days from `since` on, for clock.add_working_days."""
    days = await repo.days_from(since)
    return clock.WorkingCalendar(
        holidays=frozenset(d for d, kind in days if kind == DayKind.holiday.value),
        workdays=frozenset(d for d, kind in days if kind == DayKind.workday.value),
    )


async def list_days(year: int | None, limit: int, offset: int) -> tuple[list[CalendarDayView], int]:
    return await with_total(lambda lim, off: repo.list_days(year=year, limit=lim, offset=off), limit, offset)


async def add_day(principal: Principal, day: date, kind: DayKind, name: str) -> CalendarDayView:
    async with transaction():
        created = await repo.insert_day(day, kind.value, name.strip())
        if created is None:
            raise CalendarDayExists(detail={"field": "day", "day": day.isoformat()})
        await audit.record(principal, "calendar.add", "calendar_day", day.isoformat(), after=created)
    return created


async def change_day(principal: Principal, day: date, changes: dict) -> CalendarDayView:
    async with transaction():
        before = await repo.get_day(day, for_update=True)
        if before is None:
            raise CalendarDayNotFound(detail={"field": "day", "day": day.isoformat()})
        if "name" in changes:
            changes["name"] = changes["name"].strip()
        after = await repo.update_day(day, changes) if changes else before
        assert after is not None  # locked above
        await audit.record(principal, "calendar.change", "calendar_day", day.isoformat(), before=before, after=after)
    return after


async def delete_day(principal: Principal, day: date) -> None:
    async with transaction():
        removed = await repo.delete_day(day)
        if removed is None:
            raise CalendarDayNotFound(detail={"field": "day", "day": day.isoformat()})
        await audit.record(
            principal, "calendar.delete", "calendar_day", day.isoformat(), before=removed, after={"deleted": True}
        )
