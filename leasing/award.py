"""Ranking applications on the competitive track by the listing's published criteria. Pure functions.

Each criterion is a value in [0, 1] times its weight; the total is out of 100. The official who awards sees
the ranking and its reasons, and must give a reason of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from leasing.rent import PUBLIC_SERVICE_USES

RENT_SATURATION = 1.5  # bidding half as much again as the asking rent already earns every rent point
STANDING_VALUES = {"listed": 1.0, "warned": 0.5, "unlisted": 0.3, "suspended": 0.0, "removed": 0.0}
NEUTRAL_EVALUATION = 0.6


@dataclass(frozen=True)
class Criteria:
    rent: float = 0.4
    use: float = 0.2
    standing: float = 0.2
    evaluation: float = 0.2

    @classmethod
    def from_published(cls, published: dict) -> Criteria:
        return cls(**{k: float(v) for k, v in published.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Proposal:
    application_id: int
    proposed_rent: int  # fen per m² per month
    asking_rent: int
    use: str
    registry_status: str
    evaluation_average: Decimal | float | None


@dataclass(frozen=True)
class Ranked:
    application_id: int
    total: float
    reasons: list[str]


def score(proposal: Proposal, criteria: Criteria) -> Ranked:
    rent_ratio = 1.0 if proposal.asking_rent == 0 else proposal.proposed_rent / proposal.asking_rent
    rent = min(rent_ratio, RENT_SATURATION) / RENT_SATURATION
    public = proposal.use in PUBLIC_SERVICE_USES
    standing = STANDING_VALUES.get(proposal.registry_status, 0.0)
    evaluation = NEUTRAL_EVALUATION if proposal.evaluation_average is None else float(proposal.evaluation_average) / 100
    total = 100 * (
        criteria.rent * rent
        + criteria.use * (1.0 if public else 0.5)
        + criteria.standing * standing
        + criteria.evaluation * evaluation
    )
    reasons = [
        f"报价为挂牌租金的 {rent_ratio:.0%}",
        "公共服务类用途" if public else "经营性用途",
        {"listed": "名录在库", "warned": "名录警示中", "unlisted": "未入名录"}.get(
            proposal.registry_status, "名录暂停或移出"
        ),
        "暂无评价，按中性分计"
        if proposal.evaluation_average is None
        else f"近期评价平均 {float(proposal.evaluation_average):.1f} 分",
    ]
    return Ranked(proposal.application_id, round(total, 2), reasons)


def rank(proposals: list[Proposal], criteria: Criteria) -> list[Ranked]:
    return sorted((score(p, criteria) for p in proposals), key=lambda r: (-r.total, r.application_id))
