"""Franchises (特许经营): a contract kind under which an operator holds a community's exclusive scope (its
integrated energy supply, say) and pays the community a fee or a share of its revenue. At most one franchise
of a community and scope is in force at a time; each month's invoice is posted to the community's ledger."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T05:41:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "franchise contracts and their invoices"

SQL = """
ALTER TABLE market_contract
    ADD COLUMN IF NOT EXISTS kind varchar(10) NOT NULL DEFAULT 'service',
    ADD COLUMN IF NOT EXISTS scope varchar(200) NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS franchise_fee bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS renewal_terms text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS termination_terms text NOT NULL DEFAULT '';
ALTER TABLE market_contract
    ADD CONSTRAINT market_contract_kind CHECK (kind IN ('service', 'franchise')),
    ADD CONSTRAINT market_contract_franchise_fee CHECK (franchise_fee >= 0),
    ADD CONSTRAINT market_contract_franchise_scope CHECK (
        kind <> 'franchise' OR (community IS NOT NULL AND btrim(scope) <> '')
    );
CREATE UNIQUE INDEX IF NOT EXISTS market_contract_one_franchise_per_scope ON market_contract (community, scope)
    WHERE kind = 'franchise' AND status IN ('active', 'expiring');

CREATE TABLE IF NOT EXISTS market_franchise_invoice (
    id serial PRIMARY KEY,
    contract integer NOT NULL REFERENCES market_contract (id),
    month date NOT NULL CHECK (extract(day FROM month) = 1),
    revenue bigint NOT NULL CHECK (revenue >= 0),
    fee_amount bigint NOT NULL CHECK (fee_amount >= 0),
    share_amount bigint NOT NULL CHECK (share_amount >= 0),
    amount bigint NOT NULL CHECK (amount > 0 AND amount = fee_amount + share_amount),
    ledger_entry integer NOT NULL REFERENCES market_ledger_entry (id),
    invoiced_by integer NOT NULL REFERENCES account_user (id),
    created_at timestamptz NOT NULL,
    CONSTRAINT market_franchise_invoice_once UNIQUE (contract, month)
);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
