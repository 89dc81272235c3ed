"""What the scheduled jobs do, through the domains' own service functions, and the flags officials work.

Every job takes the date of its period (a day, or the first of the month it reports on) and returns counts
for the run log. Each effect has a natural key, so running a job again for a period adds nothing.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from core import clock
from core.accounts.principal import OFFICIAL_ROLES, Principal, like_patterns
from core.audit import service as audit
from core.clock import add_months
from core.db import transaction
from core.errors import NotFound, PermissionDenied, require_reason
from core.outbox import service as outbox
from core.pagination import with_total
from core.settings import get_settings
from leasing import repository as leasing_repo
from leasing import service as leasing
from market import repository as market_repo
from market import service as market
from providers import repository as providers_repo
from providers import service as providers
from scheduler import report
from scheduler import repository as repo


class FlagNotFound(NotFound):
    code = "flag.not_found"
    message = "待办事项不存在或无权查看"


# Rent and payments ------------------------------------------------------------------------------


async def rent_invoices(day: date) -> dict:
    return {"created": await leasing.generate_invoices(through=day)}


async def overdue_invoices(day: date) -> dict:
    """Mark invoices past due, flag each one in arrears, and resolve the flags of those since paid."""
    marked = await leasing.mark_overdue_invoices()
    flagged = [r["subject_id"] for r in await repo.open_flag_subjects(["invoice_overdue"])]
    overdue = await leasing_repo.overdue_invoices(excluding=flagged)
    flags = [
        {
            "kind": "invoice_overdue",
            "subject_type": "rent_invoice",
            "subject_id": row["id"],
            "mark": "overdue",
            "severity": "warning",
            "scope_path": row["community_path"],
            "title": f"{row['community_name']} {row['operator_name']} {row['month']:%Y-%m} 租金逾期未缴",
            "detail": {"amount": row["amount"], "due_on": row["due_on"]},
        }
        for row in overdue
    ]
    async with transaction():
        raised = await repo.raise_flags(flags, clock.now())
        settled = await leasing_repo.invoices_no_longer_overdue(flagged)
        resolved = await repo.resolve_flags("invoice_overdue", "rent_invoice", settled, "已缴清或已作废", clock.now())
    return {"marked_overdue": len(marked), "flags_raised": len(raised), "flags_resolved": len(resolved)}


async def lifecycle(day: date) -> dict:
    ended = await leasing.end_leases()
    contracts = await market.mark_expiring_contracts()
    return {**ended, "contracts_expiring": len(contracts)}


async def reconcile_payments() -> dict:
    return await leasing.reconcile_payments()


async def send_outbox() -> dict:
    result = await outbox.send_pending()
    return {"sent": result.sent, "retried": result.retried, "gave_up": result.gave_up}


# Renewals --------------------------------------------------------------------------------------

RENEWAL_SUBJECTS = {
    # kind: (subject type, what it is called, fetch: rows ending in (after, until])
    "lease_renewal": ("lease", "租约", leasing_repo.leases_ending),
    "contract_renewal": ("contract", "服务合同", market_repo.contracts_ending),
    "listing_renewal": ("listing", "名录入库资格", providers_repo.listings_ending),
}
SEVERITY_BY_THRESHOLD = {30: "critical", 60: "warning"}


def reached_threshold(days_left: int, thresholds: list[int]) -> int | None:
    """The tightest threshold a subject ending in `days_left` days has reached."""
    reached = [t for t in thresholds if days_left <= t]
    return min(reached) if reached else None


def _operator(row: dict) -> str:
    return row.get("operator_name") or row["lessee_name"]


def _renewal_title(noun: str, row: dict, days_left: int) -> str:
    if row.get("category_name"):
        who = f"{row['operator_name']}（{row['category_name']}）"
    else:
        who = f"{row.get('community_name') or row.get('street_name')}{row.get('address') or ''} {_operator(row)}"
    return f"{who} {noun}将于 {row.get('ends_on') or row['valid_until']} 到期（剩 {days_left} 天），请及时办理续签"


async def renewal_flags(day: date) -> dict:
    """Leases, service contracts and registry listings ending within the thresholds (90, 60, 30 days):
    one flag per threshold, the operator and the responsible street emailed once each; a looser flag is
    superseded by a tighter one; flags resolve when the subject is renewed or no longer in force."""
    thresholds = get_settings().renewal_thresholds_days
    today = clock.today()
    horizon = today + timedelta(days=max(thresholds))
    counts = {"raised": 0, "resolved": 0, "emails": 0}
    for kind, (subject_type, noun, fetch) in RENEWAL_SUBJECTS.items():
        rows = await fetch(today, horizon)
        flags = []
        for row in rows:
            ends_on = row.get("ends_on") or row["valid_until"]
            days_left = (ends_on - today).days
            threshold = reached_threshold(days_left, thresholds)
            if threshold is None:
                continue
            flags.append(
                {
                    "kind": kind,
                    "subject_type": subject_type,
                    "subject_id": row["id"],
                    "mark": str(threshold),
                    "severity": SEVERITY_BY_THRESHOLD.get(threshold, "info"),
                    "scope_path": row["community_path"],
                    "title": _renewal_title(noun, row, days_left),
                    "detail": {
                        "ends_on": ends_on,
                        "threshold_days": threshold,
                        "operator": _operator(row),
                        "contact_email": row["contact_email"],
                        "street_id": row.get("street_id"),
                    },
                }
            )
        async with transaction():
            raised = await repo.raise_flags(flags, clock.now())
            counts["raised"] += len(raised)
            counts["resolved"] += await repo.resolve_superseded(
                kind, subject_type, [(f["subject_id"], int(f["mark"])) for f in raised], clock.now()
            )
            counts["emails"] += await _email_renewals(raised)
            if kind != "listing_renewal":
                open_ids = [
                    r["subject_id"] for r in await repo.open_flag_subjects([kind]) if r["subject_type"] == subject_type
                ]
                still_due = await repo.renewal_subjects_still_due(kind, open_ids) if open_ids else set()
                counts["resolved"] += len(
                    await repo.resolve_flags(
                        kind, subject_type, [i for i in open_ids if i not in still_due], "已续签或已终止", clock.now()
                    )
                )
    return counts


async def _email_renewals(flags: list[dict]) -> int:
    """The operator and the street's officials, once per flag and address: one statement."""
    street_ids = sorted({f["detail"]["street_id"] for f in flags if f["detail"].get("street_id")})
    streets = await repo.street_emails(street_ids) if street_ids else {}
    emails = []
    for flag in flags:
        addresses = [flag["detail"]["contact_email"], *streets.get(flag["detail"].get("street_id"), [])]
        for address in dict.fromkeys(a for a in addresses if a):
            emails.append(
                (
                    address,
                    f"【到期提醒】{flag['title']}",
                    f"{flag['title']}。\n\n此邮件由系统自动发送。",
                    f"flag:{flag['id']}:{address}",
                )
            )
    return await outbox.enqueue_many(emails)


