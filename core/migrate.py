"""Apply every app's migrations, once, even when several processes start together."""

from __future__ import annotations

import contextlib
import io
import logging

from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.engine import engine_finder

log = logging.getLogger(__name__)

MIGRATION_LOCK_KEY = 7_130_001  # arbitrary, fixed: pg_advisory_lock key for migrations


async def migrate() -> None:
    engine = engine_finder()
    # A session-level advisory lock needs one connection for lock, migrate and unlock.
    connection = await engine.get_new_connection()
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            result = await run_forwards(app_name="all")
        if not result.success:
            raise RuntimeError(f"migrations failed: {result.message}\n{output.getvalue()}")
        log.info("migrations up to date")
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
        await connection.close()


async def run_sql_script(sql: str) -> None:
    """Run several SQL statements at once (for raw migrations): a plain connection and the simple
    query protocol, because a prepared statement holds one command only."""
    connection = await engine_finder().get_new_connection()
    try:
        await connection.execute(sql)
    finally:
        await connection.close()
