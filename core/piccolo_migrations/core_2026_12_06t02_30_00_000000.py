"""The working calendar: holidays and 调休 working days, one row per day that differs from Monday to Friday.

The State Council's days are reference data (core.calendar.reference), loaded at start-up.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T02:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "working calendar days"

SQL = """
CREATE TABLE IF NOT EXISTS core_calendar_day (
    day date PRIMARY KEY,
    kind varchar(10) NOT NULL CHECK (kind IN ('holiday', 'workday')),
    name varchar(40) NOT NULL DEFAULT ''
);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