# Registry --------------------------------------------------------------------------------------


async def registry_rules(day: date) -> dict:
    """Proposals from evaluations for a reviewer to confirm. Listings expire by their own dates."""
    return {"proposals": len(await providers.run_registry_rules())}


# Balance ---------------------------------------------------------------------------------------

BALANCE_FLAG_KINDS = {
    "warning": ("balance_warning", "warning", "预警"),
    "imbalanced": ("balance_imbalanced", "critical", "失衡"),
}


async def balance_snapshot(month: date) -> dict:
    """Each community's balance over the 12 months ending with `month`, kept; 预警 and 失衡 flagged for
    the month; earlier balance flags of communities now in balance resolved."""
    start, end = add_months(month, -11), add_months(month, 1)
    rows = await market.balances(start, end)
    snapshot = [
        {
            "community_id": r["id"],
            "income": r["income"],
            "cost": r["cost"],
            "ratio": r["balance"].ratio,
            "status": r["balance"].status.value,
        }
        for r in rows
    ]
    flags = []
    for row in rows:
        status = row["balance"].status.value
        if status in BALANCE_FLAG_KINDS:
            kind, severity, label = BALANCE_FLAG_KINDS[status]
            ratio = f"{row['balance'].ratio:.2f}"
            flags.append(
                {
                    "kind": kind,
                    "subject_type": "community",
                    "subject_id": row["id"],
                    "mark": f"{month:%Y-%m}",
                    "severity": severity,
                    "scope_path": row["org_path"],
                    "title": f"{row['district_name']}{row['street_name']}{row['name']} 近 12 个月收支{label}（收支比 {ratio}）",
                    "detail": {"income": row["income"], "cost": row["cost"], "ratio": ratio, "month": f"{month:%Y-%m}"},
                }
            )
    balanced = [r["id"] for r in rows if r["balance"].status.value not in BALANCE_FLAG_KINDS]
    async with transaction():
        stored = await repo.insert_snapshots(month, snapshot, clock.now())
        raised = await repo.raise_flags(flags, clock.now())
        resolved = 0
        for kind, _, _ in BALANCE_FLAG_KINDS.values():
            resolved += len(await repo.resolve_flags(kind, "community", balanced, "收支已恢复平衡", clock.now()))
    return {"communities": len(rows), "snapshots": stored, "flags_raised": len(raised), "flags_resolved": resolved}


