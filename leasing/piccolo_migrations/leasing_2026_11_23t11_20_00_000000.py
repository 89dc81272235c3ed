"""Rules the database enforces for leasing, whatever the application code does: above all, no two leases of
one space overlap in time, and an invoice is billed once per lease and month and paid at most once."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-11-23T11:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "leasing constraints: lease overlap exclusion, one invoice per lease and month"

SQL = """
CREATE EXTENSION IF NOT EXISTS btree_gist;

ALTER TABLE leasing_space
    ADD CONSTRAINT leasing_space_area_positive CHECK (area_m2 > 0),
    ADD CONSTRAINT leasing_space_uses CHECK (cardinality(allowed_uses) > 0 AND allowed_uses <@ ARRAY[
        'public_service', 'commerce', 'incubation', 'elderly_care', 'childcare', 'culture', 'health']::varchar[]);

ALTER TABLE leasing_listing
    ADD CONSTRAINT leasing_listing_rent_nonnegative CHECK (rent_per_m2_month >= 0),
    ADD CONSTRAINT leasing_listing_discount CHECK (public_welfare_discount BETWEEN 0 AND 1),
    ADD CONSTRAINT leasing_listing_terms CHECK (min_term_months > 0 AND min_term_months <= max_term_months
                                                AND rent_free_months >= 0 AND deposit_months >= 0),
    ADD CONSTRAINT leasing_listing_window CHECK (opens_on < closes_on);
-- One open listing per space at a time.
CREATE UNIQUE INDEX IF NOT EXISTS leasing_listing_one_open ON leasing_listing (space) WHERE status = 'open';

ALTER TABLE leasing_application
    ADD CONSTRAINT leasing_application_rent_nonnegative CHECK (proposed_rent_per_m2_month >= 0),
    ADD CONSTRAINT leasing_application_term_positive CHECK (term_months > 0);
CREATE UNIQUE INDEX IF NOT EXISTS leasing_application_once ON leasing_application (listing, operator)
    WHERE status <> 'withdrawn';
-- One award per listing, however many officials click at once.
CREATE UNIQUE INDEX IF NOT EXISTS leasing_application_one_award ON leasing_application (listing)
    WHERE status = 'awarded';

ALTER TABLE leasing_lease
    ADD CONSTRAINT leasing_lease_term_order CHECK (starts_on < ends_on AND ends_on <= agreed_ends_on),
    ADD CONSTRAINT leasing_lease_money_nonnegative CHECK (monthly_rent >= 0 AND deposit >= 0),
    ADD CONSTRAINT leasing_lease_rent_free CHECK (rent_free_months >= 0),
    ADD CONSTRAINT leasing_lease_payment_day CHECK (payment_day BETWEEN 1 AND 28),
    ADD CONSTRAINT leasing_lease_no_overlap EXCLUDE USING gist (
        space WITH =, daterange(starts_on, ends_on, '[)') WITH &&);
CREATE UNIQUE INDEX IF NOT EXISTS leasing_lease_one_successor ON leasing_lease (renewal_of)
    WHERE renewal_of IS NOT NULL;
CREATE INDEX IF NOT EXISTS leasing_lease_billable ON leasing_lease (starts_on, ends_on)
    WHERE status IN ('active', 'expiring', 'renewed', 'terminated');

ALTER TABLE leasing_invoice
    ADD CONSTRAINT leasing_invoice_once UNIQUE (lease, month),
    ADD CONSTRAINT leasing_invoice_month_start CHECK (extract(day FROM month) = 1),
    ADD CONSTRAINT leasing_invoice_amount_nonnegative CHECK (amount >= 0);
CREATE INDEX IF NOT EXISTS leasing_invoice_unpaid_due ON leasing_invoice (due_on) WHERE status IN ('open', 'overdue');

ALTER TABLE leasing_payment
    ADD CONSTRAINT leasing_payment_attempt_once UNIQUE (invoice, attempt),
    ADD CONSTRAINT leasing_payment_amount_positive CHECK (amount > 0);
-- At most one attempt in flight and one success per invoice: a double click cannot pay twice.
CREATE UNIQUE INDEX IF NOT EXISTS leasing_payment_one_pending ON leasing_payment (invoice) WHERE status = 'pending';
CREATE UNIQUE INDEX IF NOT EXISTS leasing_payment_one_success ON leasing_payment (invoice)
    WHERE status = 'succeeded';
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="leasing", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
