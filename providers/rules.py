"""Registry rules as pure functions: which status changes are allowed, and what evaluations propose."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from providers.tables import RegistryStatus as S

# Decisions a reviewer may take by hand, from → allowed targets. "listed" from warned/suspended/removed
# is reinstatement. Nobody sets "expired" by hand: the nightly job does when every listing has lapsed, and a
# published renewal lists the operator again; an expired operator may still be suspended or removed.
ALLOWED_CHANGES: dict[S, set[S]] = {
    S.unlisted: set(),
    S.listed: {S.warned, S.suspended, S.removed},
    S.warned: {S.listed, S.suspended, S.removed},
    S.suspended: {S.listed, S.warned, S.removed},
    S.removed: {S.listed},
    S.expired: {S.suspended, S.removed},
}

SEVERITY = {S.unlisted: 0, S.listed: 0, S.warned: 1, S.suspended: 2, S.removed: 3, S.expired: 0}


def can_change(current: S, target: S) -> bool:
    return target in ALLOWED_CHANGES[current]


@dataclass(frozen=True)
class Thresholds:
    window: int = 3  # how many of the latest evaluations count
    warn_score: int = 70
    suspend_score: int = 60
    warn_satisfaction: int = 80
    warn_complaints: int = 10


@dataclass(frozen=True)
class EvaluationFacts:
    score: int
    satisfaction: Decimal | None  # none when no survey reached the period (computed evaluations)
    complaints: int
    period_end: date


@dataclass(frozen=True)
class Proposal:
    status: S
    rule: str
    evidence: dict


def propose(current: S, evaluations: list[EvaluationFacts], t: Thresholds) -> Proposal | None:
    """A warning or suspension the latest evaluations call for, if it is more severe than today's status.

    Only listed or warned operators are considered: a suspended or removed one is already out.
    """
    if current not in (S.listed, S.warned) or not evaluations:
        return None
    latest = sorted(evaluations, key=lambda e: e.period_end, reverse=True)[: t.window]
    average_score = Decimal(sum(e.score for e in latest)) / len(latest)
    surveyed = [e.satisfaction for e in latest if e.satisfaction is not None]
    average_satisfaction = sum(surveyed, Decimal(0)) / len(surveyed) if surveyed else None
    complaints = sum(e.complaints for e in latest)
    evidence = {
        "evaluations": len(latest),
        "average_score": str(average_score.quantize(Decimal("0.1"))),
        "average_satisfaction": (
            str(average_satisfaction.quantize(Decimal("0.1"))) if average_satisfaction is not None else None
        ),
        "complaints": complaints,
    }
    if average_score < t.suspend_score:
        proposal = Proposal(S.suspended, "average_score_below_suspend", evidence)
    elif average_score < t.warn_score:
        proposal = Proposal(S.warned, "average_score_below_warn", evidence)
    elif average_satisfaction is not None and average_satisfaction < t.warn_satisfaction:
        proposal = Proposal(S.warned, "satisfaction_below_warn", evidence)
    elif complaints >= t.warn_complaints:
        proposal = Proposal(S.warned, "complaints_at_or_above_warn", evidence)
    else:
        return None
    return proposal if SEVERITY[proposal.status] > SEVERITY[current] else None


RULE_LABELS = {
    "average_score_below_suspend": "近期评价平均分低于暂停线",
    "average_score_below_warn": "近期评价平均分低于警示线",
    "satisfaction_below_warn": "居民满意度低于警示线",
    "complaints_at_or_above_warn": "投诉次数达到警示线",
}
