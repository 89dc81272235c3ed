"""A flag may be seen beyond its scope: a listing's renewal flag by the operator concerned and by the org
that recommended it, besides the city that owns the registry."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T02:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "flags seen beyond their scope"

SQL = """
ALTER TABLE scheduler_flag ADD COLUMN IF NOT EXISTS also_paths text[] NOT NULL DEFAULT '{}';
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="scheduler", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
