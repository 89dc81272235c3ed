"""Leasing data version: spaces, listings, leases and invoices bump 'leasing' at commit (the officials'
figures read them)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-11-23T14:15:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "leasing data version at commit"

SQL = """
SELECT core_data_version_watch('leasing_space', 'leasing');
SELECT core_data_version_watch('leasing_listing', 'leasing');
SELECT core_data_version_watch('leasing_lease', 'leasing');
SELECT core_data_version_watch('leasing_invoice', 'leasing');
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="leasing", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
