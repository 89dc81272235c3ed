"""Read caches are never stale and never make writers wait on each other: the database bumps a data version
once per committed transaction, at commit."""

from __future__ import annotations

import asyncio
import os
from datetime import date

import asyncpg

from bench.instruments import StatementLog
from core import clock
from core.cache.service import VersionedCache
from tests.market.helpers import community, need

VERSIONS = "SELECT name, version FROM core_data_version WHERE name IN ('market', 'leasing')"
ENTRY = (
    "INSERT INTO market_ledger_entry (community, month, direction, kind, amount, source, created_at) "
    "VALUES ($1, DATE '2026-10-01', 'cost', 'staff', $2, $3, now())"
)


async def versions(connection) -> dict[str, int]:
    return {r["name"]: r["version"] for r in await connection.fetch(VERSIONS)}


async def test_a_transaction_bumps_the_version_once_and_only_when_it_commits(world, frozen_clock):
    target = await community(world, "street_x", "江滨社区")
    writer = await asyncpg.connect(os.environ["DATABASE_URL"])
    reader = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        before = await versions(reader)
        async with writer.transaction():
            for n in range(50):
                await writer.execute(ENTRY, target["id"], 100, f"test:{n}")
            assert await versions(reader) == before  # nothing visible before commit
        after = await versions(reader)
        assert after["market"] == before["market"] + 1
        assert after["leasing"] == before["leasing"]  # ledger entries are not leasing data

        tx = writer.transaction()
        await tx.start()
        await writer.execute(ENTRY, target["id"], 100, "test:rolled-back")
        await tx.rollback()
        assert await versions(reader) == after
    finally:
        await writer.close()
        await reader.close()


async def test_writers_on_watched_tables_do_not_deadlock_over_the_version(world, frozen_clock):
    """A holds a queued bump and waits for B's row; B writes and commits. Were the version row locked at
    write time rather than at commit, each would wait for the other."""
    target = await community(world, "street_x", "江滨社区")
    other = await community(world, "street_x", "春江社区")
    first = await asyncpg.connect(os.environ["DATABASE_URL"])
    second = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        await first.execute("BEGIN")
        await second.execute("BEGIN")
        await first.execute(ENTRY, target["id"], 100, "deadlock:a")
        await second.execute("SELECT id FROM market_community WHERE id = $1 FOR UPDATE", other["id"])
        waiting = asyncio.create_task(
            first.execute("SELECT id FROM market_community WHERE id = $1 FOR UPDATE", other["id"])
        )
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await second.execute(ENTRY, target["id"], 100, "deadlock:b")
        await second.execute("COMMIT")
        await asyncio.wait_for(waiting, timeout=10)
        await first.execute("COMMIT")
        count = await first.fetchval("SELECT count(*) FROM market_ledger_entry WHERE source LIKE 'deadlock:%'")
        assert count == 2
    finally:
        await first.close()
        await second.close()


async def test_the_overview_shows_an_entry_posted_behind_the_applications_back(world, frozen_clock):
    target = await community(world, "street_x", "江滨社区")
    params = {"start": "2026-01-01", "end": "2027-01-01"}
    first = (await world.get("city", "/api/v1/balance/overview", params=params)).json()
    assert first["total"]["cost"] == 0
    assert (await world.get("city", "/api/v1/balance/overview", params=params)).json() == first
    connection = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        await connection.execute(ENTRY, target["id"], 4_200, "behind:1")
    finally:
        await connection.close()
    again = (await world.get("city", "/api/v1/balance/overview", params=params)).json()
    assert again["total"]["cost"] == 4_200


async def test_an_answer_is_kept_per_business_day(world, frozen_clock):
    built: list[date] = []

    async def build() -> str:
        built.append(clock.today())
        return f"answer of {clock.today()}"

    cache: VersionedCache[str] = VersionedCache(("market",), max_entries=10)
    assert await cache.read("q", build) == await cache.read("q", build)
    assert len(built) == 1
    frozen_clock.advance(days=1)
    await cache.read("q", build)
    assert len(built) == 2


