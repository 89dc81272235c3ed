from __future__ import annotations

from datetime import date

import msgspec

from core.calendar.schemas import CalendarDayView
from core.calendar.tables import CalendarDay
from core.pagination import split_total


def _view(row: dict) -> CalendarDayView:
    return msgspec.convert(row, CalendarDayView)


async def insert_year_if_empty(year: int, days: list[tuple[date, str, str]]) -> None:
    # One statement, so two workers starting together cannot both find the year empty and load it twice.
    await CalendarDay.raw(
        """
        INSERT INTO core_calendar_day (day, kind, name)
        SELECT d, k, n FROM unnest({}::date[], {}::text[], {}::text[]) AS t(d, k, n)
        WHERE NOT EXISTS (SELECT 1 FROM core_calendar_day WHERE day >= make_date({}, 1, 1)
                          AND day < make_date({} + 1, 1, 1))
        ON CONFLICT (day) DO NOTHING
        """,
        [d for d, _, _ in days],
        [k for _, k, _ in days],
        [n for _, _, n in days],
        year,
        year,
    )


async def list_days(*, year: int | None, limit: int, offset: int) -> tuple[list[CalendarDayView], int]:
    # The window count comes with the page, as the other lists do.
    rows = await CalendarDay.raw(
        "SELECT day, kind, name, count(*) OVER () AS total FROM core_calendar_day "
        "WHERE {}::int IS NULL OR extract(year FROM day) = {} ORDER BY day LIMIT {} OFFSET {}",
        year,
        year,
        limit,
        offset,
    )
    rows, total = split_total(rows)
    return [_view(r) for r in rows], total


async def get_day(day: date, *, for_update: bool = False) -> CalendarDayView | None:
    query = CalendarDay.select(CalendarDay.day, CalendarDay.kind, CalendarDay.name).where(CalendarDay.day == day)
    if for_update:
        query = query.lock_rows()
    rows = await query
    return _view(rows[0]) if rows else None


async def insert_day(day: date, kind: str, name: str) -> CalendarDayView | None:
    """The new day, or None when the day is already in the calendar."""
    rows = (
        await CalendarDay.insert(CalendarDay(day=day, kind=kind, name=name))
        .on_conflict(target=CalendarDay.day)
        .returning(CalendarDay.day, CalendarDay.kind, CalendarDay.name)
    )
    return _view(rows[0]) if rows else None


async def update_day(day: date, changes: dict) -> CalendarDayView | None:
    values = {getattr(CalendarDay, k): v for k, v in changes.items()}
    rows = (
        await CalendarDay.update(values)
        .where(CalendarDay.day == day)
        .returning(CalendarDay.day, CalendarDay.kind, CalendarDay.name)
    )
    return _view(rows[0]) if rows else None


async def delete_day(day: date) -> CalendarDayView | None:
    rows = (
        await CalendarDay.delete()
        .where(CalendarDay.day == day)
        .returning(CalendarDay.day, CalendarDay.kind, CalendarDay.name)
    )
    return _view(rows[0]) if rows else None


async def days_from(since: date) -> list[tuple[date, str]]:
    rows = await CalendarDay.select(CalendarDay.day, CalendarDay.kind).where(CalendarDay.day >= since)
    return [(r["day"], r["kind"]) for r in rows]
