"""A community fund (社区基金): donations and subsidies in, grants to residents' self-governance and
public-welfare activities out, and payments to operators for redeemed points. The balance is a column the
database keeps at or above zero; each movement is unique by its source, so nothing is paid twice."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T05:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "community funds and their movements"

SQL = """
CREATE TABLE IF NOT EXISTS market_fund (
    id serial PRIMARY KEY,
    community integer NOT NULL UNIQUE REFERENCES market_community (id),
    name varchar(200) NOT NULL CHECK (btrim(name) <> ''),
    charter text NOT NULL DEFAULT '',
    balance bigint NOT NULL DEFAULT 0 CONSTRAINT market_fund_balance_nonnegative CHECK (balance >= 0),
    opened_by integer NOT NULL REFERENCES account_user (id),
    opened_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS market_fund_movement (
    id serial PRIMARY KEY,
    fund integer NOT NULL REFERENCES market_fund (id),
    direction varchar(3) NOT NULL CHECK (direction IN ('in', 'out')),
    kind varchar(16) NOT NULL CHECK (kind IN ('donation', 'subsidy', 'grant', 'points_payout')),
    amount bigint NOT NULL CHECK (amount > 0),
    balance_after bigint NOT NULL CHECK (balance_after >= 0),
    source varchar(200) NOT NULL UNIQUE,
    counterparty varchar(200) NOT NULL DEFAULT '',
    purpose text NOT NULL DEFAULT '',
    reference varchar(100) NOT NULL DEFAULT '',
    approved_by integer REFERENCES account_user (id),
    ledger_entry integer REFERENCES market_ledger_entry (id),
    created_at timestamptz NOT NULL,
    CONSTRAINT market_fund_movement_direction CHECK ((direction = 'in') = (kind IN ('donation', 'subsidy'))),
    CONSTRAINT market_fund_grant_complete CHECK (
        kind <> 'grant' OR (btrim(purpose) <> '' AND btrim(reference) <> '' AND approved_by IS NOT NULL)
    )
);
CREATE INDEX IF NOT EXISTS market_fund_movement_fund ON market_fund_movement (fund, id);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
