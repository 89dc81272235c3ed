"""Points and time-bank hours: a double-entry ledger, volunteer activities, point-priced services and their
redemptions, time-bank withdrawals."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T05:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "points ledger, volunteer activities, point-priced services and the time bank"

SQL = r"""
-- Accounts of the double-entry ledger. Points accounts: a resident's, the community's pool (the issuer: every
-- point is issued from it, so it alone runs negative), an operator's clearing account per community, and the
-- community's expired sink. Hours accounts (time bank): a resident's, the community's issuer, and the sink of
-- care received. A balance never goes negative: the balance column below is moved by the same transaction
-- that inserts the posting, and its CHECK refuses any posting that would overdraw a non-issuer account.
CREATE TABLE points_account (
    id serial PRIMARY KEY,
    kind varchar(10) NOT NULL
        CHECK (kind IN ('resident', 'pool', 'clearing', 'expired', 'time', 'time_pool', 'time_used')),
    unit varchar(6) NOT NULL CHECK (unit IN ('points', 'hours')),
    community integer NOT NULL REFERENCES market_community (id),
    resident integer REFERENCES resident (id) ON DELETE SET NULL,
    operator integer REFERENCES provider_operator (id),
    balance numeric(14, 2) NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    CONSTRAINT points_account_not_negative CHECK (balance >= 0 OR kind IN ('pool', 'time_pool')),
    CONSTRAINT points_account_unit CHECK ((unit = 'hours') = (kind IN ('time', 'time_pool', 'time_used'))),
    CHECK (resident IS NULL OR kind IN ('resident', 'time')),
    CHECK ((kind = 'clearing') = (operator IS NOT NULL)),
    UNIQUE (id, unit)
);
-- One account of each kind per community, resident and operator.
CREATE UNIQUE INDEX points_account_owner ON points_account (kind, community, coalesce(resident, 0), coalesce(operator, 0));

-- A posting moves a positive amount from one account to another of the same unit: whole points, or hours in
-- quarter-hour steps. The idempotency key makes one posting of one source, however often it is offered.
CREATE TABLE points_posting (
    id bigserial PRIMARY KEY,
    unit varchar(6) NOT NULL,
    from_account integer NOT NULL,
    to_account integer NOT NULL,
    amount numeric(12, 2) NOT NULL,
    source_kind varchar(30) NOT NULL,
    source_id integer NOT NULL,
    idempotency_key varchar(120) NOT NULL UNIQUE,
    memo varchar(200) NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    FOREIGN KEY (from_account, unit) REFERENCES points_account (id, unit),
    FOREIGN KEY (to_account, unit) REFERENCES points_account (id, unit),
    CHECK (from_account <> to_account),
    CHECK (amount > 0),
    CHECK ((unit = 'points' AND amount = trunc(amount)) OR (unit = 'hours' AND amount * 4 = trunc(amount * 4)))
);
CREATE INDEX points_posting_from ON points_posting (from_account, created_at);
CREATE INDEX points_posting_to ON points_posting (to_account, created_at);

-- Volunteer activities posted by the street office of a community; elderly care (养老) earns time-bank hours.
CREATE TABLE points_activity (
    id serial PRIMARY KEY,
    community integer NOT NULL REFERENCES market_community (id),
    title varchar(200) NOT NULL,
    kind varchar(12) NOT NULL CHECK (kind IN ('ordinary', 'elderly_care')),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    points_per_hour integer CHECK (points_per_hour > 0),
    fixed_points integer CHECK (fixed_points > 0),
    created_by integer NOT NULL REFERENCES account_user (id),
    created_at timestamptz NOT NULL,
    CHECK (starts_at < ends_at),
    CHECK (kind = 'elderly_care' AND points_per_hour IS NULL AND fixed_points IS NULL
           OR kind = 'ordinary' AND (points_per_hour IS NULL) <> (fixed_points IS NULL))
);
CREATE INDEX points_activity_community ON points_activity (community, starts_at);

CREATE TABLE points_signup (
    id serial PRIMARY KEY,
    activity integer NOT NULL REFERENCES points_activity (id),
    resident integer NOT NULL REFERENCES resident (id) ON DELETE CASCADE,
    signed_up_at timestamptz NOT NULL,
    hours numeric(5, 2) CHECK (hours > 0 AND hours * 4 = trunc(hours * 4)),
    awarded numeric(12, 2),
    confirmed_by integer REFERENCES account_user (id),
    confirmed_at timestamptz,
    UNIQUE (activity, resident),
    CHECK ((confirmed_at IS NULL) = (hours IS NULL))
);

-- Point-priced services an operator offers in a community; `redeemed` never passes `capacity`.
CREATE TABLE points_service (
    id serial PRIMARY KEY,
    community integer NOT NULL REFERENCES market_community (id),
    operator integer NOT NULL REFERENCES provider_operator (id),
    title varchar(200) NOT NULL,
    description text NOT NULL DEFAULT '',
    price_points integer NOT NULL CHECK (price_points > 0),
    capacity integer NOT NULL CHECK (capacity > 0),
    redeemed integer NOT NULL DEFAULT 0,
    opens_at timestamptz NOT NULL,
    closes_at timestamptz NOT NULL,
    created_by integer NOT NULL REFERENCES account_user (id),
    created_at timestamptz NOT NULL,
    CHECK (opens_at < closes_at),
    CONSTRAINT points_service_capacity CHECK (redeemed >= 0 AND redeemed <= capacity)
);
CREATE INDEX points_service_community ON points_service (community, closes_at);

CREATE TABLE points_redemption (
    id serial PRIMARY KEY,
    service integer NOT NULL REFERENCES points_service (id),
    resident integer REFERENCES resident (id) ON DELETE SET NULL,
    points integer NOT NULL CHECK (points > 0),
    fen_per_point integer NOT NULL CHECK (fen_per_point >= 0),
    state varchar(10) NOT NULL DEFAULT 'redeemed' CHECK (state IN ('redeemed', 'delivered', 'cancelled')),
    created_at timestamptz NOT NULL,
    delivered_at timestamptz,
    delivered_by integer REFERENCES account_user (id),
    cancelled_at timestamptz,
    CHECK ((state = 'delivered') = (delivered_at IS NOT NULL)),
    CHECK ((state = 'cancelled') = (cancelled_at IS NOT NULL))
);
CREATE INDEX points_redemption_service ON points_redemption (service);
CREATE INDEX points_redemption_resident ON points_redemption (resident);

-- Time-bank hours withdrawn as care for oneself, once the street (or the operator giving the care) confirms.
CREATE TABLE timebank_withdrawal (
    id serial PRIMARY KEY,
    resident integer NOT NULL REFERENCES resident (id) ON DELETE CASCADE,
    community integer NOT NULL REFERENCES market_community (id),
    hours numeric(6, 2) NOT NULL CHECK (hours > 0 AND hours * 4 = trunc(hours * 4)),
    note varchar(500) NOT NULL DEFAULT '',
    state varchar(10) NOT NULL DEFAULT 'requested' CHECK (state IN ('requested', 'confirmed')),
    created_at timestamptz NOT NULL,
    confirmed_by integer REFERENCES account_user (id),
    confirmed_at timestamptz,
    CHECK ((state = 'confirmed') = (confirmed_at IS NOT NULL))
);
CREATE INDEX timebank_withdrawal_community ON timebank_withdrawal (community, state);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="residents", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
