"""Rules the database enforces for the registry, and indexes for the public directory."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-11-23T09:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "registry constraints and search indexes"

SQL = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- One open application per operator and category, however many requests race.
CREATE UNIQUE INDEX IF NOT EXISTS provider_application_category_one_open
    ON provider_application_category (operator, category) WHERE is_open;

CREATE UNIQUE INDEX IF NOT EXISTS provider_listing_once_per_batch
    ON provider_listing (operator, category, batch);
CREATE INDEX IF NOT EXISTS provider_listing_category_valid
    ON provider_listing (category, valid_until, operator);
CREATE INDEX IF NOT EXISTS provider_listing_operator_valid
    ON provider_listing (operator, valid_until);

CREATE UNIQUE INDEX IF NOT EXISTS provider_status_proposal_one_open
    ON provider_status_proposal (operator, proposed_status) WHERE state = 'open';

CREATE INDEX IF NOT EXISTS provider_operator_name_trgm
    ON provider_operator USING gin (name gin_trgm_ops);

ALTER TABLE provider_operator
    ADD CONSTRAINT provider_operator_capacity_positive CHECK (capacity >= 0),
    ADD CONSTRAINT provider_operator_staff_nonnegative CHECK (staff_count >= 0);
ALTER TABLE provider_evaluation
    ADD CONSTRAINT provider_evaluation_score_range CHECK (score BETWEEN 0 AND 100),
    ADD CONSTRAINT provider_evaluation_satisfaction_range CHECK (satisfaction BETWEEN 0 AND 100),
    ADD CONSTRAINT provider_evaluation_complaints_nonnegative CHECK (complaints >= 0),
    ADD CONSTRAINT provider_evaluation_period_order CHECK (period_start < period_end);
ALTER TABLE provider_listing
    ADD CONSTRAINT provider_listing_period_order CHECK (valid_from < valid_until);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="providers", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
