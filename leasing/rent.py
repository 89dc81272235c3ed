"""Rent as pure functions: the monthly rent a listing's terms give, and what each month of a lease bills.

Money in fen, area in m² (Decimal), months as their first day, periods half-open [start, end). A month the
lease covers only in part is billed for the days it covers; the first `rent_free_months` months of the term
bill nothing, and a month that bills nothing gets no invoice.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from core.clock import add_months, month_start

# Uses that serve residents rather than trade: they get the listing's public-welfare discount.
PUBLIC_SERVICE_USES = frozenset({"public_service", "elderly_care", "childcare", "culture", "health"})


def _round_fen(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def monthly_rent(rent_per_m2_month: int, area_m2: Decimal, use: str, public_welfare_discount: Decimal) -> int:
    """The listing's rate × area, less the public-welfare discount when the use is a public service."""
    if area_m2 <= 0:
        raise ValueError("area must be positive")
    if not Decimal(0) <= public_welfare_discount <= Decimal(1):
        raise ValueError("discount must be between 0 and 1")
    full = Decimal(rent_per_m2_month) * area_m2
    if use in PUBLIC_SERVICE_USES:
        full *= Decimal(1) - public_welfare_discount
    return _round_fen(full)


@dataclass(frozen=True)
class LeaseTerms:
    starts_on: date
    ends_on: date  # exclusive
    monthly_rent: int
    rent_free_months: int = 0
    payment_day: int = 10


@dataclass(frozen=True)
class InvoiceLine:
    month: date
    amount: int
    due_on: date


def billed_months(terms: LeaseTerms, through: date, after: date | None = None) -> list[date]:
    """Every month the lease covers, from its first (or the one after `after`) up to and including the
    month of `through`."""
    months, month = [], month_start(terms.starts_on)
    if after is not None:
        month = max(month, add_months(month_start(after), 1))
    last = min(month_start(through), month_start(terms.ends_on - timedelta(days=1)))
    while month <= last:
        months.append(month)
        month = add_months(month, 1)
    return months


def invoice_for(terms: LeaseTerms, month: date) -> InvoiceLine | None:
    """What the lease bills for `month`, or None when nothing is due (rent-free, or outside the term)."""
    first_month = month_start(terms.starts_on)
    index = (month.year - first_month.year) * 12 + month.month - first_month.month
    if index < 0 or month >= terms.ends_on or index < terms.rent_free_months:
        return None
    days_in_month = calendar.monthrange(month.year, month.month)[1]
    next_month = add_months(month, 1)
    covered_from = max(month, terms.starts_on)
    covered_until = min(next_month, terms.ends_on)
    days = (covered_until - covered_from).days
    if days <= 0:
        return None
    amount = (
        terms.monthly_rent if days == days_in_month else _round_fen(Decimal(terms.monthly_rent) * days / days_in_month)
    )
    if amount == 0:
        return None
    due_day = min(terms.payment_day, days_in_month)
    return InvoiceLine(month, amount, date(month.year, month.month, due_day))


def invoices_through(terms: LeaseTerms, through: date, after: date | None = None) -> list[InvoiceLine]:
    """What the lease bills up to the month of `through`, for the months after `after` (the last billed)."""
    return [line for month in billed_months(terms, through, after) if (line := invoice_for(terms, month))]


BASIS_POINTS = 10_000


def late_fee(principal: int, rate_bp_per_day: int, due_on: date, today: date) -> int:
    """Interest on an unpaid rent invoice: the rent principal × the daily rate (basis points) × the days past
    due, rounded down to the fen. Recomputed from the principal each time, never on earlier interest."""
    days = (today - due_on).days
    if principal <= 0 or rate_bp_per_day <= 0 or days <= 0:
        return 0
    return principal * rate_bp_per_day * days // BASIS_POINTS
