"""Time in one place: stored in UTC, business dates in Asia/Shanghai. Tests swap the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.dates import EARLIEST, LATEST
from core.errors import DateOutOfRange

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return _now()


def today() -> date:
    """Today's business date in Asia/Shanghai."""
    return now().astimezone(BUSINESS_TZ).date()


def business_date(instant: datetime) -> date:
    """The Asia/Shanghai date of a stored instant."""
    return instant.astimezone(BUSINESS_TZ).date()


def set_clock(source: Callable[[], datetime] | None) -> None:
    """Replace the time source (None restores the system clock)."""
    global _now
    _now = source or (lambda: datetime.now(UTC))


@dataclass(frozen=True)
class WorkingCalendar:
    """Days that differ from the Monday-to-Friday week: public holidays, and weekend days worked instead (调休)."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        if day in self.holidays:
            return False
        return day in self.workdays or day.weekday() < 5


WEEKDAYS_ONLY = WorkingCalendar()


def add_working_days(start: date, days: int, calendar: WorkingCalendar = WEEKDAYS_ONLY) -> date:
    """The date `days` working days after `start`: weekdays that are not holidays, and weekend days the calendar
    marks as worked (core.calendar.service.working_calendar loads the calendar from the database)."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if calendar.is_working_day(current):
            remaining -= 1
    return current


def month_start(day: date) -> date:
    """The first day of the month `day` is in: months are named by their first day."""
    return day.replace(day=1)


def add_months(start: date, months: int) -> date:
    """Same day `months` later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    import calendar

    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    if not MINYEAR <= year <= MAXYEAR:
        raise DateOutOfRange(
            detail={
                "field": "month",
                "start": start.isoformat(),
                "months": months,
                "earliest": EARLIEST.isoformat(),
                "latest": LATEST.isoformat(),
            }
        )
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


class business_time:
    """`with business_time(dt): ...` runs the block as if it were `dt` (demo data dated in the past)."""

    def __init__(self, at: datetime) -> None:
        self.at = at
        self._previous: Callable[[], datetime] | None = None

    def __enter__(self) -> None:
        global _now
        self._previous = _now
        _now = lambda: self.at  # noqa: E731

    def __exit__(self, *exc) -> None:
        global _now
        assert self._previous is not None, "left before it was entered"
        _now = self._previous
