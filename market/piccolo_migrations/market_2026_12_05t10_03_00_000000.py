"""A voucher reference is unique per community, whoever posts it (issue 16). An official's entry had the
source org:<posting org>:<reference>, so a street and its district could post one voucher to one community
and count it twice. Entries now carry voucher:<community>:<reference>, under the unique index on source.

Entries already posted move to the new source; where two posting organisations already posted one voucher to
one community, the first keeps it and the others stay as they are, named in a warning, for someone to reverse.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-05T10:03:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "ledger voucher unique per community"

SQL = r"""
DO $$
DECLARE
    repeated text;
BEGIN
    WITH posted AS (
        SELECT id, community, substring(source FROM '^org:[0-9]+:(.*)$') AS reference
        FROM market_ledger_entry WHERE source ~ '^org:[0-9]+:'
    ), first AS (
        SELECT DISTINCT ON (community, reference) id, community, reference FROM posted
        WHERE NOT EXISTS (SELECT 1 FROM market_ledger_entry e
                          WHERE e.source = 'voucher:' || posted.community || ':' || posted.reference)
        ORDER BY community, reference, id
    )
    UPDATE market_ledger_entry e SET source = 'voucher:' || first.community || ':' || first.reference
    FROM first WHERE e.id = first.id;

    SELECT string_agg(id::text, ', ' ORDER BY id) INTO repeated FROM market_ledger_entry WHERE source ~ '^org:[0-9]+:';
    IF repeated IS NOT NULL THEN
        RAISE WARNING 'ledger entries % repeat a voucher already posted to their community; reverse them', repeated;
    END IF;
END
$$;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
