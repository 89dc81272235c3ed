"""Points and time-bank arithmetic: pure functions, no database.

The ledger is double-entry: every posting moves a positive amount from one account to another, so the sum of
all accounts of one unit is always 0. The community pool issues points (it goes negative by what it issued and
got back), so points outstanding = residents' balances + operators' clearing balances = −(pool + expired sink).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

QUARTER = Decimal("0.25")


def is_quarter_hours(hours: Decimal) -> bool:
    """Time-bank hours count in quarter-hour steps: 0.25, 0.5, 1.75 …"""
    return hours > 0 and (hours / QUARTER) == (hours / QUARTER).to_integral_value()


def activity_award(hours: Decimal, *, points_per_hour: int | None, fixed_points: int | None) -> int:
    """Points for confirmed hours of an ordinary activity: the fixed amount, or points per hour rounded half up
    to whole points."""
    if fixed_points is not None:
        return fixed_points
    assert points_per_hour is not None
    return int((hours * points_per_hour).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def payout_fen(points: int, fen_per_point: int) -> int:
    """What the community pays an operator for points it delivered a service for."""
    return points * fen_per_point


def expiring_points(movements: list[tuple[datetime, int]], cutoff: datetime) -> int:
    """Points of a resident's account to expire at `cutoff`, first in, first out.

    `movements` are the account's postings, + earned (or given back), − spent or expired, in any order. Each
    outflow uses up the oldest points still held when it happened; what remains of points earned before
    `cutoff` expires. (A refund of a cancelled redemption comes back as new points, dated when refunded.)"""
    lots: deque[list] = deque()
    for at, amount in sorted(movements, key=lambda m: (m[0], -m[1])):
        if amount > 0:
            lots.append([at, amount])
            continue
        owed = -amount
        while owed and lots:
            used = min(owed, lots[0][1])
            lots[0][1] -= used
            owed -= used
            if lots[0][1] == 0:
                lots.popleft()
    return sum(left for at, left in lots if at < cutoff)


def statement_lines(opening: Decimal, postings: list[tuple[datetime, Decimal]]) -> tuple[list[Decimal], Decimal]:
    """The running balance after each posting of a month (signed amounts, in time order) and the closing."""
    balances, running = [], opening
    for _, amount in postings:
        running += amount
        balances.append(running)
    return balances, running
