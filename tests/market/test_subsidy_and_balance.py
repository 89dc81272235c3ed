from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from market.balance import BalanceStatus, Commitment, Thresholds, balance, forecast, trailing_window
from market.subsidy import WAN, YUAN, AcceptanceLevel, fuyang_award, hangzhou_old_estate_subsidy

CITY, PROVINCE, NONE = AcceptanceLevel.city, AcceptanceLevel.province, AcceptanceLevel.none


def test_hangzhou_counts_the_cost_at_most_300_yuan_per_m2():
    area = Decimal("20000")
    # 450 元/m² average: counted as 300.
    assert hangzhou_old_estate_subsidy(450 * YUAN * 20000, area, Decimal("0.3")) == 300 * YUAN * 20000 * 3 // 10
    # 200 元/m² average: counted as it is.
    assert hangzhou_old_estate_subsidy(200 * YUAN * 20000, area, Decimal("0.3")) == 200 * YUAN * 20000 * 3 // 10
    # Exactly 300 元/m².
    assert hangzhou_old_estate_subsidy(300 * YUAN * 20000, area, Decimal("0.5")) == 300 * YUAN * 10000


@pytest.mark.parametrize("area,share", [(Decimal(0), Decimal("0.3")), (Decimal(100), Decimal("1.5"))])
def test_hangzhou_refuses_impossible_inputs(area, share):
    with pytest.raises(ValueError):
        hangzhou_old_estate_subsidy(1000, area, share)


def test_fuyang_pays_actual_spend_up_to_the_cap_and_half_the_saving():
    award = fuyang_award(levels_passed=[CITY], target_level=CITY, spend_fen=800 * WAN, target_met=True)
    assert (award.cap, award.award, award.saving_reward, award.street_own_share) == (
        1000 * WAN,
        800 * WAN,
        100 * WAN,
        0,
    )
    assert award.total == award.paid_now == 900 * WAN


def test_fuyang_overspend_is_the_streets_own():
    award = fuyang_award(levels_passed=[PROVINCE], target_level=PROVINCE, spend_fen=1500 * WAN, target_met=True)
    assert (award.award, award.saving_reward, award.street_own_share) == (1200 * WAN, 0, 300 * WAN)


def test_fuyang_only_the_highest_level_counts_once():
    award = fuyang_award(levels_passed=[CITY, PROVINCE, CITY], target_level=CITY, spend_fen=2000 * WAN, target_met=True)
    assert award.cap == 1200 * WAN and award.total == 1200 * WAN


def test_fuyang_missed_target_pays_70_percent_at_most_700_wan_now():
    province = fuyang_award(levels_passed=[], target_level=PROVINCE, spend_fen=1100 * WAN, target_met=False)
    assert province.paid_now == 700 * WAN  # 70 % of 1,200 万 is 840 万, capped at 700 万
    assert province.paid_after_acceptance == 400 * WAN
    city = fuyang_award(levels_passed=[], target_level=CITY, spend_fen=1000 * WAN, target_met=False)
    assert city.paid_now == 700 * WAN and city.paid_after_acceptance == 300 * WAN
    small = fuyang_award(levels_passed=[], target_level=CITY, spend_fen=500 * WAN, target_met=False)
    assert small.paid_now == 500 * WAN  # never more than was spent


@pytest.mark.parametrize(
    "income,cost,status",
    [
        (100, 100, BalanceStatus.balanced),  # exactly 1.0
        (99, 100, BalanceStatus.warning),
        (80, 100, BalanceStatus.warning),  # exactly 0.8
        (79, 100, BalanceStatus.imbalanced),
        (4, 5, BalanceStatus.warning),  # 0.8 again, from numbers a float would get wrong after division
        (799_999_999, 1_000_000_000, BalanceStatus.imbalanced),
        (5, 0, BalanceStatus.balanced),
        (0, 0, BalanceStatus.no_data),
    ],
)
def test_balance_status_at_the_edges(income, cost, status):
    assert balance(income, cost).status == status


def test_thresholds_are_configurable():
    strict = Thresholds(balanced_at=Decimal("1.1"), warning_at=Decimal("0.9"))
    assert balance(105, 100, strict).status == BalanceStatus.warning
    assert balance(105, 100, strict).label == "预警"


def test_trailing_window_is_twelve_complete_months():
    assert trailing_window(date(2026, 11, 23)) == (date(2025, 11, 1), date(2026, 11, 1))


def test_forecast_counts_what_is_promised_in_each_month():
    lease = Commitment(date(2026, 12, 1), date(2027, 6, 1), 5_000_00, is_income=True)
    contract = Commitment(date(2026, 1, 1), date(2027, 3, 1), 3_000_00, is_income=False)
    rows = forecast([lease, contract], date(2026, 11, 23), months=12)
    assert rows[0] == (date(2026, 11, 1), 0, 3_000_00)
    assert rows[1] == (date(2026, 12, 1), 5_000_00, 3_000_00)
    assert rows[4] == (date(2027, 3, 1), 5_000_00, 0)
    assert rows[7] == (date(2027, 6, 1), 0, 0)
