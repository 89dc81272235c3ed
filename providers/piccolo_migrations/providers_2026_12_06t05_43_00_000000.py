"""Industry alliances (产业联盟): a group of listed operators under a lead, with a charter, approved by the
city. Each member takes a role (integrated, or specialist in one category) from the day it joins; matching
offers an approved alliance as one candidate for a community's needs, so the tables feed the registry's
data version."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T05:43:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "industry alliances and their members"

SQL = r"""
CREATE TABLE IF NOT EXISTS provider_alliance (
    id serial PRIMARY KEY,
    name varchar(200) NOT NULL UNIQUE CHECK (btrim(name) <> ''),
    lead integer NOT NULL REFERENCES provider_operator (id),
    charter_ref varchar(200) NOT NULL CHECK (btrim(charter_ref) <> ''),
    status varchar(10) NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'approved')),
    created_by integer NOT NULL REFERENCES account_user (id),
    created_at timestamptz NOT NULL,
    decided_by integer REFERENCES account_user (id),
    decided_at timestamptz,
    reason text NOT NULL DEFAULT '',
    CONSTRAINT provider_alliance_approved CHECK (status = 'proposed' OR (decided_by IS NOT NULL AND btrim(reason) <> ''))
);
CREATE TABLE IF NOT EXISTS provider_alliance_member (
    id serial PRIMARY KEY,
    alliance integer NOT NULL REFERENCES provider_alliance (id),
    operator integer NOT NULL REFERENCES provider_operator (id),
    role varchar(12) NOT NULL CHECK (role IN ('integrated', 'specialist')),
    category varchar(40) NOT NULL REFERENCES provider_category (code),
    joined_on date NOT NULL,
    left_on date,
    CONSTRAINT provider_alliance_member_term CHECK (left_on IS NULL OR joined_on < left_on),
    CONSTRAINT provider_alliance_member_role CHECK ((role = 'integrated') = (category = 'integrated'))
);
CREATE UNIQUE INDEX IF NOT EXISTS provider_alliance_member_once
    ON provider_alliance_member (alliance, operator, category) WHERE left_on IS NULL;
SELECT core_data_version_watch('provider_alliance', 'registry');
SELECT core_data_version_watch('provider_alliance_member', 'registry');
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="providers", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
