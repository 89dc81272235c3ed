"""City-wide allocation: assign open needs to operators to maximise the total score without exceeding any
operator's spare capacity. Solved exactly as a minimum-weight bipartite matching (SciPy), not greedily.

Each operator appears as one column per unit of spare capacity it could use, and each need also has a
column of its own meaning "leave unassigned", so a full matching always exists. Each assigned need uses
one unit of capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching


@dataclass(frozen=True)
class Assignment:
    need_index: int
    operator_id: int
    score: float


def allocate(scores: dict[tuple[int, int], float], spare_capacity: dict[int, int], need_count: int,
             ) -> list[Assignment]:
    """scores: (need index, operator id) → score > 0 for the pairs that may be assigned."""
    edges = [(n, o, s) for (n, o), s in scores.items() if s > 0 and spare_capacity.get(o, 0) > 0]
    if not edges:
        return []
    demand: dict[int, int] = {}
    for _, operator_id, _ in edges:
        demand[operator_id] = demand.get(operator_id, 0) + 1
    # Column slots per operator: never more than its spare capacity or the needs that could use it.
    first_column: dict[int, int] = {}
    slots: dict[int, int] = {}
    column = 0
    for operator_id in sorted(demand):
        first_column[operator_id] = column
        slots[operator_id] = min(spare_capacity[operator_id], demand[operator_id])
        column += slots[operator_id]
    unassigned_column = column  # need i's "unassigned" column is unassigned_column + i
    total_columns = column + need_count

    # Costs must be positive (a sparse zero means "no edge"): cost = ceiling − score, unassigned = ceiling.
    ceiling = max(s for _, _, s in edges) + 1.0
    rows, cols, costs = [], [], []
    for need, operator_id, s in edges:
        for k in range(slots[operator_id]):
            rows.append(need)
            cols.append(first_column[operator_id] + k)
            costs.append(ceiling - s)
    for need in range(need_count):
        rows.append(need)
        cols.append(unassigned_column + need)
        costs.append(ceiling)
    matrix = csr_matrix((np.array(costs), (np.array(rows), np.array(cols))), shape=(need_count, total_columns))
    matched_rows, matched_cols = min_weight_full_bipartite_matching(matrix)

    column_owner = np.full(total_columns, -1, dtype=np.int64)
    for operator_id, start in first_column.items():
        column_owner[start:start + slots[operator_id]] = operator_id
    result = []
    for need, col in zip(matched_rows, matched_cols, strict=True):
        operator_id = int(column_owner[col])
        if operator_id >= 0:
            result.append(Assignment(int(need), operator_id, scores[(int(need), operator_id)]))
    return sorted(result, key=lambda a: a.need_index)


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


__all__ = ["Assignment", "allocate", "greedy"]
