"""Subsidy rules as pure functions. Money in fen, area in m², shares as Decimal.

Hangzhou (杭建房〔2022〕36号, seed 002): an old-estate project that builds a future community receives a share
of its average construction cost per m², the cost counted at most 300 元/m², times its area.

Fuyang (seed 003 §五(三)): the district rewards a street for creating a future community with at most
1,000 万 on city acceptance or 1,200 万 on provincial acceptance, only the highest level and once per
community. The award is the actual spend up to that cap; spend beyond it is the street's own. A street that
passes acceptance spending less than the cap is rewarded half the difference. If the year's target is
missed, 70 % of the cap, at most 700 万, is paid now and the rest after acceptance.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum

YUAN = 100
WAN = 10_000 * YUAN

HANGZHOU_COST_CAP_PER_M2 = 300 * YUAN


def hangzhou_old_estate_subsidy(total_cost_fen: int, area_m2: Decimal, share: Decimal) -> int:
    """share × min(average cost per m², 300 元/m²) × area, rounded to the fen."""
    if area_m2 <= 0:
        raise ValueError("area must be positive")
    if not Decimal(0) <= share <= Decimal(1):
        raise ValueError("share must be between 0 and 1")
    counted_cost = min(Decimal(total_cost_fen), HANGZHOU_COST_CAP_PER_M2 * area_m2)
    return int((counted_cost * share).to_integral_value(rounding=ROUND_HALF_UP))


class AcceptanceLevel(str, Enum):
    none = "none"
    city = "city"  # 市级验收
    province = "province"  # 省级验收


FUYANG_CAPS = {AcceptanceLevel.city: 1_000 * WAN, AcceptanceLevel.province: 1_200 * WAN}
FUYANG_ADVANCE_SHARE = Decimal("0.7")
FUYANG_ADVANCE_CAP = 700 * WAN
FUYANG_SAVING_REWARD_SHARE = Decimal("0.5")


@dataclass(frozen=True)
class FuyangAward:
    cap: int  # the ceiling for the level
    award: int  # actual spend up to the cap
    saving_reward: int  # half of what acceptance came in under the cap
    street_own_share: int  # spend beyond the cap, borne by the street
    paid_now: int
    paid_after_acceptance: int

    @property
    def total(self) -> int:
        return self.award + self.saving_reward


def fuyang_award(
    *, levels_passed: list[AcceptanceLevel], target_level: AcceptanceLevel, spend_fen: int, target_met: bool
) -> FuyangAward:
    """The district award for one community.

    levels_passed: acceptance levels the community has passed (any order, repeats ignored); only the highest
    counts. target_level: the level the street is creating for, used while nothing has been passed yet.
    """
    if spend_fen < 0:
        raise ValueError("spend cannot be negative")
    passed: list[AcceptanceLevel] = [lvl for lvl in levels_passed if lvl != AcceptanceLevel.none]
    highest = max(passed, key=lambda lvl: FUYANG_CAPS[lvl]) if passed else None
    level = highest if highest is not None else target_level
    cap = FUYANG_CAPS[level] if level != AcceptanceLevel.none else 0
    award = min(spend_fen, cap)
    street_own_share = max(spend_fen - cap, 0)
    if highest is not None:
        saving = int(((cap - award) * FUYANG_SAVING_REWARD_SHARE).to_integral_value(rounding=ROUND_HALF_UP))
        return FuyangAward(cap, award, saving, street_own_share, paid_now=award + saving, paid_after_acceptance=0)
    if target_met:
        # Created on time but not yet accepted: nothing is due before acceptance.
        return FuyangAward(cap, award, 0, street_own_share, paid_now=0, paid_after_acceptance=award)
    advance = min(int(cap * FUYANG_ADVANCE_SHARE), FUYANG_ADVANCE_CAP, award)
    return FuyangAward(cap, award, 0, street_own_share, paid_now=advance, paid_after_acceptance=award - advance)
