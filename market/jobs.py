"""What the scheduler runs for communities and contracts. Each job returns counts for the run log, and what
the scheduler keeps (balance snapshots, flags) as plain data: the market does not import the scheduler."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import msgspec

from core.clock import add_months
from core.flags import FlagDraft
from market import service as market

BALANCE_FLAG_KINDS = {
    "warning": ("balance_warning", "warning", "预警"),
    "imbalanced": ("balance_imbalanced", "critical", "失衡"),
}


class SnapshotDraft(msgspec.Struct, kw_only=True):
    community_id: int
    income: int
    cost: int
    ratio: Decimal | None
    status: str


class BalanceFindings(msgspec.Struct, kw_only=True):
    communities: int
    snapshots: list[SnapshotDraft]
    flags: list[FlagDraft]
    balanced: list[int]  # communities now in balance, whose earlier balance flags resolve


async def mark_expiring_contracts() -> dict:
    return {"contracts_expiring": len(await market.mark_expiring_contracts())}


async def balance_findings(month: date) -> BalanceFindings:
    """Each community's balance over the 12 months ending with `month`; 预警 and 失衡 as flags for the month."""
    start, end = add_months(month, -11), add_months(month, 1)
    rows = await market.balances(start, end)
    snapshots = [
        SnapshotDraft(
            community_id=r["id"],
            income=r["income"],
            cost=r["cost"],
            ratio=r["balance"].ratio,
            status=r["balance"].status.value,
        )
        for r in rows
    ]
    flags = []
    for row in rows:
        status = row["balance"].status.value
        if status in BALANCE_FLAG_KINDS:
            kind, severity, label = BALANCE_FLAG_KINDS[status]
            ratio = f"{row['balance'].ratio:.2f}"
            flags.append(
                FlagDraft(
                    kind=kind,
                    subject_type="community",
                    subject_id=row["id"],
                    mark=f"{month:%Y-%m}",
                    severity=severity,
                    scope_path=row["org_path"],
                    title=f"{row['district_name']}{row['street_name']}{row['name']} 近 12 个月收支{label}（收支比 {ratio}）",
                    detail={"income": row["income"], "cost": row["cost"], "ratio": ratio, "month": f"{month:%Y-%m}"},
                )
            )
    balanced = [r["id"] for r in rows if r["balance"].status.value not in BALANCE_FLAG_KINDS]
    return BalanceFindings(communities=len(rows), snapshots=snapshots, flags=flags, balanced=balanced)


async def quarterly_evaluations(
    quarter: date,
    arrears: dict[tuple[int, int], int] | None = None,
    satisfaction: dict[int, Decimal] | None = None,
) -> dict:
    """Each contract in force during the quarter starting `quarter` gets its computed evaluation, once; with
    the residents' satisfaction rate by contract where a survey of the quarter closed (from residents)."""
    return {"evaluations": len(await market.quarterly_evaluations(quarter, arrears, satisfaction))}


async def registry_decision_flags() -> tuple[list[FlagDraft], list[int]]:
    """A flag for the street of each active contract whose operator was suspended or removed and on which it
    has not decided yet (marked by the registry's status decision, so a later suspension flags anew), and
    the contracts still waiting, for the flags of the others to resolve."""
    waiting = await market.contracts_awaiting_decision()
    flags = [
        FlagDraft(
            kind="contract_registry_status",
            subject_type="contract",
            subject_id=c.contract_id,
            mark=str(c.status_decision_id),
            severity="critical",
            scope_path=c.street_path,
            title=(
                f"{c.community_name or ''} {c.operator_name} 已被{'暂停' if c.registry_status == 'suspended' else '移出'}"
                f"名录，请决定服务合同继续履行至 {c.ends_on} 期满或终止"
            ),
            detail={
                "registry_status": c.registry_status,
                "status_reason": c.status_reason,
                "ends_on": c.ends_on,
                "street_id": c.street_id,
            },
        )
        for c in waiting
    ]
    return flags, [c.contract_id for c in waiting]
