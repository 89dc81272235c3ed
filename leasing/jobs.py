"""What the scheduler runs for leasing: rent invoices, arrears, ending leases, payment reconciliation. Each
job returns counts for the run log; flags come back as drafts for the scheduler to raise."""

from __future__ import annotations

from datetime import date, datetime, time

import msgspec

from core.clock import BUSINESS_TZ
from core.flags import FlagDraft
from leasing import repository as leasing_repo
from leasing import service as leasing


class OverdueFindings(msgspec.Struct, kw_only=True):
    marked: int
    flags: list[FlagDraft]  # invoices in arrears not flagged yet
    settled: list[int]  # flagged invoices since paid or voided


async def rent_invoices(day: date) -> dict:
    return {"created": await leasing.generate_invoices(through=day)}


async def overdue_invoices(flagged: list[int]) -> OverdueFindings:
    """Mark invoices past due; of the rest in arrears, those not among `flagged` become flag drafts."""
    marked = await leasing.mark_overdue_invoices()
    await leasing.charge_late_fees()
    overdue = await leasing_repo.overdue_invoices(excluding=flagged)
    flags = [
        FlagDraft(
            kind="invoice_overdue",
            subject_type="rent_invoice",
            subject_id=row.id,
            mark="overdue",
            severity="warning",
            scope_path=row.community_path,
            title=f"{row.community_name} {row.operator_name} {row.month:%Y-%m} 租金逾期未缴",
            detail={"amount": row.amount, "due_on": row.due_on},
        )
        for row in overdue
    ]
    settled = await leasing_repo.invoices_no_longer_overdue(flagged)
    return OverdueFindings(marked=len(marked), flags=flags, settled=settled)


class StandingFindings(msgspec.Struct, kw_only=True):
    flags: list[FlagDraft]  # active leases of lessees no longer in good standing
    settled: list[int]  # flagged leases since ended, or whose lessee is back in good standing


STANDING_LABELS = {"suspended": "暂停", "removed": "移出", "expired": "到期失效"}


async def lessee_standing(flagged: list[int]) -> StandingFindings:
    """Each active lease of an operator the registry suspended or removed becomes a flag for its street to
    decide: let the lease run to its end, or terminate it with a reason. One flag per lease and status, so a
    removal after a suspension is asked again."""
    flags = [
        FlagDraft(
            kind="lessee_standing",
            subject_type="lease",
            subject_id=row.id,
            mark=row.registry_status,
            severity="critical",
            scope_path=row.community_path,
            title=f"{row.community_name}{row.address} 承租方{row.lessee_name}名录状态为"
            f"{STANDING_LABELS.get(row.registry_status, row.registry_status)}，请决定继续履约至期满或终止租约",
            detail={
                "lessee_id": row.lessee_id,
                "registry_status": row.registry_status,
                "ends_on": row.ends_on,
                "choices": ["continue", "terminate"],
            },
        )
        for row in await leasing_repo.leases_of_lessees_not_in_good_standing()
    ]
    return StandingFindings(flags=flags, settled=await leasing_repo.leases_no_longer_at_risk(flagged))


async def end_leases() -> dict:
    return await leasing.end_leases()


async def reconcile_payments() -> dict:
    return await leasing.reconcile_payments()


async def lessee_arrears(start: date, end: date) -> dict[tuple[int, int], int]:
    """Rent invoices in arrears at the end of [start, end) per (lessee, community) leased in it, for the
    market's quarterly performance evaluation (the scheduler passes them on; the market cannot read leasing)."""
    return await leasing_repo.lessee_arrears(start, end, datetime.combine(end, time.min, tzinfo=BUSINESS_TZ))
