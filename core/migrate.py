"""Apply every app's migrations, once, even when several processes start together.

Migrations run as the owner of the tables (MIGRATION_DATABASE_URL); afterwards the application's role
(DATABASE_URL) is granted what it needs, so tables a migration adds are covered at once. The audit log it
may read and append to, nothing more: not update, delete, truncate, or switch its triggers off.
"""

from __future__ import annotations

import contextlib
import io
import logging

import asyncpg
from piccolo.apps.migrations.commands.forwards import run_forwards

from core.db import postgres_engine, resolve_migration_database_url

log = logging.getLogger(__name__)

MIGRATION_LOCK_KEY = 7_130_001  # arbitrary, fixed: pg_advisory_lock key for migrations

APP_ROLE_RIGHTS = """
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
REVOKE ALL ON audit_log, migration FROM {role};
GRANT SELECT, INSERT ON audit_log TO {role};
GRANT SELECT ON migration TO {role};
"""


async def migrate() -> None:
    engine = postgres_engine()
    if engine.pool is not None:
        raise RuntimeError("migrate() runs before the connection pool opens: the pool connects as the application")
    app_url, owner_url = engine.config["dsn"], resolve_migration_database_url()
    app = await asyncpg.connect(app_url)
    try:
        app_role, app_database = await _whoami(app)
    finally:
        await app.close()
    # A session-level advisory lock needs one connection for lock, migrate and unlock.
    connection = await asyncpg.connect(owner_url)
    try:
        owner_role, owner_database = await _whoami(connection)
        if owner_database != app_database:
            raise RuntimeError(
                f"MIGRATION_DATABASE_URL reaches database {owner_database}, "
                f"DATABASE_URL {app_database}: they must name the same one"
            )
        await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        output = io.StringIO()
        # Piccolo's migrations run on the project's engine: pointed at the owner while they run.
        engine.config = {**engine.config, "dsn": owner_url}
        try:
            with contextlib.redirect_stdout(output):
                result = await run_forwards(app_name="all")
        finally:
            engine.config = {**engine.config, "dsn": app_url}
        if not result.success:
            raise RuntimeError(f"migrations failed: {result.message}\n{output.getvalue()}")
        if app_role != owner_role:
            await connection.execute(APP_ROLE_RIGHTS.format(role=_identifier(app_role)))
        log.info("migrations up to date")
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
        await connection.close()


async def _whoami(connection: asyncpg.Connection) -> tuple[str, tuple[str, str]]:
    """The connection's role, and its database as (name, server port)."""
    row = await connection.fetchrow("SELECT current_user, current_database(), current_setting('port')")
    return row[0], (row[1], row[2])


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def run_sql_script(sql: str) -> None:
    """Run several SQL statements at once (for raw migrations): a plain connection and the simple
    query protocol, because a prepared statement holds one command only."""
    connection = await postgres_engine().get_new_connection()
    try:
        await connection.execute(sql)
    finally:
        await connection.close()
