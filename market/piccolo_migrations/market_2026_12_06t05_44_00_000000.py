"""Consortium contracts: one service contract with an industry alliance's lead, split into lines per member
and category, each with its share of the fee; a fee paid under the contract is posted per line."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T05:44:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "consortium contract lines"

SQL = """
ALTER TABLE market_contract ADD COLUMN IF NOT EXISTS alliance integer REFERENCES provider_alliance (id);
CREATE TABLE IF NOT EXISTS market_contract_line (
    id serial PRIMARY KEY,
    contract integer NOT NULL REFERENCES market_contract (id),
    operator integer NOT NULL REFERENCES provider_operator (id),
    category varchar(40) NOT NULL,
    fee_share numeric(5, 4) NOT NULL CHECK (fee_share > 0 AND fee_share <= 1),
    CONSTRAINT market_contract_line_once UNIQUE (contract, category)
);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
