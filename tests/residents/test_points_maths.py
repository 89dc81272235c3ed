"""The points arithmetic: FIFO expiry, quarter hours, awards and payouts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from residents.points import activity_award, expiring_points, is_quarter_hours, payout_fen, statement_lines


def at(year: int, month: int, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


CUTOFF = at(2024, 12)


def test_nothing_expires_when_everything_was_earned_after_the_cutoff():
    assert expiring_points([(at(2025, 1), 100), (at(2025, 6), 50)], CUTOFF) == 0


def test_old_points_not_spent_expire_in_full():
    assert expiring_points([(at(2023, 1), 100), (at(2025, 1), 40)], CUTOFF) == 100


def test_spending_uses_the_oldest_points_first():
    movements = [(at(2023, 1), 100), (at(2024, 6), 30), (at(2025, 1), 50), (at(2025, 2), -110)]
    # 110 spent: the 100 of 2023 and 10 of the 30 of 2024; 20 old points are left to expire.
    assert expiring_points(movements, CUTOFF) == 20


def test_spending_before_a_later_old_earning_cannot_use_it():
    movements = [(at(2023, 1), 10), (at(2023, 2), -10), (at(2023, 3), 10), (at(2025, 1), 10)]
    assert expiring_points(movements, CUTOFF) == 10


def test_points_already_expired_do_not_expire_twice():
    movements = [(at(2022, 1), 100), (at(2022, 6), 50), (at(2024, 1), -100), (at(2024, 3), 20)]
    # The 100 of 2022 went at an earlier run; 50 + 20 remain from before the cutoff.
    assert expiring_points(movements, CUTOFF) == 70
    assert expiring_points([*movements, (CUTOFF, -70)], CUTOFF) == 0


def test_a_refund_comes_back_as_new_points():
    movements = [(at(2023, 1), 100), (at(2023, 2), -100), (at(2025, 2), 100)]
    assert expiring_points(movements, CUTOFF) == 0


def test_quarter_hours():
    assert is_quarter_hours(Decimal("1.75")) and is_quarter_hours(Decimal("0.25"))
    assert not is_quarter_hours(Decimal("1.1")) and not is_quarter_hours(Decimal("0"))
    assert not is_quarter_hours(Decimal("-1"))


def test_awards_and_payouts():
    assert activity_award(Decimal("2.5"), points_per_hour=10, fixed_points=None) == 25
    assert activity_award(Decimal("0.25"), points_per_hour=10, fixed_points=None) == 3  # 2.5 rounds half up
    assert activity_award(Decimal("3"), points_per_hour=None, fixed_points=40) == 40
    assert payout_fen(120, 10) == 1200


def test_statement_running_balance():
    balances, closing = statement_lines(Decimal(50), [(at(2025, 1, 2), Decimal(20)), (at(2025, 1, 5), Decimal(-60))])
    assert balances == [Decimal(70), Decimal(10)] and closing == Decimal(10)
