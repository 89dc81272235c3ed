"""Evaluations say why and how they were made: a hand-filed one carries its reason; one the quarterly job
computes from facts has no person behind it, may lack a satisfaction figure, keeps every part of its score
beside it, and exists once per contract and quarter."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T02:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "evaluation kind, reason and parts"

SQL = r"""
ALTER TABLE provider_evaluation
    ADD COLUMN IF NOT EXISTS kind varchar(10) NOT NULL DEFAULT 'manual',
    ADD COLUMN IF NOT EXISTS reason text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS parts jsonb NOT NULL DEFAULT '{}',
    ALTER COLUMN evaluator DROP NOT NULL,
    ALTER COLUMN satisfaction DROP NOT NULL;
ALTER TABLE provider_evaluation DROP CONSTRAINT IF EXISTS provider_evaluation_kind_known;
ALTER TABLE provider_evaluation ADD CONSTRAINT provider_evaluation_kind_known
    CHECK (kind IN ('manual', 'computed'));
ALTER TABLE provider_evaluation DROP CONSTRAINT IF EXISTS provider_evaluation_manual_has_author;
ALTER TABLE provider_evaluation ADD CONSTRAINT provider_evaluation_manual_has_author
    CHECK (kind = 'computed' OR (evaluator IS NOT NULL AND satisfaction IS NOT NULL));
CREATE UNIQUE INDEX IF NOT EXISTS provider_evaluation_computed_once
    ON provider_evaluation (contract_id, period_start) WHERE kind = 'computed';
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="providers", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
