"""A version number of the public directory, bumped by the database itself on every change to operators
or listings, so web workers can cache directory pages and never serve a stale one."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-11-23T10:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "directory version bumped by triggers"

SQL = """
CREATE TABLE IF NOT EXISTS provider_directory_version (
    id integer PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO provider_directory_version (id, version) VALUES (1, 1) ON CONFLICT DO NOTHING;

-- Transactional on purpose: readers see the new version only once the change is committed.
CREATE OR REPLACE FUNCTION provider_directory_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO provider_directory_version (id, version) VALUES (1, 1)
    ON CONFLICT (id) DO UPDATE SET version = provider_directory_version.version + 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS provider_operator_directory_changed ON provider_operator;
CREATE TRIGGER provider_operator_directory_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON provider_operator
    FOR EACH STATEMENT EXECUTE FUNCTION provider_directory_changed();

DROP TRIGGER IF EXISTS provider_listing_directory_changed ON provider_listing;
CREATE TRIGGER provider_listing_directory_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON provider_listing
    FOR EACH STATEMENT EXECUTE FUNCTION provider_directory_changed();
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="providers", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
