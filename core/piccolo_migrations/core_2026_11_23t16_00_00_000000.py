from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-11-23T16:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "Users, grants and the org tree bump the accounts data version, so principals can be cached"

SQL = """
SELECT core_data_version_watch('account_user', 'accounts');
SELECT core_data_version_watch('role_grant', 'accounts');
SELECT core_data_version_watch('organisation', 'accounts');
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
