"""Residents, households, one-time login codes, polls, their options and ballots."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T03:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "residents, households, login codes and polls"

SQL = r"""
CREATE TABLE resident_household (
    id serial PRIMARY KEY,
    community integer NOT NULL REFERENCES market_community (id),
    building varchar(20) NOT NULL,
    unit varchar(20) NOT NULL,
    room varchar(20) NOT NULL,
    confirmed_at timestamptz,
    confirmed_by integer REFERENCES account_user (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT resident_household_address UNIQUE (community, building, unit, room)
);

CREATE TABLE resident (
    id serial PRIMARY KEY,
    "user" integer NOT NULL UNIQUE REFERENCES account_user (id),
    phone varchar(11) NOT NULL UNIQUE CHECK (phone ~ '^1[3-9][0-9]{9}$'),
    name varchar(50) NOT NULL,
    household integer NOT NULL REFERENCES resident_household (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX resident_household_idx ON resident (household);

CREATE TABLE resident_login_code (
    id serial PRIMARY KEY,
    phone varchar(11) NOT NULL,
    code_hash varchar(64) NOT NULL,
    client varchar(64) NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    used_at timestamptz
);
CREATE INDEX resident_login_code_phone ON resident_login_code (phone, created_at);
CREATE INDEX resident_login_code_client ON resident_login_code (client, created_at);

CREATE TABLE resident_poll (
    id serial PRIMARY KEY,
    community integer NOT NULL REFERENCES market_community (id),
    need integer NOT NULL REFERENCES market_need (id),
    title varchar(200) NOT NULL,
    opens_at timestamptz NOT NULL,
    closes_at timestamptz NOT NULL,
    quorum numeric(5, 4) NOT NULL CHECK (quorum > 0 AND quorum <= 1),
    state varchar(10) NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    created_by integer NOT NULL REFERENCES account_user (id),
    created_at timestamptz NOT NULL,
    closed_at timestamptz,
    result jsonb,
    decision_follows boolean,
    decision_option integer,
    decision_reason text NOT NULL DEFAULT '',
    decided_by integer REFERENCES account_user (id),
    decided_at timestamptz,
    CHECK (opens_at < closes_at),
    CHECK ((state = 'closed') = (closed_at IS NOT NULL AND result IS NOT NULL))
);
CREATE INDEX resident_poll_community ON resident_poll (community);
CREATE INDEX resident_poll_due ON resident_poll (closes_at) WHERE state = 'open';

CREATE TABLE resident_poll_option (
    id serial PRIMARY KEY,
    poll integer NOT NULL REFERENCES resident_poll (id),
    position integer NOT NULL,
    kind varchar(10) NOT NULL CHECK (kind IN ('operator', 'package')),
    operator integer REFERENCES provider_operator (id),
    label varchar(200) NOT NULL,
    description text NOT NULL DEFAULT '',
    score_total numeric(8, 2),
    score_parts jsonb NOT NULL DEFAULT '[]',
    CHECK ((kind = 'operator') = (operator IS NOT NULL)),
    UNIQUE (poll, position),
    UNIQUE (poll, id)
);

-- One ballot per household and poll; the option must be one of the poll's own.
CREATE TABLE resident_ballot (
    id serial PRIMARY KEY,
    poll integer NOT NULL REFERENCES resident_poll (id),
    household integer NOT NULL REFERENCES resident_household (id),
    option integer NOT NULL,
    resident integer REFERENCES resident (id) ON DELETE SET NULL,
    receipt_hash varchar(64) NOT NULL UNIQUE,
    cast_at timestamptz NOT NULL,
    CONSTRAINT resident_ballot_one_per_household UNIQUE (poll, household),
    FOREIGN KEY (poll, option) REFERENCES resident_poll_option (poll, id)
);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="residents", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
