from decimal import Decimal

import pytest

from core.money import allocate, apply_rate, format_yuan, yuan_to_fen


@pytest.mark.parametrize(
    "text,fen", [("1234.56", 123456), ("0.01", 1), ("1,000", 100000), (12, 1200), (Decimal("3.1"), 310), ("-5", -500)]
)
def test_yuan_to_fen(text, fen):
    assert yuan_to_fen(text) == fen


@pytest.mark.parametrize("bad", ["1.001", "abc", "", "NaN", "Infinity"])
def test_yuan_to_fen_rejects_what_is_not_whole_fen(bad):
    with pytest.raises(ValueError):
        yuan_to_fen(bad)


def test_format_yuan():
    assert format_yuan(123456789) == "¥1,234,567.89"
    assert format_yuan(-5) == "-¥0.05"


def test_apply_rate_rounds_half_up_to_whole_fen():
    assert apply_rate(1001, "0.5") == 501
    assert apply_rate(100, Decimal("0.7")) == 70


def test_allocate_adds_up_exactly():
    parts = allocate(100, [1, 1, 1])
    assert sum(parts) == 100 and sorted(parts) == [33, 33, 34]
    assert allocate(1000, [Decimal("0.2"), Decimal("0.8")]) == [200, 800]
