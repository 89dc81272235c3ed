"""Operating balance of a community as pure functions: income ÷ cost over a window, and its status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum

from core.clock import add_months, month_start
from market.labels import BALANCE_STATUS_LABELS


class BalanceStatus(str, Enum):
    balanced = "balanced"  # 平衡
    warning = "warning"  # 预警
    imbalanced = "imbalanced"  # 失衡
    no_data = "no_data"  # nothing posted in the window


@dataclass(frozen=True)
class Thresholds:
    balanced_at: Decimal = Decimal("1.0")  # ratio ≥ this: 平衡
    warning_at: Decimal = Decimal("0.8")  # warning_at ≤ ratio < balanced_at: 预警; below: 失衡


@dataclass(frozen=True)
class Balance:
    income: int
    cost: int
    ratio: Decimal | None  # None when there is no cost at all
    status: BalanceStatus

    @property
    def label(self) -> str:
        return BALANCE_STATUS_LABELS[self.status.value]


def balance(income_fen: int, cost_fen: int, thresholds: Thresholds = Thresholds()) -> Balance:
    """Exact ratio in Decimal, so 0.8 and 1.0 land on the side the policy means."""
    if cost_fen <= 0:
        status = BalanceStatus.balanced if income_fen > 0 else BalanceStatus.no_data
        return Balance(income_fen, cost_fen, None, status)
    ratio = Decimal(income_fen) / Decimal(cost_fen)
    if ratio >= thresholds.balanced_at:
        status = BalanceStatus.balanced
    elif ratio >= thresholds.warning_at:
        status = BalanceStatus.warning
    else:
        status = BalanceStatus.imbalanced
    return Balance(income_fen, cost_fen, ratio, status)


def trailing_window(today: date, months: int = 12) -> tuple[date, date]:
    """[first day of the month `months` before this one, first day of this month): complete months only."""
    end = month_start(today)
    return add_months(end, -months), end


@dataclass(frozen=True)
class Commitment:
    """Money a lease or contract already promises: `monthly` fen in each month of [start, end)."""

    start: date
    end: date
    monthly: int
    is_income: bool


def forecast(commitments: list[Commitment], first_month: date, months: int = 12) -> list[tuple[date, int, int]]:
    """(month, income, cost) for each of the next `months` months from what is already committed."""
    rows = []
    for offset in range(months):
        month = add_months(month_start(first_month), offset)
        income = sum(c.monthly for c in commitments if c.is_income and c.start <= month < c.end)
        cost = sum(c.monthly for c in commitments if not c.is_income and c.start <= month < c.end)
        rows.append((month, income, cost))
    return rows
