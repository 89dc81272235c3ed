"""Rent maths without a database: discounts, rent-free months, part months, due dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from leasing.rent import LeaseTerms, invoice_for, invoices_through, monthly_rent


def test_public_service_uses_get_the_public_welfare_discount_and_commerce_does_not():
    # 45 元/m²/月 × 120.50 m² = 5,422.50 元; a 30 % discount for childcare leaves 3,795.75 元.
    assert monthly_rent(4_500, Decimal("120.50"), "commerce", Decimal("0.3")) == 542_250
    assert monthly_rent(4_500, Decimal("120.50"), "childcare", Decimal("0.3")) == 379_575


@pytest.mark.parametrize(("area", "discount"), [(Decimal("0"), Decimal("0.1")), (Decimal("10"), Decimal("1.5"))])
def test_impossible_terms_are_refused(area, discount):
    with pytest.raises(ValueError):
        monthly_rent(100, area, "commerce", discount)


def test_rent_free_months_bill_nothing_and_get_no_invoice():
    terms = LeaseTerms(date(2026, 1, 1), date(2027, 1, 1), 300_000, rent_free_months=3, payment_day=10)
    lines = invoices_through(terms, date(2026, 6, 15))
    assert [line.month for line in lines] == [date(2026, 4, 1), date(2026, 5, 1), date(2026, 6, 1)]
    assert {line.amount for line in lines} == {300_000}
    assert lines[0].due_on == date(2026, 4, 10)


def test_part_months_are_billed_by_the_day_and_the_term_is_half_open():
    # 16 Jan – 31 Jan is 16 of 31 days; the lease ends on 1 Mar, so March is not billed at all.
    terms = LeaseTerms(date(2026, 1, 16), date(2026, 3, 1), 310_000)
    lines = invoices_through(terms, date(2026, 12, 31))
    assert [(line.month, line.amount) for line in lines] == [(date(2026, 1, 1), 160_000), (date(2026, 2, 1), 310_000)]
    assert invoice_for(terms, date(2026, 3, 1)) is None


def test_a_lease_ended_early_bills_its_last_days_only():
    terms = LeaseTerms(date(2026, 1, 1), date(2026, 2, 15), 280_000, payment_day=28)
    last = invoice_for(terms, date(2026, 2, 1))
    assert last.amount == 140_000 and last.due_on == date(2026, 2, 28)


def test_billing_can_start_after_the_last_billed_month():
    terms = LeaseTerms(date(2025, 1, 15), date(2027, 1, 15), 100_000)
    everything = invoices_through(terms, date(2026, 12, 1))
    later = invoices_through(terms, date(2026, 12, 1), after=date(2026, 10, 1))
    assert [line.month for line in later] == [date(2026, 11, 1), date(2026, 12, 1)]
    assert later == everything[-2:]
