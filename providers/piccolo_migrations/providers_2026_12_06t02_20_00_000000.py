"""A registry status the database knows: 'expired' joins the others, and nothing else is stored."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T02:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "registry status expired and a check on the status"

SQL = r"""
ALTER TABLE provider_operator DROP CONSTRAINT IF EXISTS provider_operator_registry_status_known;
ALTER TABLE provider_operator ADD CONSTRAINT provider_operator_registry_status_known
    CHECK (registry_status IN ('unlisted', 'listed', 'warned', 'suspended', 'removed', 'expired'));
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="providers", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
