"""Rules the database enforces for the market, whatever the application code does."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-11-23T11:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "market constraints and indexes"

SQL = """
ALTER TABLE market_community
    ADD CONSTRAINT market_community_area_nonnegative CHECK (area_hectares >= 0),
    ADD CONSTRAINT market_community_households_nonnegative CHECK (households >= 0),
    ADD CONSTRAINT market_community_elderly_share CHECK (elderly_share BETWEEN 0 AND 1),
    ADD CONSTRAINT market_community_children_share CHECK (children_share BETWEEN 0 AND 1),
    ADD CONSTRAINT market_community_plan_order CHECK (planned_start IS NULL OR planned_finish IS NULL
                                                      OR planned_start <= planned_finish);

ALTER TABLE market_need
    ADD CONSTRAINT market_need_priority CHECK (priority BETWEEN 1 AND 3),
    ADD CONSTRAINT market_need_category FOREIGN KEY (category) REFERENCES provider_category (code);
CREATE INDEX IF NOT EXISTS market_need_open_by_category ON market_need (category) WHERE status = 'open';

ALTER TABLE market_contract
    ADD CONSTRAINT market_contract_term_order CHECK (starts_on < ends_on),
    ADD CONSTRAINT market_contract_fee_nonnegative CHECK (annual_fee >= 0),
    ADD CONSTRAINT market_contract_revenue_share CHECK (revenue_share IS NULL OR revenue_share BETWEEN 0 AND 1);
-- The contracts that hold a unit of an operator's capacity.
CREATE INDEX IF NOT EXISTS market_contract_holding ON market_contract (operator, ends_on)
    WHERE status IN ('draft', 'active', 'expiring');
-- One successor per contract: renewing twice at once cannot make two.
CREATE UNIQUE INDEX IF NOT EXISTS market_contract_one_successor ON market_contract (renewal_of)
    WHERE renewal_of IS NOT NULL;

ALTER TABLE market_ledger_entry
    ADD CONSTRAINT market_ledger_amount_positive CHECK (amount > 0),
    ADD CONSTRAINT market_ledger_month_start CHECK (extract(day FROM month) = 1),
    ADD CONSTRAINT market_ledger_kind CHECK (
        (direction = 'income' AND kind IN ('rent', 'service_revenue', 'subsidy', 'other_income'))
        OR (direction = 'cost' AND kind IN ('staff', 'utilities', 'maintenance', 'service_fee', 'other_cost')));
CREATE INDEX IF NOT EXISTS market_ledger_community_month ON market_ledger_entry (community, month)
    INCLUDE (direction, amount);

CREATE UNIQUE INDEX IF NOT EXISTS market_allocation_line_once ON market_allocation_line (plan, need);

-- Evaluations name the contract they judge; the registry predates contracts, so the key is added here.
ALTER TABLE provider_evaluation
    ADD CONSTRAINT provider_evaluation_contract FOREIGN KEY (contract_id) REFERENCES market_contract (id);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
