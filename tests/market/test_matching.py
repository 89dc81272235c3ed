"""Matching scores and the city-wide allocation, tested without a database."""

from __future__ import annotations

import random
from datetime import date

import pytest

from market.allocation import allocate, greedy
from market.matching import Candidate, Community, Weights, bundle, explain_bundle, pair_scores, score, shortlist

TODAY = date(2026, 11, 23)
NAMES = {"integrated": "综合运营", "childcare": "托育", "elderly": "养老", "commerce": "社区商业"}
COMMUNITY = Community(
    district_id=7, district_name="富阳区", community_type="旧改类", open_categories=frozenset({"childcare", "elderly"})
)


def candidate(operator_id=1, **overrides) -> Candidate:
    facts = dict(
        operator_id=operator_id,
        name=f"运营商{operator_id}",
        registry_status="listed",
        listed_categories=frozenset({"childcare", "elderly"}),
        district_ids=frozenset({7}),
        capacity=5,
        active_contracts=1,
        evaluations=((date(2026, 9, 30), 90),),
        same_type_communities=2,
    )
    facts.update(overrides)
    return Candidate(**facts)


@pytest.mark.parametrize("status", ["suspended", "removed", "unlisted"])
def test_operators_out_of_the_registry_are_never_scored(status):
    assert score(candidate(registry_status=status), COMMUNITY, TODAY, Weights(), NAMES) is None


def test_an_operator_covering_no_open_need_is_not_a_candidate():
    assert score(candidate(listed_categories=frozenset({"commerce"})), COMMUNITY, TODAY, Weights(), NAMES) is None


def test_every_part_is_explained_in_chinese():
    result = score(candidate(), COMMUNITY, TODAY, Weights(), NAMES)
    parts = {p.key: p for p in result.parts}
    assert set(parts) == {"coverage", "district", "evaluation", "capacity", "experience", "warning"}
    assert parts["coverage"].explanation == "覆盖社区需求 2/2 项：托育、养老"
    assert parts["district"].explanation == "服务富阳区"
    assert parts["capacity"].explanation.startswith("可再承接 4 个社区")
    assert parts["experience"].explanation == "运营过 2 个旧改类社区"
    assert result.total == pytest.approx(sum(p.points for p in result.parts), abs=0.05)


def test_recent_evaluations_weigh_more():
    recent_good = candidate(evaluations=((date(2026, 10, 31), 95), (date(2025, 10, 31), 40)))
    recent_bad = candidate(evaluations=((date(2026, 10, 31), 40), (date(2025, 10, 31), 95)))
    good = score(recent_good, COMMUNITY, TODAY, Weights(), NAMES)
    bad = score(recent_bad, COMMUNITY, TODAY, Weights(), NAMES)
    assert good.total > bad.total


def test_warning_and_full_capacity_lower_the_score():
    base = score(candidate(), COMMUNITY, TODAY, Weights(), NAMES).total
    assert score(candidate(registry_status="warned"), COMMUNITY, TODAY, Weights(), NAMES).total < base
    full = score(candidate(active_contracts=5), COMMUNITY, TODAY, Weights(), NAMES)
    assert full.total < base and "满负荷" in {p.key: p for p in full.parts}["capacity"].explanation


def test_weights_are_configurable():
    district_only = Weights(coverage=0, district=1, evaluation=0, capacity=0, experience=0, warning_penalty=0)
    assert score(candidate(), COMMUNITY, TODAY, district_only, NAMES).total == 100.0
    assert score(candidate(district_ids=frozenset({8})), COMMUNITY, TODAY, district_only, NAMES).total == 0.0


def test_shortlist_is_ranked_and_excludes_suspended():
    pool = [
        candidate(1, evaluations=((date(2026, 10, 1), 60),)),
        candidate(2),
        candidate(3, registry_status="suspended"),
    ]
    ranked = shortlist(pool, COMMUNITY, TODAY, Weights(), NAMES)
    assert [s.operator_id for s in ranked] == [2, 1]


