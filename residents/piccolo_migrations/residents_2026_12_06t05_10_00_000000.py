"""Satisfaction surveys: one per service contract and quarter, one answer per household, and the offline
results a district's third-party surveyor uploads, kept apart from the online answers."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T05:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "satisfaction surveys, answers and offline uploads"

SQL = r"""
CREATE TABLE resident_survey (
    id serial PRIMARY KEY,
    contract integer NOT NULL REFERENCES market_contract (id),
    community integer NOT NULL REFERENCES market_community (id),
    operator integer NOT NULL REFERENCES provider_operator (id),
    period_start date NOT NULL,
    period_end date NOT NULL,
    opens_at timestamptz NOT NULL,
    closes_at timestamptz NOT NULL,
    state varchar(10) NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    created_at timestamptz NOT NULL,
    closed_at timestamptz,
    result jsonb,
    CHECK (period_start < period_end),
    CHECK (opens_at < closes_at),
    CHECK ((state = 'closed') = (closed_at IS NOT NULL AND result IS NOT NULL)),
    -- Exactly one survey per contract and quarter, however many openers run.
    CONSTRAINT resident_survey_once UNIQUE (contract, period_start)
);
CREATE INDEX resident_survey_community ON resident_survey (community, period_start);
CREATE INDEX resident_survey_due ON resident_survey (closes_at) WHERE state = 'open';

-- One answer per household and survey; the resident link goes when the resident deletes their account.
CREATE TABLE resident_survey_answer (
    id serial PRIMARY KEY,
    survey integer NOT NULL REFERENCES resident_survey (id),
    household integer NOT NULL REFERENCES resident_household (id),
    resident integer REFERENCES resident (id) ON DELETE SET NULL,
    overall smallint NOT NULL CHECK (overall BETWEEN 1 AND 5),
    attitude smallint NOT NULL CHECK (attitude BETWEEN 1 AND 5),
    responsiveness smallint NOT NULL CHECK (responsiveness BETWEEN 1 AND 5),
    quality smallint NOT NULL CHECK (quality BETWEEN 1 AND 5),
    price smallint NOT NULL CHECK (price BETWEEN 1 AND 5),
    comment varchar(500) NOT NULL DEFAULT '',
    answered_at timestamptz NOT NULL,
    CONSTRAINT resident_survey_answer_one_per_household UNIQUE (survey, household)
);

CREATE TABLE resident_survey_upload (
    id serial PRIMARY KEY,
    survey integer NOT NULL REFERENCES resident_survey (id),
    uploaded_by integer NOT NULL REFERENCES account_user (id),
    surveyor_org integer NOT NULL REFERENCES organisation (id),
    file_name varchar(200) NOT NULL CHECK (btrim(file_name) <> ''),
    row_count integer NOT NULL CHECK (row_count > 0),
    satisfied integer NOT NULL CHECK (satisfied BETWEEN 0 AND row_count),
    uploaded_at timestamptz NOT NULL
);
CREATE INDEX resident_survey_upload_survey ON resident_survey_upload (survey);

CREATE TABLE resident_survey_offline_row (
    id serial PRIMARY KEY,
    upload integer NOT NULL REFERENCES resident_survey_upload (id),
    survey integer NOT NULL REFERENCES resident_survey (id),
    row_number integer NOT NULL,
    overall smallint NOT NULL CHECK (overall BETWEEN 1 AND 5),
    attitude smallint NOT NULL CHECK (attitude BETWEEN 1 AND 5),
    responsiveness smallint NOT NULL CHECK (responsiveness BETWEEN 1 AND 5),
    quality smallint NOT NULL CHECK (quality BETWEEN 1 AND 5),
    price smallint NOT NULL CHECK (price BETWEEN 1 AND 5),
    comment varchar(500) NOT NULL DEFAULT '',
    UNIQUE (upload, row_number)
);
CREATE INDEX resident_survey_offline_row_survey ON resident_survey_offline_row (survey);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="residents", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
