"""City-wide allocation: assign open needs to operators to maximise the total score without exceeding any
operator's spare capacity. Solved exactly, not greedily.

Needs that share a category, a district and a community type score the same with every operator, so they
form one group with a demand (how many such needs are open). The assignment is then a transportation
problem: flows from groups to operators, at most a group's demand out of each group and at most an
operator's spare capacity into each operator. Its constraint matrix is totally unimodular, so the simplex
optimum SciPy's HiGHS returns is whole numbers: an optimal assignment, found on a few hundred thousand
group × operator pairs rather than millions of need × operator ones. A need counted with demand 1 is
its own group, which is how `allocate` serves single needs.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix


@dataclass(frozen=True)
class Assignment:
    need_index: int
    operator_id: int
    score: float


G = TypeVar("G", bound=Hashable)


@dataclass(frozen=True)
class Flow(Generic[G]):
    group: G
    operator_id: int
    count: int
    score: float  # of one need of the group with this operator


def allocate_groups(
    scores: dict[tuple[G, int], float], demand: dict[G, int], spare_capacity: dict[int, int]
) -> list[Flow[G]]:
    """scores: (group, operator id) → score > 0 for the pairs that may be assigned."""
    edges = [
        (g, o, s) for (g, o), s in scores.items() if s > 0 and demand.get(g, 0) > 0 and spare_capacity.get(o, 0) > 0
    ]
    if not edges:
        return []
    group_row = {g: i for i, g in enumerate(sorted({g for g, _, _ in edges}, key=repr))}
    operator_row = {o: len(group_row) + i for i, o in enumerate(sorted({o for _, o, _ in edges}))}
    columns = np.arange(len(edges))
    rows = np.concatenate([[group_row[g] for g, _, _ in edges], [operator_row[o] for _, o, _ in edges]])
    matrix = coo_matrix(
        (np.ones(2 * len(edges)), (rows, np.concatenate([columns, columns]))),
        shape=(len(group_row) + len(operator_row), len(edges)),
    ).tocsr()
    limits = np.array([demand[g] for g in group_row] + [spare_capacity[o] for o in operator_row], dtype=float)
    upper = [min(demand[g], spare_capacity[o]) for g, o, _ in edges]
    result = linprog(
        -np.array([s for _, _, s in edges]),
        A_ub=matrix,
        b_ub=limits,
        bounds=np.column_stack([np.zeros(len(edges)), upper]),
        method="highs-ds",
    )
    if result.status != 0:
        raise RuntimeError(f"allocation solver failed: {result.message}")
    counts = np.rint(result.x).astype(np.int64)
    return [Flow(g, o, int(n), s) for (g, o, s), n in zip(edges, counts, strict=True) if n > 0]


def allocate(
    scores: dict[tuple[int, int], float],
    spare_capacity: dict[int, int],
    need_count: int,
) -> list[Assignment]:
    """scores: (need index, operator id) → score; every need is its own group."""
    flows = allocate_groups(scores, {n: 1 for n in range(need_count)}, spare_capacity)
    return sorted((Assignment(f.group, f.operator_id, f.score) for f in flows), key=lambda a: a.need_index)


def greedy_groups(
    scores: dict[tuple[G, int], float], demand: dict[G, int], spare_capacity: dict[int, int]
) -> list[Flow[G]]:
    """Highest score first, as many needs as both sides allow: the baseline the optimum must never lose to."""
    left_demand, left_capacity = dict(demand), dict(spare_capacity)
    flows: list[Flow[G]] = []
    for (group, operator_id), s in sorted(scores.items(), key=lambda item: -item[1]):
        count = min(left_demand.get(group, 0), left_capacity.get(operator_id, 0))
        if count > 0 and s > 0:
            left_demand[group] -= count
            left_capacity[operator_id] -= count
            flows.append(Flow(group, operator_id, count, s))
    return flows


def greedy(scores: dict[tuple[int, int], float], spare_capacity: dict[int, int]) -> list[Assignment]:
    """Highest score first: the baseline the optimal allocation must never do worse than."""
    left = dict(spare_capacity)
    taken: set[int] = set()
    result = []
    for (need, operator_id), s in sorted(scores.items(), key=lambda item: -item[1]):
        if need in taken or left.get(operator_id, 0) <= 0 or s <= 0:
            continue
        taken.add(need)
        left[operator_id] -= 1
        result.append(Assignment(need, operator_id, s))
    return sorted(result, key=lambda a: a.need_index)


@dataclass(frozen=True)
class AllianceChoice:
    alliance_id: int
    members: dict[int, tuple[int, float]]  # need → (member operator, score)
    total: float  # the members' scores over the community's needs
    replaced: float  # what the lines it replaces scored together (a need left unassigned counts 0)


def alliance_choice(
    needs: list[tuple[int, str]],
    current: dict[int, tuple[int | None, float | None]],
    offers: dict[int, tuple[int, dict[str, list[tuple[int, float]]]]],
    spare_capacity: dict[int, int],
) -> AllianceChoice | None:
    """Whether an alliance should take a community's whole set of needs instead of the lines the optimiser
    gave them. `needs`: (need, category) of one community; `current`: need → (operator, score) as planned;
    `offers`: alliance → (lead, category → [(member, score)]) of its members in good standing that can serve
    the community; `spare_capacity`: what each operator has left after the plan so far.

    An alliance qualifies when it covers every need (two or more) with members who, with the lead, each have
    a unit of capacity left once the replaced lines give theirs back, and its members score together at least
    what the replaced lines did. The best total wins, then the lowest alliance id."""
    if len(needs) < 2:
        return None
    replaced = round(sum(score or 0 for _, score in current.values()), 1)
    freed: dict[int, int] = {}
    for operator_id, _ in current.values():
        if operator_id is not None:
            freed[operator_id] = freed.get(operator_id, 0) + 1
    best: AllianceChoice | None = None
    for alliance_id in sorted(offers):
        lead_id, by_category = offers[alliance_id]
        chosen: dict[int, tuple[int, float]] = {}
        for need_id, category in needs:
            options = sorted(by_category.get(category, []), key=lambda o: (-o[1], o[0]))
            if not options:
                break
            chosen[need_id] = options[0]
        if len(chosen) != len(needs):
            continue
        taking = {lead_id} | {operator_id for operator_id, _ in chosen.values()}
        if any(spare_capacity.get(o, 0) + freed.get(o, 0) < 1 for o in taking):
            continue
        total = round(sum(score for _, score in chosen.values()), 1)
        if total >= replaced and (best is None or total > best.total):
            best = AllianceChoice(alliance_id, chosen, total, replaced)
    return best


__all__ = [
    "AllianceChoice",
    "Assignment",
    "Flow",
    "alliance_choice",
    "allocate",
    "allocate_groups",
    "greedy",
    "greedy_groups",
]
