"""The street's decision after a poll now lives on the need (market_need.vote_decision_*), where contract
signing also records it; the poll's own copy goes so the two can never disagree."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T05:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "poll decisions move to the need"

SQL = """
ALTER TABLE resident_poll
    DROP COLUMN decision_follows,
    DROP COLUMN decision_option,
    DROP COLUMN decision_reason,
    DROP COLUMN decided_by,
    DROP COLUMN decided_at;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="residents", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
