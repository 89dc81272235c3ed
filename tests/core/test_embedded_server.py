"""The embedded server runs with the settings the application's data needs, from its first start on."""

from __future__ import annotations

import os

import asyncpg

from core.db import EMBEDDED_SERVER_SETTINGS


async def test_the_embedded_server_runs_with_its_settings():
    # The test server is started by core.db.start_embedded_server on a new data folder, as `make run` does.
    connection = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        for name, value in EMBEDDED_SERVER_SETTINGS.items():
            assert await connection.fetchval(
                "SELECT pg_size_bytes(current_setting($1)) = pg_size_bytes($2)", name, value
            ), name
        assert not await connection.fetchval("SELECT bool_or(pending_restart) FROM pg_settings")
    finally:
        await connection.close()
