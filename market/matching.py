"""Matching a community's open needs to listed operators: a score made of explained parts. Pure functions.

Every part is a value in [0, 1] times its weight; the total is out of 100. Suspended, removed or expired
operators are never candidates: the caller passes only categories listed today, and `score` refuses
any status but listed or warned.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

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


@lru_cache(maxsize=16384)  # ranking for the shortlist and again for the bundle asks twice per operator
def decayed_average(evaluations: tuple[tuple[date, int], ...], today: date) -> float | None:
    if not evaluations:
        return None
    weights = [0.5 ** (max((today - end).days, 0) / EVALUATION_HALF_LIFE_DAYS) for end, _ in evaluations]
    return sum(w * s for w, (_, s) in zip(weights, evaluations, strict=True)) / sum(weights)


IN_GOOD_STANDING = ("listed", "warned")


def _facts(candidate: Candidate, community: Community, today: date) -> dict | None:
    """What the parts are computed from, or None when the operator cannot serve any open need."""
    if candidate.registry_status not in IN_GOOD_STANDING or not community.open_categories:
        return None
    covered = candidate.listed_categories & community.open_categories
    if not covered:
        return None
    return {
        "covered": covered,
        "serves": community.district_id in candidate.district_ids,
        "average": decayed_average(candidate.evaluations, today),
        "spare": candidate.spare_capacity,
        "warned": candidate.registry_status == "warned",
    }


def _values(candidate: Candidate, community: Community, facts: dict, weights: Weights) -> list[tuple]:
    """(key, label, value in [0, 1], weight) for every part."""
    average = facts["average"]
    return [
        ("coverage", "需求覆盖", len(facts["covered"]) / len(community.open_categories), weights.coverage),
        ("district", "服务区域", 1.0 if facts["serves"] else 0.0, weights.district),
        ("evaluation", "评价记录", NEUTRAL_EVALUATION if average is None else average / 100, weights.evaluation),
        ("capacity", "承接余量", min(facts["spare"], CAPACITY_SATURATION) / CAPACITY_SATURATION, weights.capacity),
        (
            "experience",
            "同类经验",
            min(candidate.same_type_communities, EXPERIENCE_SATURATION) / EXPERIENCE_SATURATION,
            weights.experience,
        ),
        ("warning", "名录警示", 1.0 if facts["warned"] else 0.0, -weights.warning_penalty),
    ]


@lru_cache(maxsize=65536)  # most parts take a handful of values: ranking thousands of operators repeats them
def _points(value: float, weight: float) -> float:
    return round(100 * value * weight, 1) + 0.0  # + 0.0 turns -0.0 into 0.0


def _total(values: list[tuple]) -> float:
    return round(max(sum(_points(value, weight) for _, _, value, weight in values), 0.0), 1)


def _explanations(candidate: Candidate, community: Community, facts: dict, category_names: dict[str, str]) -> dict:
    def names(codes) -> str:
        return "、".join(category_names.get(c, c) for c in sorted(codes))

    covered, average, spare = facts["covered"], facts["average"], facts["spare"]
    coverage = f"覆盖社区需求 {len(covered)}/{len(community.open_categories)} 项：{names(covered)}"
    if missing := community.open_categories - covered:
        coverage += f"；未覆盖：{names(missing)}"
    return {
        "coverage": coverage,
        "district": f"服务{community.district_name}" if facts["serves"] else f"未登记服务{community.district_name}",
        "evaluation": "暂无评价，按中性分计"
        if average is None
        else f"近期评价加权平均 {average:.1f} 分（{len(candidate.evaluations)} 次，越近权重越高）",
        "capacity": f"可再承接 {spare} 个社区（运营能力 {candidate.capacity}，在营合同 {candidate.active_contracts}）"
        if spare
        else "已满负荷，暂无承接余量",
        "experience": f"运营过 {candidate.same_type_communities} 个{community.community_type}社区"
        if candidate.same_type_communities
        else f"尚无{community.community_type}社区运营经验",
        "warning": "名录警示中，扣分" if facts["warned"] else "无警示",
    }


def score_total(candidate: Candidate, community: Community, today: date, weights: Weights) -> float | None:
    """The score alone, without its explanations: what ranking needs."""
    facts = _facts(candidate, community, today)
    return None if facts is None else _total(_values(candidate, community, facts, weights))


def score(
    candidate: Candidate, community: Community, today: date, weights: Weights, category_names: dict[str, str]
) -> MatchScore | None:
    """The score and its explained parts, or None when the operator cannot serve any open need."""
    facts = _facts(candidate, community, today)
    if facts is None:
        return None
    values = _values(candidate, community, facts, weights)
    texts = _explanations(candidate, community, facts, category_names)
    parts = [
        Part(key, label, round(value, 4), weight, _points(value, weight), texts[key])
        for key, label, value, weight in values
    ]
    return MatchScore(candidate.operator_id, candidate.name, _total(values), frozenset(facts["covered"]), parts)


def _rescore(
    candidate: Candidate, community: Community, today: date, weights: Weights, category_names: dict[str, str]
) -> MatchScore:
    """A ranked operator scored again with its explanations; ranking has already found it eligible."""
    found = score(candidate, community, today, weights, category_names)
    if found is None:
        raise ValueError(f"operator {candidate.operator_id} was ranked but cannot be scored")
    return found


def rank(candidates: list[Candidate], community: Community, today: date, weights: Weights) -> list[MatchScore]:
    """Every operator that can serve an open need, best first, scored but not yet explained."""
    scored = []
    for candidate in candidates:
        facts = _facts(candidate, community, today)
        if facts is not None:
            scored.append(
                (
                    -_total(_values(candidate, community, facts, weights)),
                    candidate.operator_id,
                    candidate,
                    facts["covered"],
                )
            )
    scored.sort(key=lambda item: (item[0], item[1]))
    return [
        MatchScore(operator_id, candidate.name, -negative_total, covered)
        for negative_total, operator_id, candidate, covered in scored
    ]


def explain(
    ranked: list[MatchScore],
    candidates: list[Candidate],
    community: Community,
    today: date,
    weights: Weights,
    category_names: dict[str, str],
) -> list[MatchScore]:
    by_id = {c.operator_id: c for c in candidates}
    return [_rescore(by_id[s.operator_id], community, today, weights, category_names) for s in ranked]


def shortlist(
    candidates: list[Candidate],
    community: Community,
    today: date,
    weights: Weights,
    category_names: dict[str, str],
    limit: int = 20,
) -> list[MatchScore]:
    """The best `limit` operators with explained parts; only those are explained."""
    return explain(
        rank(candidates, community, today, weights)[:limit], candidates, community, today, weights, category_names
    )


@dataclass(frozen=True)
class Bundle:
    integrated: MatchScore | None
    specialists: dict[str, MatchScore]  # category → operator
    uncovered: frozenset[str]


INTEGRATED = "integrated"  # 综合运营: the lead operator of a community


def bundle(
    scored: list[MatchScore],
    open_categories: frozenset[str],
    integrated_category: str = INTEGRATED,
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


def pair_scores(
    needs: list[Community], candidates_by_type: dict[str, list[Candidate]], today: date, weights: Weights
) -> dict[tuple[int, int], float]:
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
    totals: dict[tuple[str, int, bool], float | None] = {}
    result: dict[tuple[int, int], float] = {}
    for index, need in enumerate(needs):
        (category,) = need.open_categories
        for candidate in by_category.get((need.community_type, category), ()):
            serves = need.district_id in candidate.district_ids
            key = (need.community_type, candidate.operator_id, serves)
            if key not in totals:
                probe = Community(need.district_id if serves else -1, "", need.community_type, need.open_categories)
                totals[key] = score_total(candidate, probe, today, weights)
            total = totals[key]
            if total is not None:
                result[(index, candidate.operator_id)] = total
    return result


def bundle_for(
    candidates: list[Candidate], community: Community, today: date, weights: Weights, category_names: dict[str, str]
) -> Bundle:
    """`bundle` over every candidate, with the chosen operators' parts explained."""
    chosen = bundle(rank(candidates, community, today, weights), community.open_categories)
    by_id = {c.operator_id: c for c in candidates}

    def explained(s: MatchScore) -> MatchScore:
        return _rescore(by_id[s.operator_id], community, today, weights, category_names)

    return Bundle(
        explained(chosen.integrated) if chosen.integrated else None,
        {c: explained(s) for c, s in chosen.specialists.items()},
        chosen.uncovered,
    )


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


