"""Data versions are bumped by one committing transaction at a time.

A transaction queues its bumps in the order it writes (rent settled: 'leasing', then 'market'; a community
file edited: 'market' and 'leasing' at once), so two commits could take the version rows in opposite orders
and deadlock. The first bump of a commit now takes one advisory lock before any version row, which every
other bump of that transaction already holds.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-11-23T16:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "data version bumps take one lock first, so commits cannot deadlock on version rows"

SQL = """
CREATE OR REPLACE FUNCTION core_data_version_bump() RETURNS trigger AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7130005);
    INSERT INTO core_data_version (name, version)
    SELECT unnest(TG_ARGV), 1
    ON CONFLICT (name) DO UPDATE SET version = core_data_version.version + 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
