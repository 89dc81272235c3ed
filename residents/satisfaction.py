"""Counting a satisfaction survey: pure functions, no database.

The questionnaire is fixed: an overall mark and four aspects, each 1–5. The satisfaction rate is the share of
questionnaires whose overall mark is 4 or 5, in percent; it is shown with the count, for the online answers,
the offline results and both together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

ASPECTS = ("attitude", "responsiveness", "quality", "price")
ASPECT_LABELS = {
    "overall": "总体满意度",
    "attitude": "服务态度",
    "responsiveness": "响应速度",
    "quality": "服务质量",
    "price": "价格合理",
}
SATISFIED_FROM = 4  # an overall mark of 4 or 5 counts as satisfied
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Tally:
    """Questionnaires of one source: how many, how many satisfied, and the sum of each mark."""

    count: int = 0
    satisfied: int = 0
    sums: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: Tally) -> Tally:
        names = set(self.sums) | set(other.sums)
        return Tally(
            count=self.count + other.count,
            satisfied=self.satisfied + other.satisfied,
            sums={n: self.sums.get(n, 0) + other.sums.get(n, 0) for n in sorted(names)},
        )


def rate(satisfied: int, count: int) -> Decimal | None:
    """Percent with two decimals, rounded half up; none without any questionnaire."""
    if count <= 0:
        return None
    return (Decimal(100 * satisfied) / Decimal(count)).quantize(CENT, rounding=ROUND_HALF_UP)


def summary(tally: Tally) -> dict:
    """What is published for one source: count, satisfied, rate and the mean of every mark (text decimals)."""
    found = rate(tally.satisfied, tally.count)
    return {
        "count": tally.count,
        "satisfied": tally.satisfied,
        "rate": str(found) if found is not None else None,
        "means": {
            name: (
                str((Decimal(tally.sums.get(name, 0)) / Decimal(tally.count)).quantize(CENT, rounding=ROUND_HALF_UP))
                if tally.count
                else None
            )
            for name in ("overall", *ASPECTS)
        },
    }


def result(online: Tally, offline: Tally) -> dict:
    """The survey's result: online answers and offline results apart, and combined."""
    return {"online": summary(online), "offline": summary(offline), "combined": summary(online + offline)}


def combined_rate(results: list[dict]) -> tuple[Decimal | None, int]:
    """The rate over several closed surveys' combined counts (a community with several contracts in a
    quarter), and the count it rests on."""
    count = sum(r["combined"]["count"] for r in results)
    satisfied = sum(r["combined"]["satisfied"] for r in results)
    return rate(satisfied, count), count


def latest_answered(results: list[dict]) -> list[dict]:
    """Of one community's closed surveys, newest quarter first: those of its latest quarter with answers
    (every contract's survey of that quarter, counted together), which is what acceptance reads."""
    answered = [r for r in results if r["result"]["combined"]["count"] > 0]
    return [r for r in answered if r["period_start"] == answered[0]["period_start"]] if answered else []


def mark(value: str) -> int | None:
    """A mark typed in a sheet ("4", "4.0", " 5 "), or None when it is not a whole number from 1 to 5."""
    text = value.strip()
    if text.endswith(".0"):
        text = text[:-2]
    if text not in {"1", "2", "3", "4", "5"}:
        return None
    return int(text)
