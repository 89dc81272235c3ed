"""Data versions: a number per kind of data that the database bumps whenever a watched table changes, so
web workers can cache what they read and never serve it stale.

The bump happens at commit (a deferred constraint trigger, queued once per transaction and version), so it
takes the version row's lock last: a writer never waits for that row while holding another, and two writers
cannot deadlock over it. TRUNCATE has no row triggers; a statement trigger bumps the version for it.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-11-23T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "data versions bumped at commit by triggers"

SQL = """
CREATE TABLE IF NOT EXISTS core_data_version (
    name text PRIMARY KEY,
    version bigint NOT NULL
);

-- True the first time it is asked about a version in this transaction, so one event is queued per
-- transaction however many rows the transaction writes.
CREATE OR REPLACE FUNCTION core_data_change_first(names text[]) RETURNS boolean AS $$
DECLARE
    setting text := 'core_data_version.queued_' || array_to_string(names, '_');
BEGIN
    IF current_setting(setting, true) = 'y' THEN
        RETURN false;
    END IF;
    PERFORM set_config(setting, 'y', true);
    RETURN true;
END;
$$ LANGUAGE plpgsql VOLATILE;

CREATE OR REPLACE FUNCTION core_data_version_bump() RETURNS trigger AS $$
BEGIN
    INSERT INTO core_data_version (name, version)
    SELECT unnest(TG_ARGV), 1
    ON CONFLICT (name) DO UPDATE SET version = core_data_version.version + 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- watch('market_ledger_entry', 'market') makes every committed change to the table bump 'market'.
CREATE OR REPLACE FUNCTION core_data_version_watch(watched regclass, VARIADIC names text[]) RETURNS void AS $$
DECLARE
    label text := array_to_string(names, '_');
    quoted text := (SELECT string_agg(quote_literal(n), ', ') FROM unnest(names) AS n);
BEGIN
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'data_version_' || label, watched);
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'data_version_truncate_' || label, watched);
    EXECUTE format(
        'CREATE CONSTRAINT TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s DEFERRABLE INITIALLY DEFERRED '
        'FOR EACH ROW WHEN (core_data_change_first(ARRAY[%s])) EXECUTE FUNCTION core_data_version_bump(%s)',
        'data_version_' || label, watched, quoted, quoted);
    EXECUTE format(
        'CREATE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION core_data_version_bump(%s)',
        'data_version_truncate_' || label, watched, quoted);
END;
$$ LANGUAGE plpgsql;

SELECT core_data_version_watch('organisation', 'registry', 'market', 'leasing');
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