def test_bundle_covers_every_need_with_an_integrated_operator_and_specialists():
    community = Community(7, "富阳区", "新建类", frozenset({"integrated", "childcare", "elderly", "commerce"}))
    pool = [
        candidate(1, listed_categories=frozenset({"integrated", "commerce"})),
        candidate(2, listed_categories=frozenset({"childcare"})),
        candidate(3, listed_categories=frozenset({"elderly"})),
        candidate(4, listed_categories=frozenset({"elderly"}), evaluations=((date(2026, 10, 1), 50),)),
    ]
    scored = shortlist(pool, community, TODAY, Weights(), NAMES)
    result = bundle(scored, community.open_categories)
    assert result.integrated.operator_id == 1
    assert {c: s.operator_id for c, s in result.specialists.items()} == {"childcare": 2, "elderly": 3}
    assert result.uncovered == frozenset()
    assert explain_bundle(result, NAMES) == (
        "由运营商1牵头综合运营，承担社区商业、综合运营；托育由运营商2承担；养老由运营商3承担"
    )


def test_pair_scores_equal_the_score_of_a_community_with_that_one_need():
    renovation = [
        candidate(1, same_type_communities=3),
        candidate(2, district_ids=frozenset({8})),
        candidate(3, registry_status="suspended"),
    ]
    new_build = [
        candidate(1, same_type_communities=0),
        candidate(2, district_ids=frozenset({8}), same_type_communities=1),
        candidate(3, registry_status="suspended"),
    ]
    needs = [
        Community(7, "", "旧改类", frozenset({"childcare"})),
        Community(8, "", "新建类", frozenset({"elderly"})),
        Community(7, "", "新建类", frozenset({"commerce"})),
    ]
    scores = pair_scores(needs, {"旧改类": renovation, "新建类": new_build}, TODAY, Weights())
    assert set(scores) == {(0, 1), (0, 2), (1, 1), (1, 2)}  # nobody covers commerce; suspended never scores
    for (index, operator_id), value in scores.items():
        pool = renovation if needs[index].community_type == "旧改类" else new_build
        expected = score(pool[operator_id - 1], needs[index], TODAY, Weights(), NAMES).total
        assert value == expected


def test_allocation_beats_greedy_on_a_case_built_to_fool_it():
    # Greedy takes the single best pair (need 0 → operator A, 10) and is left with need 1 → B at 1.
    scores = {(0, 1): 10.0, (0, 2): 9.0, (1, 1): 9.0, (1, 2): 1.0}
    capacity = {1: 1, 2: 1}
    assert sum(a.score for a in greedy(scores, capacity)) == 11.0
    optimal = allocate(scores, capacity, need_count=2)
    assert sum(a.score for a in optimal) == 18.0
    assert {(a.need_index, a.operator_id) for a in optimal} == {(0, 2), (1, 1)}


def test_allocation_never_exceeds_capacity_and_is_never_worse_than_greedy():
    rng = random.Random(11)
    for _ in range(30):
        needs, operators = rng.randint(5, 40), rng.randint(2, 12)
        capacity = {o: rng.randint(0, 4) for o in range(operators)}
        scores = {
            (n, o): float(rng.randint(1, 100)) for n in range(needs) for o in range(operators) if rng.random() < 0.4
        }
        optimal = allocate(scores, capacity, need_count=needs)
        used: dict[int, int] = {}
        for a in optimal:
            used[a.operator_id] = used.get(a.operator_id, 0) + 1
        assert all(used[o] <= capacity[o] for o in used)
        assert len({a.need_index for a in optimal}) == len(optimal)
        assert sum(a.score for a in optimal) >= sum(a.score for a in greedy(scores, capacity))


def test_allocation_with_nothing_assignable_is_empty():
    assert allocate({(0, 1): 5.0}, {1: 0}, need_count=1) == []
    assert allocate({}, {1: 3}, need_count=4) == []
