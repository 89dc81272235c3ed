"""The registry's data version moves to core_data_version, bumped at commit: operators, listings,
categories and evaluations bump 'registry' (the directory and matching read them)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-11-23T14:05:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "registry data version at commit"

SQL = """
DROP TRIGGER IF EXISTS provider_operator_directory_changed ON provider_operator;
DROP TRIGGER IF EXISTS provider_listing_directory_changed ON provider_listing;
DROP FUNCTION IF EXISTS provider_directory_changed();
DROP TABLE IF EXISTS provider_directory_version;

SELECT core_data_version_watch('provider_operator', 'registry');
SELECT core_data_version_watch('provider_listing', 'registry');
SELECT core_data_version_watch('provider_category', 'registry');
SELECT core_data_version_watch('provider_evaluation', 'registry');
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="providers", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
