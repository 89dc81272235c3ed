"""Alliance membership over time: members join and leave on recorded dates, with the reason for leaving.
An operator holds a category in an alliance over one period at a time, enforced by the database so that
two requests adding it at once leave one membership."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T06:21:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "alliance members joining and leaving"

SQL = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE provider_alliance_member ADD COLUMN IF NOT EXISTS leave_reason text NOT NULL DEFAULT '';
ALTER TABLE provider_alliance_member DROP CONSTRAINT IF EXISTS provider_alliance_member_left_why;
ALTER TABLE provider_alliance_member ADD CONSTRAINT provider_alliance_member_left_why
    CHECK (left_on IS NULL OR btrim(leave_reason) <> '');
ALTER TABLE provider_alliance_member DROP CONSTRAINT IF EXISTS provider_alliance_member_no_overlap;
ALTER TABLE provider_alliance_member ADD CONSTRAINT provider_alliance_member_no_overlap
    EXCLUDE USING gist (alliance WITH =, operator WITH =, category WITH =, daterange(joined_on, left_on) WITH &&);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="providers", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
