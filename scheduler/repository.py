"""Every query of the scheduler: run claims and the run log, flags, balance snapshots."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import msgspec
from asyncpg import Connection
from piccolo.query.functions.aggregate import Max

from core.flags import FlagDraft
from core.pagination import split_total
from market.jobs import SnapshotDraft
from scheduler.schemas import FlagLock, FlagView, JobHealth, RaisedFlag, RunRecord, RunView
from scheduler.tables import BalanceSnapshot, Flag, JobRun, RunStatus

CLAIM_LOCK_SPACE = 7_130_002  # advisory lock space for (job, period) claims
LEADER_LOCK_KEY = 7_130_003  # advisory lock that elects the one scheduler that runs jobs


def _with_json(row: dict[str, Any], field: str) -> dict[str, Any]:
    """A row whose JSONB column came back as text, with that column decoded."""
    if isinstance(row.get(field), str):
        row[field] = json.loads(row[field])
    return row


# Claims ----------------------------------------------------------------------------------------
#
# A claim is a session advisory lock on (job, period), held on the runner's own connection for as long as
# the job runs, plus the JobRun row. A row left 'running' whose lock is free belongs to a runner that died
# (its connection went with it), so it may be taken again. These statements run on that connection, not
# through Piccolo's pool.


async def try_lock_period(connection: Connection, job: str, period: str) -> bool:
    return await connection.fetchval(
        "SELECT pg_try_advisory_lock($1, hashtext($2))", CLAIM_LOCK_SPACE, f"{job}:{period}"
    )


async def unlock_period(connection: Connection, job: str, period: str) -> None:
    await connection.execute("SELECT pg_advisory_unlock($1, hashtext($2))", CLAIM_LOCK_SPACE, f"{job}:{period}")


async def claim_run(connection: Connection, job: str, period: str, runner: str, now: datetime) -> int | None:
    """The id of the run row, new or taken over from a failed or dead attempt; None when the period is done."""
    return await connection.fetchval(
        """
        INSERT INTO scheduler_job_run (job, period, status, attempt, runner, started_at, result, error)
        VALUES ($1, $2, 'running', 1, $3, $4, '{}', '')
        ON CONFLICT (job, period) DO UPDATE
            SET status = 'running', attempt = scheduler_job_run.attempt + 1, runner = $3, started_at = $4,
                finished_at = NULL, duration_ms = NULL, error = ''
            WHERE scheduler_job_run.status <> 'succeeded'
        RETURNING id
        """,
        job,
        period,
        runner,
        now,
    )


RUN_COLUMNS = "id, attempt, runner, started_at, finished_at, duration_ms"


async def finish_run(
    connection: Connection, run_id: int, *, status: str, result: dict, error: str, now: datetime, duration_ms: int
) -> RunRecord:
    row = await connection.fetchrow(
        "UPDATE scheduler_job_run SET status = $2, result = $3::jsonb, error = $4, finished_at = $5, duration_ms = $6 "
        f"WHERE id = $1 RETURNING {RUN_COLUMNS}",
        run_id,
        status,
        json.dumps(result, ensure_ascii=False, default=str),
        error,
        now,
        duration_ms,
    )
    return RunRecord(**dict(row))


async def get_run(connection: Connection, job: str, period: str) -> RunRecord | None:
    row = await connection.fetchrow(
        f"SELECT {RUN_COLUMNS} FROM scheduler_job_run WHERE job = $1 AND period = $2", job, period
    )
    return RunRecord(**dict(row)) if row else None


async def try_lock_leader(connection: Connection) -> bool:
    return await connection.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK_KEY)


async def last_succeeded_periods() -> dict[str, str]:
    rows = (
        await JobRun.select(JobRun.job, Max(JobRun.period, alias="period"))
        .where(JobRun.status == RunStatus.succeeded)
        .group_by(JobRun.job)
    )
    return {r["job"]: r["period"] for r in rows}


async def latest_runs() -> dict[str, RunView]:
    rows = (
        await JobRun.select(
            JobRun.job,
            JobRun.period,
            JobRun.status,
            JobRun.started_at,
            JobRun.finished_at,
            JobRun.duration_ms,
            JobRun.result,
            JobRun.error,
        )
        .distinct(on=[JobRun.job])
        .order_by(JobRun.job)
        .order_by(JobRun.started_at, ascending=False)
        .output(load_json=True)
    )
    return {r["job"]: msgspec.convert(r, RunView) for r in rows}


async def list_runs(job: str | None, status: str | None, limit: int, offset: int) -> tuple[list[RunView], int]:
    # Raw for the window total: the page and the count in one statement.
    rows = await JobRun.raw(
        "SELECT id, job, period, status, attempt, runner, started_at, finished_at, duration_ms, result, error, "
        "count(*) OVER () AS total FROM scheduler_job_run "
        "WHERE ({}::text IS NULL OR job = {}) AND ({}::text IS NULL OR status = {}) "
        "ORDER BY started_at DESC, id DESC LIMIT {} OFFSET {}",
        job,
        job,
        status,
        status,
        limit,
        offset,
    )
    rows, total = split_total(rows)
    return [msgspec.convert(_with_json(r, "result"), RunView) for r in rows], total


# Flags -----------------------------------------------------------------------------------------

FLAG_VIEW_COLUMNS = (
    Flag.id,
    Flag.kind,
    Flag.subject_type,
    Flag.subject_id,
    Flag.mark,
    Flag.severity,
    Flag.title,
    Flag.detail,
    Flag.opened_at,
    Flag.acknowledged_at,
    Flag.resolved_at,
    Flag.resolution,
)


def _flag_from(row: dict[str, Any]) -> FlagView:
    return msgspec.convert(_with_json(row, "detail"), FlagView)


async def raise_flags(flags: list[FlagDraft], now: datetime) -> list[RaisedFlag]:
    """Insert the flags not raised before (by kind, subject and mark); returns only the new ones."""
    if not flags:
        return []
    # Raw for a bulk insert from unnested arrays that skips conflicts, which the query builder cannot say.
    rows = await Flag.raw(
        """
        INSERT INTO scheduler_flag (kind, subject_type, subject_id, mark, severity, title, detail, scope_path,
            also_paths, opened_at, resolution)
        SELECT f.kind, f.subject_type, f.subject_id, f.mark, f.severity, f.title, f.detail::jsonb, f.scope_path,
               ARRAY(SELECT jsonb_array_elements_text(f.also_paths::jsonb)), {}, ''
        FROM unnest({}::text[], {}::text[], {}::int[], {}::text[], {}::text[], {}::text[], {}::text[], {}::text[],
                    {}::text[])
             AS f(kind, subject_type, subject_id, mark, severity, title, detail, scope_path, also_paths)
        ON CONFLICT (kind, subject_type, subject_id, mark) DO NOTHING
        RETURNING id, kind, subject_type, subject_id, mark, title, detail
        """,
        now,
        [f.kind for f in flags],
        [f.subject_type for f in flags],
        [f.subject_id for f in flags],
        [f.mark for f in flags],
        [f.severity for f in flags],
        [f.title for f in flags],
        [json.dumps(f.detail, ensure_ascii=False, default=str) for f in flags],
        [f.scope_path for f in flags],
        [json.dumps(f.also_paths) for f in flags],
    )
    return [msgspec.convert(_with_json(r, "detail"), RaisedFlag) for r in rows]


async def open_flag_subjects(kind: str, subject_type: str) -> list[int]:
    """The subjects with an open flag of this kind."""
    rows = (
        await Flag.select(Flag.subject_id)
        .distinct()
        .where(Flag.resolved_at.is_null(), Flag.kind == kind, Flag.subject_type == subject_type)
        .output(as_list=True)
    )
    return list(rows)


async def resolve_flags(kind: str, subject_type: str, subject_ids: list[int], reason: str, now: datetime) -> list[int]:
    """Resolve the open flags of these subjects by the system, because their cause went away."""
    if not subject_ids:
        return []
    rows = (
        await Flag.update({Flag.resolved_at: now, Flag.resolution: reason})
        .where(
            Flag.kind == kind,
            Flag.subject_type == subject_type,
            Flag.subject_id.is_in(subject_ids),
            Flag.resolved_at.is_null(),
        )
        .returning(Flag.id)
    )
    return [r["id"] for r in rows]


async def resolve_superseded(kind: str, subject_type: str, tighter: list[tuple[int, int]], now: datetime) -> int:
    """For each (subject, threshold just raised), resolve its open flags of looser thresholds: one statement."""
    if not tighter:
        return 0
    # Raw for an update joined to unnested pairs, which the query builder cannot say.
    rows = await Flag.raw(
        "UPDATE scheduler_flag f SET resolved_at = {}, resolution = '已升级为 ' || t.mark || ' 天提醒' "
        "FROM unnest({}::int[], {}::int[]) AS t(subject_id, mark) "
        "WHERE f.kind = {} AND f.subject_type = {} AND f.subject_id = t.subject_id AND f.resolved_at IS NULL "
        "AND f.mark ~ '^[0-9]+$' AND f.mark::int > t.mark RETURNING f.id",
        now,
        [s for s, _ in tighter],
        [m for _, m in tighter],
        kind,
        subject_type,
    )
    return len(rows)


async def list_flags(
    *, patterns: list[str], kind: str | None, state: str, limit: int, offset: int
) -> tuple[list[FlagView], int]:
    # Raw for LIKE ANY over the reader's scopes (and the further orgs a flag names), the severity ordering and
    # the window total.
    rows = await Flag.raw(
        """
        SELECT f.id, f.kind, f.subject_type, f.subject_id, f.mark, f.severity, f.title, f.detail, f.opened_at,
               f.acknowledged_at, f.resolved_at, f.resolution, count(*) OVER () AS total
        FROM scheduler_flag f
        WHERE (f.scope_path LIKE ANY({}::text[])
               OR EXISTS (SELECT 1 FROM unnest(f.also_paths) p WHERE p LIKE ANY({}::text[])))
          AND ({}::text IS NULL OR f.kind = {})
          AND CASE {} WHEN 'open' THEN f.resolved_at IS NULL WHEN 'resolved' THEN f.resolved_at IS NOT NULL
                      ELSE true END
        ORDER BY f.resolved_at IS NOT NULL, CASE f.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                 f.opened_at DESC, f.id DESC
        LIMIT {} OFFSET {}
        """,
        patterns,
        patterns,
        kind,
        kind,
        state,
        limit,
        offset,
    )
    rows, total = split_total(rows)
    return [_flag_from(r) for r in rows], total


async def get_flag(flag_id: int) -> FlagView | None:
    row = await Flag.select(*FLAG_VIEW_COLUMNS).where(Flag.id == flag_id).first()
    return _flag_from(row) if row else None


async def lock_flag(flag_id: int) -> FlagLock | None:
    row = (
        await Flag.select(Flag.scope_path, Flag.acknowledged_at, Flag.resolved_at)
        .where(Flag.id == flag_id)
        .lock_rows()
        .first()
    )
    return msgspec.convert(row, FlagLock) if row else None


async def acknowledge_flag(flag_id: int, by: int, now: datetime) -> FlagView:
    [row] = (
        await Flag.update({Flag.acknowledged_at: now, Flag.acknowledged_by: by})
        .where(Flag.id == flag_id)
        .returning(*FLAG_VIEW_COLUMNS)
    )
    return _flag_from(row)


async def resolve_flag(flag_id: int, by: int, reason: str, now: datetime) -> FlagView:
    [row] = (
        await Flag.update({Flag.resolved_at: now, Flag.resolved_by: by, Flag.resolution: reason})
        .where(Flag.id == flag_id)
        .returning(*FLAG_VIEW_COLUMNS)
    )
    return _flag_from(row)


# Subjects the jobs look at ---------------------------------------------------------------------


async def street_emails(street_ids: list[int]) -> dict[int, list[str]]:
    """The email addresses of each street's officials."""
    # Raw for the join of grants to users.
    rows = await Flag.raw(
        "SELECT g.org AS street_id, u.email FROM role_grant g JOIN account_user u ON u.id = g.user "
        "WHERE g.role = 'street' AND g.org = ANY({}::int[]) AND u.active ORDER BY u.id",
        street_ids,
    )
    found: dict[int, list[str]] = {}
    for row in rows:
        found.setdefault(row["street_id"], []).append(row["email"])
    return found


