"""The scheduler's own records: the run log with its (job, period) claims, the officials' work queue of
flags, and the monthly balance snapshot of every community."""

from __future__ import annotations

from enum import Enum

from piccolo.columns import JSONB, Array, BigInt, Date, ForeignKey, Integer, Numeric, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from core.accounts.tables import User
from market.tables import Community


class RunStatus(str, Enum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class FlagState(str, Enum):
    """Which flags a list shows."""

    open = "open"
    resolved = "resolved"
    all = "all"


class Severity(str, Enum):
    info = "info"
    warning = "warning"
    critical = "critical"


class JobRun(Table, tablename="scheduler_job_run"):
    """One job for one period. Claimed before the job acts; unique, so a period runs once."""

    id: Serial
    job = Varchar(length=60)
    period = Varchar(length=20)  # "2026-11-23" for a day, "2026-10" for a month
    status = Varchar(length=10, choices=RunStatus, default=RunStatus.running, index=True)
    attempt = Integer(default=1)
    runner = Varchar(length=120, default="")
    started_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
    duration_ms = Integer(null=True, default=None)
    result = JSONB(default="{}")
    error = Text(default="")


class Flag(Table, tablename="scheduler_flag"):
    """Something an official should look at. Raised once per (kind, subject, mark): a renewal flag per
    threshold (90, 60, 30 days), a balance flag per month. Resolved by a person or when the cause goes."""

    id: Serial
    kind = Varchar(length=40)
    subject_type = Varchar(length=30)
    subject_id = Integer()
    mark = Varchar(length=20)
    severity = Varchar(length=10, choices=Severity, default=Severity.warning)
    title = Varchar(length=300)
    detail = JSONB(default="{}")
    scope_path = Varchar(length=400, index=True)  # the org subtree whose officials see it
    also_paths = Array(base_column=Varchar(length=400), default=list)  # further orgs that see it, read-only
    opened_at = Timestamptz()
    acknowledged_at = Timestamptz(null=True, default=None)
    acknowledged_by = ForeignKey(User, null=True, default=None)
    resolved_at = Timestamptz(null=True, default=None)
    resolved_by = ForeignKey(User, null=True, default=None)
    resolution = Text(default="")


class BalanceSnapshot(Table, tablename="scheduler_balance_snapshot"):
    """A community's balance over the 12 months ending with `month`, as computed on the 1st after it."""

    id: Serial
    community = ForeignKey(Community, null=False)
    month = Date()
    income = BigInt()
    cost = BigInt()
    ratio = Numeric(digits=(12, 4), null=True, default=None)
    status = Varchar(length=12)
    created_at = Timestamptz()
