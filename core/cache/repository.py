from __future__ import annotations

from functools import cache

from piccolo.engine import engine_finder

# Finding the engine imports the configuration module: once per process, not once per request.
_engine = cache(engine_finder)


async def versions(names: tuple[str, ...]) -> tuple[int, ...]:
    """The current version of each kind of data, in the order asked (0 for one never changed)."""
    async with _engine().pool.acquire() as connection:
        rows = await connection.fetch(
            "SELECT name, version FROM core_data_version WHERE name = ANY($1::text[])", list(names)
        )
    found = {row["name"]: row["version"] for row in rows}
    return tuple(found.get(name, 0) for name in names)


async def all_versions() -> dict[str, int]:
    async with _engine().pool.acquire() as connection:
        rows = await connection.fetch("SELECT name, version FROM core_data_version")
    return {row["name"]: row["version"] for row in rows}
