"""Cached directory pages are never stale: the database bumps the registry's version on every commit."""

from __future__ import annotations

from piccolo.engine import engine_finder

from tests.providers.helpers import directory, listed_operator

REGISTRY_VERSION = "SELECT version FROM core_data_version WHERE name = 'registry'"


async def test_a_change_made_outside_the_application_shows_at_once(world, frozen_clock):
    await listed_operator(world, frozen_clock, "缓存企业甲", "cache_a")
    await listed_operator(world, frozen_clock, "缓存企业乙", "cache_b")
    assert (await directory(world))["total"] == 2
    assert (await directory(world))["total"] == 2  # served from the cache

    await engine_finder().run_ddl(
        "UPDATE provider_operator SET registry_status = 'suspended' WHERE name = '缓存企业甲'"
    )
    assert [o["name"] for o in (await directory(world))["items"]] == ["缓存企业乙"]

    await engine_finder().run_ddl(
        "UPDATE provider_listing SET valid_from = DATE '2020-01-01', valid_until = DATE '2022-01-01'"
    )
    assert (await directory(world))["total"] == 0


async def test_reads_do_not_move_the_version(world, frozen_clock):
    await listed_operator(world, frozen_clock, "只读企业", "readonly")
    before = (await engine_finder().run_ddl(REGISTRY_VERSION))[0]["version"]
    for _ in range(3):
        await directory(world)
    assert (await engine_finder().run_ddl(REGISTRY_VERSION))[0]["version"] == before
