"""When jobs are due, as pure functions of business time (Asia/Shanghai).

A job acts for a *period*: a day ("2026-11-23") or a month ("2026-10"). A daily job's period is due from
its hour that day; a monthly job runs on the 1st (from its hour) for the month before. After downtime every
period since the last one done is due again, oldest first, so nothing is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.clock import BUSINESS_TZ, add_months
from core.dates import check_date
from core.errors import ValidationFailed

MAX_CATCH_UP = 400  # periods; beyond this a gap is an operator's decision, not the scheduler's


@dataclass(frozen=True)
class Daily:
    hour: int
    minute: int = 0

    def label(self) -> str:
        return f"每天 {self.hour:02d}:{self.minute:02d}"

    def trigger(self) -> CronTrigger:
        return CronTrigger(hour=self.hour, minute=self.minute, timezone=BUSINESS_TZ)

    def latest_due(self, now: datetime) -> str:
        local = now.astimezone(BUSINESS_TZ)
        day = local.date()
        if (local.hour, local.minute) < (self.hour, self.minute):
            day -= timedelta(days=1)
        return day.isoformat()

    def after(self, period: str) -> str:
        return (date.fromisoformat(period) + timedelta(days=1)).isoformat()

    def as_date(self, period: str) -> date:
        return date.fromisoformat(period)


@dataclass(frozen=True)
class Monthly:
    """Runs on day 1 of each month from `hour`, for the month that just ended."""

    hour: int
    minute: int = 0

    def label(self) -> str:
        return f"每月 1 日 {self.hour:02d}:{self.minute:02d}（上月）"

    def trigger(self) -> CronTrigger:
        return CronTrigger(day=1, hour=self.hour, minute=self.minute, timezone=BUSINESS_TZ)

    def latest_due(self, now: datetime) -> str:
        local = now.astimezone(BUSINESS_TZ)
        this_month = local.date().replace(day=1)
        runs_from = (local.day, local.hour, local.minute) >= (1, self.hour, self.minute)
        return f"{add_months(this_month, -1 if runs_from else -2):%Y-%m}"

    def after(self, period: str) -> str:
        return f"{add_months(self.as_date(period), 1):%Y-%m}"

    def as_date(self, period: str) -> date:
        return date.fromisoformat(f"{period}-01")


@dataclass(frozen=True)
class Quarterly(Monthly):
    """Runs on 1 January, April, July and October from `hour`, for the quarter that just ended. Its period is
    the quarter's first month ("2026-07" for July to September)."""

    def label(self) -> str:
        return f"每季度首月 1 日 {self.hour:02d}:{self.minute:02d}（上季度）"

    def trigger(self) -> CronTrigger:
        return CronTrigger(month="1,4,7,10", day=1, hour=self.hour, minute=self.minute, timezone=BUSINESS_TZ)

    def latest_due(self, now: datetime) -> str:
        local = now.astimezone(BUSINESS_TZ)
        this_quarter = date(local.year, 3 * ((local.month - 1) // 3) + 1, 1)
        runs_from = (local.month, local.day, local.hour, local.minute) >= (
            this_quarter.month,
            1,
            self.hour,
            self.minute,
        )
        return f"{add_months(this_quarter, -3 if runs_from else -6):%Y-%m}"

    def after(self, period: str) -> str:
        return f"{add_months(self.as_date(period), 3):%Y-%m}"


@dataclass(frozen=True)
class Every:
    """Housekeeping that has no period of its own (sending the outbox): run every few seconds."""

    seconds: int

    def label(self) -> str:
        return f"每 {self.seconds} 秒"

    def trigger(self) -> IntervalTrigger:
        return IntervalTrigger(seconds=self.seconds, timezone=BUSINESS_TZ)


def due_periods(schedule: Daily | Monthly, last_done: str | None, now: datetime) -> list[str]:
    """Every period from the one after `last_done` up to the latest due, oldest first. With nothing done
    yet, only the latest: a new installation does not replay history."""
    latest = schedule.latest_due(now)
    if last_done is None:
        return [latest]
    periods: list[str] = []
    period = schedule.after(last_done)
    while period <= latest and len(periods) < MAX_CATCH_UP:
        periods.append(period)
        period = schedule.after(period)
    return periods


def normalise_period(schedule: Daily | Monthly, text: str) -> str:
    """A period typed by a person ("2026-10", "2026-10-01", "2026-11-23"), as the schedule names it."""
    monthly = isinstance(schedule, Monthly)
    try:
        day = date.fromisoformat(f"{text}-01" if monthly and len(text) == 7 else text)
    except ValueError as exc:
        raise ValidationFailed(
            "期间不正确：按月的任务为 YYYY-MM，按日的任务为 YYYY-MM-DD", detail={"field": "period", "value": text}
        ) from exc
    check_date(day, "period")
    if isinstance(schedule, Quarterly) and day.month not in (1, 4, 7, 10):
        raise ValidationFailed(
            "按季度的任务期间为季度首月：YYYY-01、YYYY-04、YYYY-07 或 YYYY-10",
            detail={"field": "period", "value": text},
        )
    return f"{day:%Y-%m}" if monthly else day.isoformat()
