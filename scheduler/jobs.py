"""Every scheduled job, in one list. Times are Asia/Shanghai business time.

Every job takes the date of its period (a day, or the first of the month it reports on) and returns counts
for the run log. Each effect has a natural key, so running a job again for a period adds nothing. The
domains' jobs do their own work and hand back the flags they found; the flags are written here, since the
work queue of flags is the scheduler's. Four jobs stay here whole: renewal_flags looks at three domains
and emails the streets, lifecycle ends leases and contracts, and balance_report and send_outbox send the
scheduler's report and core's mail.
"""

from __future__ import annotations

from datetime import date, timedelta

from core import clock
from core.db import transaction
from core.flags import FlagDraft
from core.outbox import service as outbox
from core.settings import get_settings
from leasing import jobs as leasing_jobs
from leasing import repository as leasing_repo
from market import jobs as market_jobs
from market import repository as market_repo
from providers import jobs as providers_jobs
from providers import repository as providers_repo
from residents import jobs as residents_jobs
from scheduler import repository as repo
from scheduler import service
from scheduler.engine import Job
from scheduler.schedule import Daily, Every, Monthly, Quarterly
from scheduler.schemas import RaisedFlag


async def overdue_invoices(day: date) -> dict:
    """Mark invoices past due, flag each one in arrears, and resolve the flags of those since paid."""
    flagged = await repo.open_flag_subjects("invoice_overdue", "rent_invoice")
    found = await leasing_jobs.overdue_invoices(flagged)
    async with transaction():
        raised = await repo.raise_flags(found.flags, clock.now())
        resolved = await repo.resolve_flags(
            "invoice_overdue", "rent_invoice", found.settled, "已缴清或已作废", clock.now()
        )
    return {"marked_overdue": found.marked, "flags_raised": len(raised), "flags_resolved": len(resolved)}


async def lessee_standing(day: date) -> dict:
    """Flag each active lease of a lessee the registry suspended or removed, for its street to decide."""
    flagged = await repo.open_flag_subjects("lessee_standing", "lease")
    found = await leasing_jobs.lessee_standing(flagged)
    async with transaction():
        raised = await repo.raise_flags(found.flags, clock.now())
        resolved = await repo.resolve_flags(
            "lessee_standing", "lease", found.settled, "租约已结束或承租方已恢复正常", clock.now()
        )
    return {"flags_raised": len(raised), "flags_resolved": len(resolved)}


async def alliance_standing(day: date) -> dict:
    """Flag each member of an approved alliance no longer in good standing to the city and the alliance's
    lead, and resolve the flags of members since back in good standing."""
    flagged = await repo.open_flag_subjects("alliance_member_standing", "alliance_member")
    found = await providers_jobs.alliance_standing(flagged)
    async with transaction():
        raised = await repo.raise_flags(found.flags, clock.now())
        resolved = await repo.resolve_flags(
            "alliance_member_standing", "alliance_member", found.settled, "成员已恢复在库或已退出联盟", clock.now()
        )
    return {"flags_raised": len(raised), "flags_resolved": len(resolved)}


async def lifecycle(day: date) -> dict:
    ended = await leasing_jobs.end_leases()
    return {**ended, **await market_jobs.mark_expiring_contracts()}


async def balance_snapshot(month: date) -> dict:
    """Each community's balance over the 12 months ending with `month`, kept; 预警 and 失衡 flagged for
    the month; earlier balance flags of communities now in balance resolved."""
    found = await market_jobs.balance_findings(month)
    async with transaction():
        stored = await repo.insert_snapshots(month, found.snapshots, clock.now())
        raised = await repo.raise_flags(found.flags, clock.now())
        resolved = 0
        for kind, _, _ in market_jobs.BALANCE_FLAG_KINDS.values():
            resolved += len(await repo.resolve_flags(kind, "community", found.balanced, "收支已恢复平衡", clock.now()))
    return {
        "communities": found.communities,
        "snapshots": stored,
        "flags_raised": len(raised),
        "flags_resolved": resolved,
    }


async def balance_report(month: date) -> dict:
    """The report for `month` to every recipient, once per recipient and month."""
    return {"queued": await service.queue_report(month, get_settings().report_recipients)}


async def send_outbox() -> dict:
    result = await outbox.send_pending()
    return {"sent": result.sent, "retried": result.retried, "gave_up": result.gave_up}


async def quarterly_evaluations(quarter: date) -> dict:
    """Contracts' computed evaluations for the quarter, with the rent arrears that only leasing knows and the
    residents' satisfaction rates of the quarter's surveys (closed first, if the closing job has not yet)."""
    arrears = await leasing_jobs.lessee_arrears(quarter, clock.add_months(quarter, 3))
    satisfaction = await residents_jobs.satisfaction_by_contract(quarter)
    return await market_jobs.quarterly_evaluations(quarter, arrears, satisfaction)


