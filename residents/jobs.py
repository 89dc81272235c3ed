"""The residents' scheduled work; the schedule is the scheduler's."""

from __future__ import annotations

from datetime import date

from residents import service


async def close_polls() -> dict:
    """Close the polls whose window has ended and publish their results."""
    return await service.close_due_polls()


async def expire_points(month: date) -> dict:
    """Expire, first in first out, the points earned more than POINTS_EXPIRE_MONTHS before the end of `month`
    and not spent since: once per account and month."""
    return await service.expire_points(month)
