"""Money is integer fen (分) everywhere; these helpers are the only place yuan strings become fen."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN_PER_YUAN = 100


def yuan_to_fen(amount: str | int | Decimal) -> int:
    """Parse a yuan amount ("1234.5", 12, Decimal) into fen; more than two decimals is an error."""
    try:
        value = Decimal(str(amount).replace(",", "").strip())
    except InvalidOperation as exc:
        raise ValueError(f"not an amount of money: {amount!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not an amount of money: {amount!r}")
    fen = value * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueError(f"more precise than one fen: {amount!r}")
    return int(fen)


def fen_to_yuan(fen: int) -> Decimal:
    return (Decimal(fen) / FEN_PER_YUAN).quantize(Decimal("0.01"))


def format_yuan(fen: int) -> str:
    """'¥1,234.50' for people; negative amounts keep their sign in front."""
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{fen_to_yuan(abs(fen)):,.2f}"


def apply_rate(fen: int, rate: Decimal | str) -> int:
    """fen × rate rounded half-up to a whole fen (a discount of 0.3 → rate 0.7)."""
    return int((Decimal(fen) * Decimal(str(rate))).to_integral_value(rounding=ROUND_HALF_UP))


def allocate(total_fen: int, weights: list[int | Decimal]) -> list[int]:
    """Split total_fen in proportion to weights so the parts add up exactly (largest remainder)."""
    if not weights:
        return []
    weight_sum = sum(Decimal(str(w)) for w in weights)
    if weight_sum <= 0:
        raise ValueError("weights must add up to more than zero")
    exact = [Decimal(total_fen) * Decimal(str(w)) / weight_sum for w in weights]
    parts = [int(x.to_integral_value(rounding="ROUND_FLOOR")) for x in exact]
    leftover = total_fen - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: exact[i] - parts[i], reverse=True)
    for i in by_remainder[:leftover]:
        parts[i] += 1
    return parts
