"""When an operator is suspended or removed, each contract it holds waits for its street's decision: go on to
the end of the term, or terminate. One decision per contract and registry status decision."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T03:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "contract decisions after a registry suspension or removal"

SQL = """
CREATE TABLE IF NOT EXISTS market_contract_registry_decision (
    id serial PRIMARY KEY,
    contract integer NOT NULL REFERENCES market_contract (id),
    status_decision integer NOT NULL REFERENCES provider_status_decision (id),
    decision varchar(10) NOT NULL CHECK (decision IN ('continue', 'terminate')),
    reason text NOT NULL CHECK (btrim(reason) <> ''),
    decided_by integer NOT NULL REFERENCES account_user (id),
    decided_at timestamptz NOT NULL,
    CONSTRAINT market_contract_registry_decision_once UNIQUE (contract, status_decision)
);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
