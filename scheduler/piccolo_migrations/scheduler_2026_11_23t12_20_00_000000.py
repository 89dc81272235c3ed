"""What makes the scheduler's effects exactly-once: a (job, period) is claimed once, a flag is raised once
per subject, kind and mark, and a community has one balance snapshot per month."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-11-23T12:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "scheduler claims and natural keys"

SQL = """
ALTER TABLE scheduler_job_run ADD CONSTRAINT scheduler_job_run_once UNIQUE (job, period);
CREATE INDEX IF NOT EXISTS scheduler_job_run_recent ON scheduler_job_run (started_at DESC);

ALTER TABLE scheduler_flag ADD CONSTRAINT scheduler_flag_once UNIQUE (kind, subject_type, subject_id, mark);
CREATE INDEX IF NOT EXISTS scheduler_flag_open ON scheduler_flag (kind, subject_type, subject_id)
    WHERE resolved_at IS NULL;

ALTER TABLE scheduler_balance_snapshot
    ADD CONSTRAINT scheduler_balance_snapshot_once UNIQUE (community, month),
    ADD CONSTRAINT scheduler_balance_snapshot_month_start CHECK (extract(day FROM month) = 1);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="scheduler", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
