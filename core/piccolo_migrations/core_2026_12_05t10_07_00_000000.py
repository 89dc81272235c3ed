"""Idempotency keys of our own API: a user's key, the request it was first sent with, and that request's answer.

One row per (user, key), claimed by INSERT ... ON CONFLICT before the handler runs, so of two requests under
one key only one runs. Rows expire after 24 hours and are taken over or removed when keys are claimed.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-05T10:07:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "idempotency keys of POST requests, per user"

SQL = """
CREATE TABLE IF NOT EXISTS idempotency_key (
    id serial PRIMARY KEY,
    account integer NOT NULL REFERENCES account_user (id) ON DELETE CASCADE,
    key varchar(255) NOT NULL CHECK (key ~ '^[ -~]{1,255}$'),
    fingerprint varchar(64) NOT NULL,
    claim varchar(32) NOT NULL,
    claimed_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    response_status integer,
    response_headers jsonb,
    response_body bytea,
    CONSTRAINT idempotency_key_once_per_account UNIQUE (account, key)
);
CREATE INDEX IF NOT EXISTS idempotency_key_expires_at ON idempotency_key (expires_at);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