# The monthly balance report ----------------------------------------------------------------------


async def _queue_report(month: date, recipients: list[str], key_suffix: str = "") -> int:
    built = await report.build(month)
    queued = 0
    async with transaction():
        for address in recipients:
            email_id = await outbox.enqueue(
                address,
                built.subject,
                built.text,
                body_html=built.html,
                attachments=built.attachments(),
                dedupe_key=f"balance-report:{month:%Y-%m}:{address}{key_suffix}",
            )
            queued += email_id is not None
    return queued


async def balance_report(month: date) -> dict:
    """The report for `month` to every recipient, once per recipient and month."""
    return {"queued": await _queue_report(month, get_settings().report_recipients)}


async def resend_report(principal: Principal, month: date, recipients: list[str] | None) -> int:
    """On request, the report again (to the usual recipients or the given ones)."""
    addresses = recipients or get_settings().report_recipients
    queued = await _queue_report(month, addresses, key_suffix=f":resend:{uuid.uuid4().hex[:12]}")
    await audit.record(principal, "report.resend", "balance_report", f"{month:%Y-%m}", after={"to": addresses})
    return queued


async def report_for(month: date) -> report.MonthlyReport:
    return await report.build(month)


# The run log ------------------------------------------------------------------------------------


async def latest_runs() -> dict[str, dict]:
    return await repo.latest_runs()


async def list_runs(*, job: str | None, status: str | None, limit: int, offset: int):
    return await with_total(lambda lim, off: repo.list_runs(job, status, lim, off), limit, offset)


async def record_manual_run(principal: Principal, job: str, periods: list[str]) -> None:
    async with transaction():
        await audit.record(principal, "job.run_now", "job", job, after={"periods": periods})


# Flags for officials ---------------------------------------------------------------------------


async def list_flags(principal: Principal, *, kind: str | None, state: str, limit: int, offset: int):
    patterns = like_patterns(principal.read_paths())
    return await with_total(
        lambda lim, off: repo.list_flags(patterns=patterns, kind=kind, state=state, limit=lim, offset=off),
        limit,
        offset,
    )


async def _flag_to_work(principal: Principal, flag_id: int) -> dict:
    flag = await repo.get_flag(flag_id, for_update=True)
    if flag is None or not principal.can_read_path(flag["scope_path"]):
        raise FlagNotFound()
    if not principal.can_write_path(flag["scope_path"], *OFFICIAL_ROLES):
        raise PermissionDenied()
    return flag


async def acknowledge_flag(principal: Principal, flag_id: int) -> dict:
    async with transaction():
        flag = await _flag_to_work(principal, flag_id)
        if flag["acknowledged_at"] is None:
            now = clock.now()
            await repo.acknowledge_flag(flag_id, principal.user_id, now)
            await audit.record(
                principal,
                "flag.acknowledge",
                "flag",
                flag_id,
                before={"acknowledged_at": None},
                after={"acknowledged_at": now},
            )
    return await repo.get_flag(flag_id)


async def resolve_flag(principal: Principal, flag_id: int, reason: str) -> dict:
    reason = require_reason(reason)
    async with transaction():
        flag = await _flag_to_work(principal, flag_id)
        if flag["resolved_at"] is None:
            now = clock.now()
            await repo.resolve_flag(flag_id, principal.user_id, reason, now)
            await audit.record(
                principal,
                "flag.resolve",
                "flag",
                flag_id,
                reason=reason,
                before={"resolved_at": None},
                after={"resolved_at": now},
            )
    return await repo.get_flag(flag_id)