async def registry_rules(day: date) -> dict:
    """The registry's nightly rules, then a flag for the street of each active contract whose operator is
    now suspended or removed, until the street decides; flags of contracts no longer waiting resolve."""
    counts = await providers_jobs.registry_rules(day)
    flags, waiting = await market_jobs.registry_decision_flags()
    async with transaction():
        raised = await repo.raise_flags(flags, clock.now())
        open_ids = await repo.open_flag_subjects("contract_registry_status", "contract")
        resolved = await repo.resolve_flags(
            "contract_registry_status",
            "contract",
            [i for i in open_ids if i not in set(waiting)],
            "运营商已恢复在库、合同已结束或街道已作出决定",
            clock.now(),
        )
    return {**counts, "contract_flags_raised": len(raised), "contract_flags_resolved": len(resolved)}


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
                FlagDraft(
                    kind=kind,
                    subject_type=subject_type,
                    subject_id=row["id"],
                    mark=str(threshold),
                    severity=SEVERITY_BY_THRESHOLD.get(threshold, "info"),
                    scope_path=row["community_path"],
                    title=_renewal_title(noun, row, days_left),
                    detail={
                        "ends_on": ends_on,
                        "threshold_days": threshold,
                        "operator": _operator(row),
                        "contact_email": row["contact_email"],
                        "street_id": row.get("street_id"),
                    },
                    also_paths=[p for p in (row.get("operator_path"), row.get("recommender_path")) if p],
                )
            )
        async with transaction():
            raised = await repo.raise_flags(flags, clock.now())
            counts["raised"] += len(raised)
            counts["resolved"] += await repo.resolve_superseded(
                kind, subject_type, [(f.subject_id, int(f.mark)) for f in raised], clock.now()
            )
            counts["emails"] += await _email_renewals(raised)
            if kind != "listing_renewal":
                open_ids = await repo.open_flag_subjects(kind, subject_type)
                still_due = await repo.renewal_subjects_still_due(kind, open_ids) if open_ids else set()
                counts["resolved"] += len(
                    await repo.resolve_flags(
                        kind, subject_type, [i for i in open_ids if i not in still_due], "已续签或已终止", clock.now()
                    )
                )
    return counts


async def _email_renewals(flags: list[RaisedFlag]) -> int:
    """The operator and the street's officials, once per flag and address: one statement."""
    street_ids = sorted({f.detail["street_id"] for f in flags if f.detail.get("street_id")})
    streets = await repo.street_emails(street_ids) if street_ids else {}
    emails = []
    for flag in flags:
        street_id = flag.detail.get("street_id")
        addresses = [flag.detail["contact_email"], *(streets.get(street_id, []) if street_id else [])]
        for address in dict.fromkeys(a for a in addresses if a):
            emails.append(
                (
                    address,
                    f"【到期提醒】{flag.title}",
                    f"{flag.title}。\n\n此邮件由系统自动发送。",
                    f"flag:{flag.id}:{address}",
                )
            )
    return await outbox.enqueue_many(emails)


JOBS: list[Job] = [
    Job("lifecycle", "租约到期与合同到期状态", Daily(hour=0, minute=30), lifecycle),
    Job("rent_invoices", "生成租金账单", Daily(hour=1), leasing_jobs.rent_invoices),
    Job("overdue_invoices", "逾期账单与欠缴提醒", Daily(hour=1, minute=30), overdue_invoices),
    Job("renewal_flags", "租约、合同、名录到期提醒（90/60/30 天）", Daily(hour=2), renewal_flags),
    Job("registry_rules", "名录到期、评价规则复核与暂停移出后的合同待决定提醒", Daily(hour=3), registry_rules),
    Job("lessee_standing", "承租运营商被暂停或移出名录的租约提醒", Daily(hour=3, minute=30), lessee_standing),
    Job("alliance_standing", "产业联盟成员被暂停、移出或入库失效的提醒", Daily(hour=3, minute=45), alliance_standing),
    Job(
        "open_surveys",
        "按季度为在履行的服务合同开启居民满意度测评",
        Daily(hour=0, minute=15),
        residents_jobs.open_surveys,
    ),
    Job("balance_snapshot", "社区收支平衡月度快照与预警", Monthly(hour=4), balance_snapshot),
    Job("expire_points", "居民积分到期清零（先进先出）", Monthly(hour=2, minute=30), residents_jobs.expire_points),
    Job("balance_report", "收支平衡月报发送建委", Monthly(hour=8), balance_report),
    Job(
        "quarterly_evaluations",
        "服务合同季度履约评价（按事实计算）",
        Quarterly(hour=5),
        quarterly_evaluations,
    ),
    Job("payments_reconcile", "支付对账", Every(seconds=600), leasing_jobs.reconcile_payments),
    Job("outbox", "发送邮件", Every(seconds=30), send_outbox),
    Job("close_polls", "关闭到期的居民投票并公布结果", Every(seconds=60), residents_jobs.close_polls),
    Job("close_surveys", "关闭到期的满意度测评并计算满意度", Every(seconds=300), residents_jobs.close_surveys),
]


def job_named(name: str) -> Job | None:
    return next((job for job in JOBS if job.name == name), None)
