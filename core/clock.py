"""Time in one place: stored in UTC, business dates in Asia/Shanghai. Tests swap the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")

_now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)  # noqa: E731


def now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return _now()


def today() -> date:
    """Today's business date in Asia/Shanghai."""
    return now().astimezone(BUSINESS_TZ).date()


def set_clock(source: Callable[[], datetime] | None) -> None:
    """Replace the time source (None restores the system clock)."""
    global _now
    _now = source or (lambda: datetime.now(timezone.utc))
