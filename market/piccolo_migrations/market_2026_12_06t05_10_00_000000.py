"""Community acceptance (验收通过): when, by whom, and the residents' satisfaction rate it rested on. Once
accepted, a community stays accepted."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T05:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "community acceptance"

SQL = """
ALTER TABLE market_community
    ADD COLUMN IF NOT EXISTS accepted_at timestamptz,
    ADD COLUMN IF NOT EXISTS accepted_by integer REFERENCES account_user (id),
    ADD COLUMN IF NOT EXISTS accepted_satisfaction numeric(5, 2);
ALTER TABLE market_community DROP CONSTRAINT IF EXISTS market_community_acceptance;
ALTER TABLE market_community ADD CONSTRAINT market_community_acceptance
    CHECK ((accepted_at IS NULL) = (accepted_by IS NULL) AND (accepted_at IS NULL) = (accepted_satisfaction IS NULL));
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