def test_a_cache_keeps_its_most_recent_entries_only():
    cache: VersionedCache[str] = VersionedCache(("market",), max_entries=2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # now the most recently used
    cache.put("c", "C")
    assert cache.get("b") is None
    assert cache.get("a") == "A" and cache.get("c") == "C"


async def test_a_cache_of_size_zero_builds_every_time():
    calls = []

    async def build() -> int:
        calls.append(1)
        return len(calls)

    cache: VersionedCache[int] = VersionedCache(("market",), max_entries=0)
    assert [await cache.read("q", build), await cache.read("q", build)] == [1, 2]


async def test_requests_missing_together_wait_for_one_build(world, frozen_clock):
    release = asyncio.Event()
    builds = []

    async def build() -> str:
        builds.append(1)
        await release.wait()
        return "answer"

    cache: VersionedCache[str] = VersionedCache(("market",), max_entries=10)
    waiting = [asyncio.create_task(cache.read("q", build)) for _ in range(20)]
    await asyncio.sleep(0.2)
    release.set()
    assert await asyncio.gather(*waiting) == ["answer"] * 20
    assert len(builds) == 1


async def test_a_failed_build_fails_its_waiters_and_is_tried_again_next_time(world, frozen_clock):
    attempts = []

    async def build() -> str:
        attempts.append(1)
        await asyncio.sleep(0.05)
        if len(attempts) == 1:
            raise RuntimeError("database went away")
        return "answer"

    cache: VersionedCache[str] = VersionedCache(("market",), max_entries=10)
    first = await asyncio.gather(*(cache.read("q", build) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in first) and len(attempts) == 1
    assert await cache.read("q", build) == "answer"


async def test_a_user_switched_off_or_stripped_of_a_grant_is_refused_on_the_next_request(world, frozen_clock):
    """As an administrator would do it in the admin or the database: nothing in the application is told."""
    assert (await world.get("street_x", "/api/v1/communities")).status_code == 200
    assert (await world.get("district", "/api/v1/balance/overview")).status_code == 200
    connection = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        await connection.execute("UPDATE account_user SET active = false WHERE id = $1", world.user_ids["street_x"])
        await connection.execute('DELETE FROM role_grant WHERE "user" = $1', world.user_ids["district"])
    finally:
        await connection.close()
    assert (await world.get("street_x", "/api/v1/communities")).status_code == 401
    assert (await world.get("district", "/api/v1/balance/overview")).status_code == 403


async def test_a_repeated_read_costs_one_statement_who_is_asking_included(world, frozen_clock):
    target = await community(world, "street_x", "江滨社区")
    await need(world, "street_x", target["id"], "elderly")
    reads = [
        f"/api/v1/communities/{target['id']}/matches",
        "/api/v1/balance/overview",
        "/api/v1/leasing-figures/?level=street",
    ]
    for url in reads:
        first = await world.get("district", url)
        assert first.status_code == 200, first.text
        with StatementLog() as log:
            again = await world.get("district", url)
        assert again.json() == first.json()
        assert log.count() == 1, (url, log.statements)
    with StatementLog() as log:
        assert (await world.get("street_y", reads[0])).status_code == 404  # cached, yet still out of scope
    assert log.count() == 2  # the versions, and street Y who had not asked before


async def test_requests_asking_together_share_one_version_read_started_after_they_asked(
    world, frozen_clock, monkeypatch
):
    """Five requests ask while a read is under way: they wait for it. A change is committed, five more ask: they
    are answered by the next read, never by the one that started before the commit."""
    from core.cache import repository as cache_repo
    from core.cache.service import versions, versions_read_once

    target = await community(world, "street_x", "江滨社区")
    real_read, reads = cache_repo.all_versions, []
    first_read_done, release = asyncio.Event(), asyncio.Event()

    async def held_first_read() -> dict[str, int]:
        found = await real_read()
        reads.append(found)
        if len(reads) == 1:
            first_read_done.set()
            await release.wait()
        return found

    monkeypatch.setattr(cache_repo, "all_versions", held_first_read)

    async def a_read_request() -> tuple[int, ...]:
        with versions_read_once():
            return await versions(("market",))

    early = [asyncio.create_task(a_read_request()) for _ in range(5)]
    await first_read_done.wait()
    connection = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        await connection.execute(ENTRY, target["id"], 100, "shared-read:1")
    finally:
        await connection.close()
    late = [asyncio.create_task(a_read_request()) for _ in range(5)]
    await asyncio.sleep(0.05)
    release.set()
    early_answers, late_answers = await asyncio.gather(*early), await asyncio.gather(*late)
    assert len(set(early_answers)) == 1 and len(set(late_answers)) == 1
    assert late_answers[0][0] == early_answers[0][0] + 1
    assert len(reads) == 2  # ten requests, two reads
