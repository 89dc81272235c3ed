"""Matching a community's open needs to listed operators: a score made of explained parts. Pure functions.

Every part is a value in [0, 1] times its weight; the total is out of 100. Suspended, removed or expired
operators are never candidates: the caller passes only categories listed today, and `score` refuses
any status but listed or warned.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

NEUTRAL_EVALUATION = 0.6  # an operator nobody has evaluated yet is neither good nor bad
EVALUATION_HALF_LIFE_DAYS = 180  # an evaluation half a year old counts half as much as today's
CAPACITY_SATURATION = 3  # spare room for three more communities already counts as plenty
EXPERIENCE_SATURATION = 3


@dataclass(frozen=True)
class Weights:
    coverage: float = 0.40
    district: float = 0.15
    evaluation: float = 0.20
    capacity: float = 0.10
    experience: float = 0.15
    warning_penalty: float = 0.15


@dataclass(frozen=True)
class Community:
    district_id: int
    district_name: str
    community_type: str  # 旧改类 / 新建类
    open_categories: frozenset[str]


@dataclass(frozen=True)
class Candidate:
    operator_id: int
    name: str
    registry_status: str
    listed_categories: frozenset[str]  # listings valid today
    district_ids: frozenset[int]
    capacity: int
    active_contracts: int
    evaluations: tuple[tuple[date, int], ...] = ()  # (period end, score 0–100)
    same_type_communities: int = 0

    @property
    def spare_capacity(self) -> int:
        return max(self.capacity - self.active_contracts, 0)


@dataclass(frozen=True)
class Part:
    key: str
    label: str
    value: float
    weight: float
    points: float
    explanation: str


@dataclass(frozen=True)
class MatchScore:
    operator_id: int
    name: str
    total: float
    covered: frozenset[str]
    parts: list[Part] = field(default_factory=list)


def decayed_average(evaluations: tuple[tuple[date, int], ...], today: date) -> float | None:
    if not evaluations:
        return None
    weights = [0.5 ** (max((today - end).days, 0) / EVALUATION_HALF_LIFE_DAYS) for end, _ in evaluations]
    return sum(w * s for w, (_, s) in zip(weights, evaluations, strict=True)) / sum(weights)


IN_GOOD_STANDING = ("listed", "warned")


def score(candidate: Candidate, community: Community, today: date, weights: Weights,
          category_names: dict[str, str]) -> MatchScore | None:
    """The score and its explained parts, or None when the operator cannot serve any open need."""
    if candidate.registry_status not in IN_GOOD_STANDING:
        return None
    covered = candidate.listed_categories & community.open_categories
    if not covered or not community.open_categories:
        return None

    def names(codes) -> str:
        return "、".join(category_names.get(c, c) for c in sorted(codes))

    coverage = len(covered) / len(community.open_categories)
    missing = community.open_categories - covered
    coverage_text = f"覆盖社区需求 {len(covered)}/{len(community.open_categories)} 项：{names(covered)}"
    if missing:
        coverage_text += f"；未覆盖：{names(missing)}"

    serves = community.district_id in candidate.district_ids
    average = decayed_average(candidate.evaluations, today)
    spare = candidate.spare_capacity
    experience = min(candidate.same_type_communities, EXPERIENCE_SATURATION) / EXPERIENCE_SATURATION
    warned = candidate.registry_status == "warned"

    values = [
        ("coverage", "需求覆盖", coverage, weights.coverage, coverage_text),
        ("district", "服务区域", 1.0 if serves else 0.0, weights.district,
         f"服务{community.district_name}" if serves else f"未登记服务{community.district_name}"),
        ("evaluation", "评价记录", NEUTRAL_EVALUATION if average is None else average / 100, weights.evaluation,
         "暂无评价，按中性分计" if average is None
         else f"近期评价加权平均 {average:.1f} 分（{len(candidate.evaluations)} 次，越近权重越高）"),
        ("capacity", "承接余量", min(spare, CAPACITY_SATURATION) / CAPACITY_SATURATION, weights.capacity,
         f"可再承接 {spare} 个社区（运营能力 {candidate.capacity}，在营合同 {candidate.active_contracts}）"
         if spare else "已满负荷，暂无承接余量"),
        ("experience", "同类经验", experience, weights.experience,
         f"运营过 {candidate.same_type_communities} 个{community.community_type}社区"
         if candidate.same_type_communities else f"尚无{community.community_type}社区运营经验"),
        ("warning", "名录警示", 1.0 if warned else 0.0, -weights.warning_penalty,
         "名录警示中，扣分" if warned else "无警示"),
    ]
    parts = [Part(key, label, round(value, 4), weight, round(100 * value * weight, 1) + 0.0, text)  # no -0.0
             for key, label, value, weight, text in values]
    total = round(max(sum(p.points for p in parts), 0.0), 1)
    return MatchScore(candidate.operator_id, candidate.name, total, frozenset(covered), parts)


def shortlist(candidates: list[Candidate], community: Community, today: date, weights: Weights,
              category_names: dict[str, str], limit: int = 20) -> list[MatchScore]:
    scored = [s for c in candidates if (s := score(c, community, today, weights, category_names))]
    return sorted(scored, key=lambda s: (-s.total, s.operator_id))[:limit]


@dataclass(frozen=True)
class Bundle:
    integrated: MatchScore | None
    specialists: dict[str, MatchScore]  # category → operator
    uncovered: frozenset[str]


INTEGRATED = "integrated"  # 综合运营: the lead operator of a community


def bundle(scored: list[MatchScore], open_categories: frozenset[str], integrated_category: str = INTEGRATED,
           ) -> Bundle:
    """One integrated operator, plus the best-scoring specialist for each need it leaves uncovered."""
    ranked = sorted(scored, key=lambda s: (-s.total, s.operator_id))
    integrated = next((s for s in ranked if integrated_category in s.covered), None)
    remaining = set(open_categories) - (set(integrated.covered) if integrated else set())
    specialists: dict[str, MatchScore] = {}
    for category in sorted(remaining):
        best = next((s for s in ranked if category in s.covered and s is not integrated), None)
        if best is not None:
            specialists[category] = best
    return Bundle(integrated, specialists, frozenset(remaining - specialists.keys()))


def pair_scores(needs: list[Community], candidates_by_type: dict[str, list[Candidate]], today: date,
                weights: Weights) -> dict[tuple[int, int], float]:
    """(need index, operator id) → score for needs of one category each: exactly what `score` gives a
    community with only that need, computed once per community type, operator and whether it serves the
    district, rather than once per pair. `candidates_by_type` holds the same operators with the experience
    that counts for each community type."""
    by_category: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
    for community_type, candidates in candidates_by_type.items():
        for candidate in candidates:
            if candidate.registry_status in IN_GOOD_STANDING:
                for category in candidate.listed_categories:
                    by_category[(community_type, category)].append(candidate)
    totals: dict[tuple[str, int, bool], float] = {}
    result: dict[tuple[int, int], float] = {}
    for index, need in enumerate(needs):
        (category,) = need.open_categories
        for candidate in by_category.get((need.community_type, category), ()):
            serves = need.district_id in candidate.district_ids
            key = (need.community_type, candidate.operator_id, serves)
            total = totals.get(key)
            if total is None:
                probe = Community(need.district_id if serves else -1, "", need.community_type, need.open_categories)
                total = totals[key] = score(candidate, probe, today, weights, {}).total
            result[(index, candidate.operator_id)] = total
    return result


def explain_bundle(offer: Bundle, category_names: dict[str, str]) -> str:
    def names(codes) -> str:
        return "、".join(category_names.get(c, c) for c in sorted(codes))

    if offer.integrated:
        pieces = [f"由{offer.integrated.name}牵头综合运营，承担{names(offer.integrated.covered)}"]
    else:
        pieces = ["暂无在库运营商可牵头综合运营"]
    pieces += [f"{category_names.get(c, c)}由{s.name}承担" for c, s in sorted(offer.specialists.items())]
    uncovered = offer.uncovered - {INTEGRATED}
    if uncovered:
        pieces.append(f"尚无在库运营商可承担：{names(uncovered)}")
    return "；".join(pieces)