@dataclass(frozen=True)
class AllianceOffer:
    alliance_id: int
    name: str
    total: float  # the mean score of the members it puts forward
    bundle: Bundle


def alliance_offer(
    alliance_id: int,
    name: str,
    roles: list[tuple[int, str]],
    scored: dict[int, MatchScore],
    open_categories: frozenset[str],
) -> AllianceOffer | None:
    """An approved alliance as one candidate for the community's needs, shaped like a bundle: its integrated
    member leads, and each need the lead leaves goes to the member specialised in it (the best scoring if
    several). `roles`: (operator id, category) of the members in good standing; `scored`: the explained
    scores of the operators that can serve the community. None when no member can serve it."""
    lead = next((scored[o] for o, c in sorted(roles) if c == INTEGRATED and o in scored), None)
    remaining = set(open_categories) - (set(lead.covered) if lead else set()) - {INTEGRATED}
    specialists: dict[str, MatchScore] = {}
    for category in sorted(remaining):
        options = sorted(
            (scored[o] for o, c in roles if c == category and o in scored), key=lambda s: (-s.total, s.operator_id)
        )
        if options:
            specialists[category] = options[0]
    if lead is None and not specialists:
        return None
    chosen = {s.operator_id: s for s in [*([lead] if lead else []), *specialists.values()]}
    total = round(sum(s.total for s in chosen.values()) / len(chosen), 1)
    return AllianceOffer(alliance_id, name, total, Bundle(lead, specialists, frozenset(remaining - specialists.keys())))
