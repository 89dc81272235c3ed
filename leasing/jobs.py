"""What the scheduler runs for leasing: rent invoices, arrears, ending leases, payment reconciliation. Each
job returns counts for the run log; flags come back as drafts for the scheduler to raise."""

from __future__ import annotations

from datetime import date

import msgspec

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


async def end_leases() -> dict:
    return await leasing.end_leases()


async def reconcile_payments() -> dict:
    return await leasing.reconcile_payments()
