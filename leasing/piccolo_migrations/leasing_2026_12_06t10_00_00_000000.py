"""Invoices of three kinds: rent (one per lease and month), the deposit (one per lease, with the first
month's rent) and late-payment interest (one per overdue rent invoice, recomputed while it stays unpaid);
a lease's daily late-payment rate; and the settlement of a deposit at the end of a lease, one per lease."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "invoice kinds, late-payment rate and deposit settlements"

SQL = """
ALTER TABLE leasing_lease ADD COLUMN IF NOT EXISTS late_fee_bp_per_day integer NOT NULL DEFAULT 0;
ALTER TABLE leasing_lease DROP CONSTRAINT IF EXISTS leasing_lease_late_fee_rate;
ALTER TABLE leasing_lease ADD CONSTRAINT leasing_lease_late_fee_rate CHECK (late_fee_bp_per_day >= 0);

ALTER TABLE leasing_invoice
    ADD COLUMN IF NOT EXISTS kind varchar(10) NOT NULL DEFAULT 'rent',
    ADD COLUMN IF NOT EXISTS charge_for integer REFERENCES leasing_invoice (id);
ALTER TABLE leasing_invoice DROP CONSTRAINT IF EXISTS leasing_invoice_once;
CREATE UNIQUE INDEX IF NOT EXISTS leasing_invoice_rent_once ON leasing_invoice (lease, month) WHERE kind = 'rent';
CREATE UNIQUE INDEX IF NOT EXISTS leasing_invoice_deposit_once ON leasing_invoice (lease) WHERE kind = 'deposit';
CREATE UNIQUE INDEX IF NOT EXISTS leasing_invoice_late_fee_once ON leasing_invoice (charge_for)
    WHERE kind = 'late_fee';

CREATE TABLE IF NOT EXISTS leasing_deposit_settlement (
    id serial PRIMARY KEY,
    lease integer NOT NULL REFERENCES leasing_lease (id),
    invoice integer NOT NULL REFERENCES leasing_invoice (id),
    refund_amount bigint NOT NULL CHECK (refund_amount >= 0),
    retained_amount bigint NOT NULL CHECK (retained_amount >= 0),
    reason text NOT NULL DEFAULT '',
    status varchar(10) NOT NULL,
    idempotency_key varchar(100) NOT NULL UNIQUE,
    refund_ref varchar(100),
    error_message text NOT NULL DEFAULT '',
    created_by integer REFERENCES account_user (id),
    created_at timestamptz NOT NULL,
    settled_at timestamptz,
    -- One settlement per lease: two refunds of one deposit at once pay once.
    CONSTRAINT leasing_deposit_settlement_once UNIQUE (lease)
);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="leasing", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