async def renewal_subjects_still_due(kind: str, subject_ids: list[int]) -> set[int]:
    """Of these flagged subjects, those still in force without a successor (the rest are resolved)."""
    table = {
        "lease_renewal": ("leasing_lease", "('active', 'expiring')"),
        "contract_renewal": ("market_contract", "('active', 'expiring')"),
    }[kind]
    # Raw for one statement over either domain table, with its NOT EXISTS on the renewal.
    rows = await Flag.raw(
        f"SELECT t.id FROM {table[0]} t WHERE t.id = ANY({{}}::int[]) AND t.status IN {table[1]} "
        f"AND NOT EXISTS (SELECT 1 FROM {table[0]} n WHERE n.renewal_of = t.id)",
        subject_ids,
    )
    return {r["id"] for r in rows}


# Balance snapshots -----------------------------------------------------------------------------


async def insert_snapshots(month: date, snapshots: list[SnapshotDraft], now: datetime) -> int:
    if not snapshots:
        return 0
    # Raw for a bulk insert from unnested arrays that skips conflicts, which the query builder cannot say.
    inserted = await BalanceSnapshot.raw(
        """
        INSERT INTO scheduler_balance_snapshot (community, month, income, cost, ratio, status, created_at)
        SELECT s.community, {}, s.income, s.cost, s.ratio, s.status, {}
        FROM unnest({}::int[], {}::bigint[], {}::bigint[], {}::numeric[], {}::text[])
             AS s(community, income, cost, ratio, status)
        ON CONFLICT (community, month) DO NOTHING
        RETURNING 1
        """,
        month,
        now,
        [s.community_id for s in snapshots],
        [s.income for s in snapshots],
        [s.cost for s in snapshots],
        [s.ratio for s in snapshots],
        [s.status for s in snapshots],
    )
    return len(inserted)


async def job_health() -> list[JobHealth]:
    # Raw: DISTINCT ON picks each job's latest finished run, joined to its latest success in one statement.
    rows = await JobRun.raw(
        """
        SELECT last.job, last.status AS last_status, last.duration_ms AS last_duration_ms,
               last.finished_at AS last_finished_at, ok.finished_at AS last_success_at
        FROM (SELECT DISTINCT ON (job) job, status, duration_ms, finished_at FROM scheduler_job_run
              WHERE finished_at IS NOT NULL ORDER BY job, finished_at DESC) AS last
        LEFT JOIN (SELECT job, max(finished_at) AS finished_at FROM scheduler_job_run
                   WHERE status = 'succeeded' GROUP BY job) AS ok ON ok.job = last.job
        ORDER BY last.job
        """
    )
    return [msgspec.convert(r, JobHealth) for r in rows]
