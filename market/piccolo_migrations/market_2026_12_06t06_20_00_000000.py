"""Allocation can give a community's whole set of needs to an industry alliance: a plan line names the
alliance and says why, and accepting it drafts one consortium contract with the alliance's lead."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T06:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "allocation lines that assign an alliance"

SQL = """
ALTER TABLE market_allocation_line ADD COLUMN IF NOT EXISTS alliance integer REFERENCES provider_alliance (id);
ALTER TABLE market_allocation_line ADD COLUMN IF NOT EXISTS explanation text NOT NULL DEFAULT '';
ALTER TABLE market_allocation_line DROP CONSTRAINT IF EXISTS market_allocation_line_alliance_operator;
ALTER TABLE market_allocation_line ADD CONSTRAINT market_allocation_line_alliance_operator
    CHECK (alliance IS NULL OR operator IS NOT NULL);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
