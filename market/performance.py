"""A contract's quarterly performance score from facts, as pure functions.

Each part turns one fact into points (0–100). A part whose fact is missing (no survey reached the quarter, no
ledger to judge the balance by) is left out and the weights of the parts present are renormalised, so a
missing figure neither helps nor hurts. Rent arrears count only where the operator leases a room in the
community (the scheduler reads them from leasing and passes them in).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from market.balance import BalanceStatus

DEFAULT_WEIGHTS = {
    "reports_on_time": 0.25,  # monthly reports filed by the due day
    "reports_complete": 0.15,  # monthly reports with revenue and costs
    "balance": 0.20,  # the community's balance status over the quarter
    "balance_trend": 0.05,  # better or worse than the quarter before
    "complaints": 0.15,  # complaints recorded against the contract
    "arrears": 0.10,  # the operator's rent invoices in the community unpaid at the quarter's end
    "satisfaction": 0.10,  # resident satisfaction surveys, when there are any
}
BALANCE_POINTS = {BalanceStatus.balanced: 100, BalanceStatus.warning: 60, BalanceStatus.imbalanced: 20}
POINTS_PER_COMPLAINT = 20
POINTS_PER_INVOICE_IN_ARREARS = 25


def weights(overrides: dict[str, float]) -> dict[str, float]:
    """The defaults with the parts the settings name replaced; unknown names are ignored."""
    return {name: overrides.get(name, default) for name, default in DEFAULT_WEIGHTS.items()}


@dataclass(frozen=True)
class QuarterFacts:
    months_due: int  # months of the quarter the contract was in force
    reports_on_time: int
    reports_complete: int
    balance_status: BalanceStatus  # no_data when nothing was posted
    balance_ratio: Decimal | None
    previous_ratio: Decimal | None
    complaints: int
    satisfaction: Decimal | None  # percent; none without surveys
    arrears: int | None = None  # rent invoices unpaid at the quarter's end; none when it leases nothing there


def _points(facts: QuarterFacts) -> dict[str, tuple[object, Decimal | None]]:
    """Each part's fact as shown to a reviewer, and its points (None: no fact to score)."""
    due = facts.months_due

    def share(n: int) -> Decimal | None:
        return Decimal(100 * n) / due if due else None

    trend: Decimal | None = None
    if facts.balance_ratio is not None and facts.previous_ratio is not None:
        trend = Decimal(100) if facts.balance_ratio >= facts.previous_ratio else Decimal(50)
    balance_points = BALANCE_POINTS.get(facts.balance_status)
    return {
        "reports_on_time": (f"{facts.reports_on_time}/{due}", share(facts.reports_on_time)),
        "reports_complete": (f"{facts.reports_complete}/{due}", share(facts.reports_complete)),
        "balance": (facts.balance_status.value, Decimal(balance_points) if balance_points is not None else None),
        "balance_trend": (
            {
                "ratio": str(facts.balance_ratio) if facts.balance_ratio is not None else None,
                "previous": str(facts.previous_ratio) if facts.previous_ratio is not None else None,
            },
            trend,
        ),
        "complaints": (facts.complaints, Decimal(max(0, 100 - POINTS_PER_COMPLAINT * facts.complaints))),
        "arrears": (
            facts.arrears,
            Decimal(max(0, 100 - POINTS_PER_INVOICE_IN_ARREARS * facts.arrears)) if facts.arrears is not None else None,
        ),
        "satisfaction": (
            str(facts.satisfaction) if facts.satisfaction is not None else None,
            facts.satisfaction,
        ),
    }


def score(facts: QuarterFacts, weights: dict[str, float]) -> tuple[int, dict[str, dict]]:
    """The score (0–100) and every part beside it: fact, points, weight as set and weight as applied."""
    points = _points(facts)
    present = {name: Decimal(str(w)) for name, w in weights.items() if w > 0 and points[name][1] is not None}
    total_weight = sum(present.values(), Decimal(0))
    parts: dict[str, dict] = {}
    total = Decimal(0)
    for name, (fact, value) in points.items():
        applied = present[name] / total_weight if name in present else Decimal(0)
        if value is not None:
            total += applied * value
        parts[name] = {
            "fact": fact,
            "points": str(value.quantize(Decimal("0.1"))) if value is not None else None,
            "weight": weights.get(name, 0),
            "applied_weight": str(applied.quantize(Decimal("0.001"))),
        }
    result = int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP)) if total_weight else 0
    return max(0, min(100, result)), parts
