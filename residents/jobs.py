"""The residents' scheduled work; the schedule is the scheduler's."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from residents import service


async def close_polls() -> dict:
    """Close the polls whose window has ended and publish their results."""
    return await service.close_due_polls()


async def expire_points(month: date) -> dict:
    """Expire, first in first out, the points earned more than POINTS_EXPIRE_MONTHS before the end of `month`
    and not spent since: once per account and month."""
    return await service.expire_points(month)


async def open_surveys(day: date) -> dict:
    """Open the quarter's satisfaction survey of every service contract in force (once per contract and
    quarter; a contract signed during the quarter gets its survey the next day)."""
    return await service.open_quarter_surveys(day)


async def close_surveys() -> dict:
    """Close the satisfaction surveys whose quarter has ended, with their satisfaction rates."""
    return await service.close_due_surveys()


async def satisfaction_by_contract(quarter: date) -> dict[int, Decimal]:
    """The quarter's satisfaction rate by contract, its due surveys closed first, for the evaluations."""
    await service.close_due_surveys()
    return await service.satisfaction_by_contract(quarter)
