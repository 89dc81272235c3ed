"""Cached directory pages are never stale: the database bumps the version on every change."""

from __future__ import annotations

from datetime import date

from piccolo.engine import engine_finder

from providers.directory_cache import PageCache
from tests.providers.helpers import directory, listed_operator


async def test_a_change_made_outside_the_application_shows_at_once(world, frozen_clock):
    await listed_operator(world, frozen_clock, "缓存企业甲", "cache_a")
    await listed_operator(world, frozen_clock, "缓存企业乙", "cache_b")
    assert (await directory(world))["total"] == 2
    assert (await directory(world))["total"] == 2  # served from the cache

    await engine_finder().run_ddl(
        "UPDATE provider_operator SET registry_status = 'suspended' WHERE name = '缓存企业甲'"
    )
    assert [o["name"] for o in (await directory(world))["items"]] == ["缓存企业乙"]

    await engine_finder().run_ddl("UPDATE provider_listing SET valid_from = DATE '2020-01-01', valid_until = DATE '2022-01-01'")
    assert (await directory(world))["total"] == 0


async def test_reads_do_not_move_the_version(world, frozen_clock):
    await listed_operator(world, frozen_clock, "只读企业", "readonly")
    version = "SELECT version FROM provider_directory_version"
    before = (await engine_finder().run_ddl(version))[0]["version"]
    for _ in range(3):
        await directory(world)
    assert (await engine_finder().run_ddl(version))[0]["version"] == before


def test_page_cache_keeps_the_most_recent_pages_only():
    cache = PageCache(max_entries=2)
    today = date(2026, 11, 23)
    cache.put(1, today, ("a",), b"A")
    cache.put(1, today, ("b",), b"B")
    assert cache.get(1, today, ("a",)) == b"A"  # now the most recently used
    cache.put(1, today, ("c",), b"C")
    assert cache.get(1, today, ("b",)) is None
    assert cache.get(1, today, ("a",)) == b"A" and cache.get(1, today, ("c",)) == b"C"
    assert cache.get(2, today, ("a",)) is None  # another version is another page
    assert cache.get(1, date(2026, 11, 24), ("a",)) is None  # and so is another day


def test_a_cache_of_size_zero_keeps_nothing():
    cache = PageCache(max_entries=0)
    cache.put(1, date(2026, 11, 23), (), b"x")
    assert cache.get(1, date(2026, 11, 23), ()) is None
