from __future__ import annotations

from functools import cache

from asyncpg import Pool
from piccolo.engine import PostgresEngine, engine_finder


@cache
def _engine() -> PostgresEngine:
    """Finding the engine imports the configuration module: once per process, not once per request."""
    engine = engine_finder()
    if not isinstance(engine, PostgresEngine):
        raise RuntimeError("the read cache needs the PostgreSQL engine")
    return engine


def _pool() -> Pool:
    pool = _engine().pool
    if pool is None:
        raise RuntimeError("the connection pool is not started")
    return pool


async def versions(names: tuple[str, ...]) -> tuple[int, ...]:
    """The current version of each kind of data, in the order asked (0 for one never changed)."""
    async with _pool().acquire() as connection:
        rows = await connection.fetch(
            "SELECT name, version FROM core_data_version WHERE name = ANY($1::text[])", list(names)
        )
    found = {row["name"]: row["version"] for row in rows}
    return tuple(found.get(name, 0) for name in names)


async def all_versions() -> dict[str, int]:
    async with _pool().acquire() as connection:
        rows = await connection.fetch("SELECT name, version FROM core_data_version")
    return {row["name"]: row["version"] for row in rows}
