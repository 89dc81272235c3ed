"""Pure maths of a state-owned platform's portfolio and of the platform-run vs market-run comparison."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Figures:
    count: int
    income: int
    cost: int

    @property
    def net(self) -> int:
        return self.income - self.cost

    @property
    def ratio(self) -> Decimal | None:
        return Decimal(self.income) / Decimal(self.cost) if self.cost > 0 else None


@dataclass(frozen=True)
class Portfolio:
    total: Figures
    surplus: int  # what the communities in surplus earn over their cost
    deficit: int  # what the communities in deficit lack
    cross_subsidy: int  # the part of the deficit the surplus covers within the portfolio


def portfolio(lines: list[tuple[int, int]]) -> Portfolio:
    """`lines`: (income, cost) of each community. Money a platform earns in one community covers the gap of
    another: the cross-subsidy is the smaller of the summed surpluses and the summed deficits."""
    surplus = sum(income - cost for income, cost in lines if income > cost)
    deficit = sum(cost - income for income, cost in lines if cost > income)
    total = Figures(len(lines), sum(i for i, _ in lines), sum(c for _, c in lines))
    return Portfolio(total=total, surplus=surplus, deficit=deficit, cross_subsidy=min(surplus, deficit))


def comparison(rows: list[tuple[int, int, int]], platform_run: set[int]) -> dict[str, Figures]:
    """`rows`: (community id, income, cost) of old-renovation communities; split into those a platform runs
    and those the market runs."""
    split: dict[str, list[tuple[int, int]]] = {"platform": [], "market": []}
    for community_id, income, cost in rows:
        split["platform" if community_id in platform_run else "market"].append((income, cost))
    return {
        key: Figures(len(lines), sum(i for i, _ in lines), sum(c for _, c in lines)) for key, lines in split.items()
    }
