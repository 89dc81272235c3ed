"""Complaints about a contract's service, recorded by the officials residents bring them to, so that the
quarterly performance evaluation counts facts rather than a number typed into a form."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T02:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "contract complaints"

SQL = """
CREATE TABLE IF NOT EXISTS market_complaint (
    id serial PRIMARY KEY,
    contract integer NOT NULL REFERENCES market_contract (id),
    received_on date NOT NULL,
    text text NOT NULL CHECK (btrim(text) <> ''),
    filed_by integer NOT NULL REFERENCES account_user (id),
    filed_by_org integer NOT NULL REFERENCES organisation (id),
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS market_complaint_contract ON market_complaint (contract, received_on);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
