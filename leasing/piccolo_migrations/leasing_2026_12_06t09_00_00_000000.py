"""Awards by published rules: weights per track on the listing, panel scores per application, the final
ranking kept on the applications and the street's reason when it did not award the first."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "panel scores and public award results"

SQL = """
UPDATE leasing_listing SET criteria = CASE track
    WHEN 'competitive' THEN '{"rent": 60, "plan": 40}'::jsonb
    ELSE '{"elderly": 40, "children": 30, "discounts": 30}'::jsonb END;
ALTER TABLE leasing_listing
    ADD COLUMN IF NOT EXISTS override_reason text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS awarded_at timestamptz;
ALTER TABLE leasing_application ADD COLUMN IF NOT EXISTS rank smallint;

CREATE TABLE IF NOT EXISTS leasing_panel_score (
    id serial PRIMARY KEY,
    application integer NOT NULL REFERENCES leasing_application (id),
    member integer NOT NULL REFERENCES account_user (id),
    scores jsonb NOT NULL,
    comment text NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT leasing_panel_score_once UNIQUE (application, member)
);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="leasing", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
