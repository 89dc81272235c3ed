"""Every scheduled job, in one list. Times are Asia/Shanghai business time."""

from __future__ import annotations

from scheduler import service
from scheduler.engine import Job
from scheduler.schedule import Daily, Every, Monthly

JOBS: list[Job] = [
    Job("lifecycle", "租约到期与合同到期状态", Daily(hour=0, minute=30), service.lifecycle),
    Job("rent_invoices", "生成租金账单", Daily(hour=1), service.rent_invoices),
    Job("overdue_invoices", "逾期账单与欠缴提醒", Daily(hour=1, minute=30), service.overdue_invoices),
    Job("renewal_flags", "租约、合同、名录到期提醒（90/60/30 天）", Daily(hour=2), service.renewal_flags),
    Job("registry_rules", "名录评价规则复核", Daily(hour=3), service.registry_rules),
    Job("balance_snapshot", "社区收支平衡月度快照与预警", Monthly(hour=4), service.balance_snapshot),
    Job("balance_report", "收支平衡月报发送建委", Monthly(hour=8), service.balance_report),
    Job("payments_reconcile", "支付对账", Every(seconds=600), service.reconcile_payments),
    Job("outbox", "发送邮件", Every(seconds=30), service.send_outbox),
]


def job_named(name: str) -> Job | None:
    return next((job for job in JOBS if job.name == name), None)
