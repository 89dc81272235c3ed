"""State-owned platforms (国企平台统一运营试点): city staff designate a company as a city- or district-level
platform and assign old-renovation communities to it; a community is under at most one platform at a time
(an exclusion constraint over the assignment's dates). A platform holds one master contract in force, and
the service contracts it signs with listed specialists name that master contract."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T05:42:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "state-owned platforms, their communities and master contracts"

SQL = """
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE IF NOT EXISTS market_platform (
    id serial PRIMARY KEY,
    org integer NOT NULL UNIQUE REFERENCES organisation (id),
    level varchar(10) NOT NULL CHECK (level IN ('city', 'district')),
    district integer REFERENCES organisation (id),
    reason text NOT NULL CHECK (btrim(reason) <> ''),
    designated_by integer NOT NULL REFERENCES account_user (id),
    designated_at timestamptz NOT NULL,
    CONSTRAINT market_platform_district CHECK ((level = 'district') = (district IS NOT NULL))
);

CREATE TABLE IF NOT EXISTS market_platform_assignment (
    id serial PRIMARY KEY,
    platform integer NOT NULL REFERENCES market_platform (id),
    community integer NOT NULL REFERENCES market_community (id),
    starts_on date NOT NULL,
    ends_on date,
    reason text NOT NULL CHECK (btrim(reason) <> ''),
    assigned_by integer NOT NULL REFERENCES account_user (id),
    created_at timestamptz NOT NULL,
    CONSTRAINT market_platform_assignment_term CHECK (ends_on IS NULL OR starts_on < ends_on),
    CONSTRAINT market_platform_one_at_a_time EXCLUDE USING gist (
        community WITH =, daterange(starts_on, ends_on, '[)') WITH &&
    )
);
CREATE INDEX IF NOT EXISTS market_platform_assignment_platform ON market_platform_assignment (platform);

CREATE TABLE IF NOT EXISTS market_platform_contract (
    id serial PRIMARY KEY,
    platform integer NOT NULL REFERENCES market_platform (id),
    starts_on date NOT NULL,
    ends_on date NOT NULL,
    annual_fee bigint NOT NULL CHECK (annual_fee >= 0),
    terms text NOT NULL DEFAULT '',
    status varchar(12) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
    signed_by integer NOT NULL REFERENCES account_user (id),
    signed_at timestamptz NOT NULL,
    CONSTRAINT market_platform_contract_term CHECK (starts_on < ends_on)
);
CREATE UNIQUE INDEX IF NOT EXISTS market_platform_one_master ON market_platform_contract (platform)
    WHERE status = 'active';

ALTER TABLE market_contract ADD COLUMN IF NOT EXISTS master_contract integer REFERENCES market_platform_contract (id);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
