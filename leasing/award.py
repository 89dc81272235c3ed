"""Ranking applications by the criteria a listing publishes. Pure functions.

A listing publishes a weight for each criterion of its track, whole numbers summing to 100:

- competitive (竞争性租赁): the rent offered (`rent`) and the business plan (`plan`);
- preferential (公益性协议出租, at the listing's fixed rent): services for the elderly (`elderly`), for
  children (`children`) and discounts for residents (`discounts`).

The street's panel scores each application from 0 to 100 on every criterion it judges (all but `rent`), one
score per member with a comment. The rent criterion is measured, not judged: the highest offer scores 100
and every other offer its share of the highest. An application's score is the weighted mean, over the
criteria, of its panel members' mean score; a criterion no member has scored yet counts 0. Applications
rank by score, the earlier application first on a tie. The street awards the first unless it gives a
written reason, which the public result shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CRITERIA: dict[str, tuple[str, ...]] = {
    "competitive": ("rent", "plan"),
    "preferential": ("elderly", "children", "discounts"),
}
MEASURED = frozenset({"rent"})  # scored from the offers, not by the panel
CRITERION_LABELS = {
    "rent": "租金报价",
    "plan": "经营方案",
    "elderly": "为老服务",
    "children": "儿童服务",
    "discounts": "居民优惠",
}
DEFAULT_WEIGHTS: dict[str, dict[str, int]] = {
    "competitive": {"rent": 60, "plan": 40},
    "preferential": {"elderly": 40, "children": 30, "discounts": 30},
}
MAX_SCORE = 100
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Criteria:
    """The competitive track's default weights, as stored on a listing."""

    rent: int = 60
    plan: int = 40


def panel_criteria(track: str) -> tuple[str, ...]:
    """The criteria the panel scores on a track."""
    return tuple(c for c in CRITERIA[track] if c not in MEASURED)


def weight_problems(track: str, weights: Mapping[str, int]) -> list[str]:
    """What is wrong with published weights (empty when they are right)."""
    expected = CRITERIA[track]
    problems = []
    if set(weights) != set(expected):
        names = "、".join(f"{c}（{CRITERION_LABELS[c]}）" for c in expected)
        problems.append(f"评分权重（criteria）须且只须包含：{names}")
    if any(not 0 <= w <= MAX_SCORE for w in weights.values()):
        problems.append("评分权重（criteria）每项须在 0 至 100 之间")
    if sum(weights.values()) != MAX_SCORE:
        problems.append(f"评分权重（criteria）合计须为 100，现为 {sum(weights.values())}")
    return problems


def score_problems(track: str, scores: Mapping[str, int]) -> list[str]:
    """What is wrong with one panel member's scores (empty when they are right)."""
    expected = panel_criteria(track)
    problems = []
    if set(scores) != set(expected):
        names = "、".join(f"{c}（{CRITERION_LABELS[c]}）" for c in expected)
        problems.append(f"评分（scores）须且只须包含：{names}")
    if any(not 0 <= s <= MAX_SCORE for s in scores.values()):
        problems.append("评分（scores）每项须在 0 至 100 之间")
    return problems


@dataclass(frozen=True)
class Candidate:
    application_id: int
    offered_rent: int  # fen per m² per month
    panel: Sequence[Mapping[str, int]]  # each member's scores by criterion


@dataclass(frozen=True)
class Ranked:
    application_id: int
    rank: int
    total: Decimal
    criteria: dict[str, Decimal]  # the score on each criterion, 0 to 100
    panel_size: int
    reasons: list[str]


def rent_scores(offers: Mapping[int, int]) -> dict[int, Decimal]:
    """The highest offer scores 100, every other its share of the highest."""
    highest = max(offers.values(), default=0)
    if highest <= 0:
        return {key: Decimal(0).quantize(CENT) for key in offers}
    return {key: (Decimal(MAX_SCORE) * offer / highest).quantize(CENT, ROUND_HALF_UP) for key, offer in offers.items()}


def _panel_mean(panel: Sequence[Mapping[str, int]], criterion: str) -> Decimal:
    given = [member[criterion] for member in panel if criterion in member]
    if not given:
        return Decimal(0).quantize(CENT)
    return (Decimal(sum(given)) / len(given)).quantize(CENT, ROUND_HALF_UP)


def rank(track: str, weights: Mapping[str, int], candidates: Sequence[Candidate]) -> list[Ranked]:
    """Every candidate with its score on each criterion and in total, best first."""
    rents = rent_scores({c.application_id: c.offered_rent for c in candidates})
    scored = []
    for candidate in candidates:
        criteria = {
            criterion: rents[candidate.application_id]
            if criterion in MEASURED
            else _panel_mean(candidate.panel, criterion)
            for criterion in CRITERIA[track]
        }
        weighted = sum((weights.get(c, 0) * v for c, v in criteria.items()), Decimal(0))
        total = (weighted / MAX_SCORE).quantize(CENT, ROUND_HALF_UP)
        reasons = [
            f"{CRITERION_LABELS[c]}（权重 {weights.get(c, 0)}）："
            + (f"{v} 分" if c in MEASURED else f"{len(candidate.panel)} 位评委平均 {v} 分")
            for c, v in criteria.items()
        ]
        scored.append((candidate, total, criteria, reasons))
    scored.sort(key=lambda s: (-s[1], s[0].application_id))
    return [
        Ranked(candidate.application_id, position, total, criteria, len(candidate.panel), reasons)
        for position, (candidate, total, criteria, reasons) in enumerate(scored, start=1)
    ]
