"""The scheduler's own services: the run log, the flags officials work, and sending the monthly report.
The jobs themselves are in scheduler/jobs.py and in the domains' jobs.py."""

from __future__ import annotations

import uuid
from datetime import date

from core import clock
from core.accounts.principal import OFFICIAL_ROLES, Principal, like_patterns
from core.audit import service as audit
from core.db import transaction
from core.errors import PermissionDenied, require_reason
from core.outbox import service as outbox
from core.pagination import with_total
from core.settings import get_settings
from scheduler import report
from scheduler import repository as repo
from scheduler.errors import FlagNotFound
from scheduler.schemas import FlagLock, FlagView, RunView

# The monthly balance report ----------------------------------------------------------------------


async def queue_report(month: date, recipients: list[str], key_suffix: str = "") -> int:
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


async def resend_report(principal: Principal, month: date, recipients: list[str] | None) -> int:
    """On request, the report again (to the usual recipients or the given ones)."""
    addresses = recipients or get_settings().report_recipients
    queued = await queue_report(month, addresses, key_suffix=f":resend:{uuid.uuid4().hex[:12]}")
    await audit.record(principal, "report.resend", "balance_report", f"{month:%Y-%m}", after={"to": addresses})
    return queued


async def report_for(month: date) -> report.MonthlyReport:
    return await report.build(month)


# The run log ------------------------------------------------------------------------------------


async def latest_runs() -> dict[str, RunView]:
    return await repo.latest_runs()


async def list_runs(*, job: str | None, status: str | None, limit: int, offset: int) -> tuple[list[RunView], int]:
    return await with_total(lambda lim, off: repo.list_runs(job, status, lim, off), limit, offset)


async def record_manual_run(principal: Principal, job: str, periods: list[str]) -> None:
    async with transaction():
        await audit.record(principal, "job.run_now", "job", job, after={"periods": periods})


# Flags for officials ---------------------------------------------------------------------------


async def list_flags(
    principal: Principal, *, kind: str | None, state: str, limit: int, offset: int
) -> tuple[list[FlagView], int]:
    patterns = like_patterns(principal.read_paths())
    return await with_total(
        lambda lim, off: repo.list_flags(patterns=patterns, kind=kind, state=state, limit=lim, offset=off),
        limit,
        offset,
    )


async def _flag_to_work(principal: Principal, flag_id: int) -> FlagLock:
    flag = await repo.lock_flag(flag_id)
    if flag is None or not principal.can_read_path(flag.scope_path):
        raise FlagNotFound()
    if not principal.can_write_path(flag.scope_path, *OFFICIAL_ROLES):
        raise PermissionDenied()
    return flag


async def acknowledge_flag(principal: Principal, flag_id: int) -> FlagView:
    async with transaction():
        flag = await _flag_to_work(principal, flag_id)
        if flag.acknowledged_at is not None:
            return await _unchanged(flag_id)
        now = clock.now()
        acknowledged = await repo.acknowledge_flag(flag_id, principal.user_id, now)
        await audit.record(
            principal,
            "flag.acknowledge",
            "flag",
            flag_id,
            before={"acknowledged_at": None},
            after={"acknowledged_at": now},
        )
        return acknowledged


async def resolve_flag(principal: Principal, flag_id: int, reason: str) -> FlagView:
    reason = require_reason(reason)
    async with transaction():
        flag = await _flag_to_work(principal, flag_id)
        if flag.resolved_at is not None:
            return await _unchanged(flag_id)
        now = clock.now()
        resolved = await repo.resolve_flag(flag_id, principal.user_id, reason, now)
        await audit.record(
            principal,
            "flag.resolve",
            "flag",
            flag_id,
            reason=reason,
            before={"resolved_at": None},
            after={"resolved_at": now},
        )
        return resolved


async def _unchanged(flag_id: int) -> FlagView:
    """A flag already in the state asked for: answered as it is."""
    flag = await repo.get_flag(flag_id)
    assert flag is not None  # locked in this transaction, so still there
    return flag
