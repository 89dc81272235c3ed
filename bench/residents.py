"""Residents at benchmark size, and what is measured of them beside its raw-SQL ceiling.

Seeded by bench/data.py after the rest of the city, in SQL (INSERT ... SELECT over generate_series), so that
2.5 million households at city size take seconds, not minutes of Python:
  - every community's households (`Size.households_per_community`, 2,000 at city size), confirmed;
  - the tally community: the first sampled community with an open need, grown to `Size.poll_ballots`
    households (10,000 at city size), with `TALLY_POLLS` open polls on that need, each holding a ballot from
    every household: the polls the close path is measured on;
  - resident accounts in `RESIDENT_COMMUNITIES` sampled communities, `RESIDENTS_EACH` a community, each
    community with an open and a closed poll its whole register voted in; each account's receipts are known
    (a receipt is `bench-<poll>-<household>`, stored as its SHA-256 as the application stores them).

Measured:
  - "poll tally (close)": residents.service.close_due_polls() closing one poll of `poll_ballots` ballots (the
    scheduler's close path: claim, count, tally, store, record on the need, audit), against the same
    statements sent on a bare asyncpg connection; the polls alternate between the two, each closed once, in
    a process of its own on a copy of the generated database (see measure_tally_in_own_process).
  - "resident polls" and "poll receipt": HTTP endpoints, measured by bench/run.py like the others against
    bench/ceiling.py (see run.build_endpoints).

Points (balance, statement, a month's redemptions posted to the ledger) come with the points ledger: add
their seed to `seed` under "Points" and their measurements to `SCENARIOS` below.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg

TALLY_POLLS = 12  # one of each side's six not counted (see measure_tally), five counted each
UNCOUNTED_PAIRS = 1
RESIDENT_COMMUNITIES = 100
RESIDENTS_EACH = 5
HOUSEHOLD_CHUNK = 250  # communities per INSERT of households
OPTIONS = ("普惠托育套餐", "社区食堂套餐", "老年助餐套餐")


@dataclass
class ResidentAccount:
    user_id: int
    community_id: int
    receipts: list[str] = field(default_factory=list)  # of this household's ballots, as the resident was told


@dataclass
class ResidentsSeeded:
    tally_poll_ids: list[int]
    tally_ballots: int
    resident_accounts: list[ResidentAccount]


def receipt(poll_id: int, household_id: int) -> str:
    return f"bench-{poll_id}-{household_id}"


# The address of the g-th household of a community: building, unit (four to a building), room.
ADDRESS = "((g - 1) / 100 + 1)::text, (((g - 1) % 100) / 25 + 1)::text, ((g - 1) % 25 + 101)::text"  # 100 a building
HOUSEHOLDS_SQL = f"""
INSERT INTO resident_household (community, building, unit, room, confirmed_at, confirmed_by, created_at)
SELECT c.id, {ADDRESS}, $3, $4, $3
FROM market_community c CROSS JOIN generate_series($1::int, $2::int) g
WHERE c.id BETWEEN $5 AND $6
"""

# Every listed household of the community votes: options spread 3 : 2 : 2 by household id.
BALLOTS_SQL = """
INSERT INTO resident_ballot (poll, household, option, resident, receipt_hash, cast_at)
SELECT $1::int, h.id,
       ($2::int[])[CASE WHEN h.id % 7 < 3 THEN 1 WHEN h.id % 7 < 5 THEN 2 ELSE 3 END],
       r.id, encode(sha256(convert_to('bench-' || $1::int || '-' || h.id, 'UTF8')), 'hex'), $3
FROM resident_household h LEFT JOIN resident r ON r.household = h.id
WHERE h.community = $4
"""


async def _insert_poll(
    connection: asyncpg.Connection,
    *,
    community_id: int,
    need_id: int,
    title: str,
    opens_at: datetime,
    closes_at: datetime,
    created_by: int,
) -> tuple[int, list[int]]:
    poll_id = await connection.fetchval(
        "INSERT INTO resident_poll (community, need, title, opens_at, closes_at, quorum, state, created_by, "
        "created_at) VALUES ($1, $2, $3, $4, $5, 0.3, 'open', $6, $4) RETURNING id",
        community_id,
        need_id,
        title,
        opens_at,
        closes_at,
        created_by,
    )
    option_ids = [
        await connection.fetchval(
            "INSERT INTO resident_poll_option (poll, position, kind, label, description) "
            "VALUES ($1, $2, 'package', $3, '') RETURNING id",
            poll_id,
            position,
            label,
        )
        for position, label in enumerate(OPTIONS, start=1)
    ]
    return poll_id, option_ids


async def _open_need(connection: asyncpg.Connection, community_id: int) -> int:
    return await connection.fetchval(
        "SELECT id FROM market_need WHERE community = $1 AND status = 'open' ORDER BY id LIMIT 1", community_id
    )


async def seed(
    connection: asyncpg.Connection,
    insert: Callable[..., Awaitable[None]],
    *,
    households_per_community: int,
    poll_ballots: int,
    communities: list[int],
    city_user_id: int,
    password_hash: str,
    today: datetime,
) -> ResidentsSeeded:
    """Households, residents, polls and ballots (see the module's doc). `insert(table, sql, *args)` runs one
    INSERT and counts its rows; `communities`: sampled communities with an open need, the first the tally's."""
    at = today - timedelta(days=30)
    last = await connection.fetchval("SELECT max(id) FROM market_community")
    for low in range(1, last + 1, HOUSEHOLD_CHUNK):
        await insert(
            "resident_household",
            HOUSEHOLDS_SQL,
            1,
            households_per_community,
            at,
            city_user_id,
            low,
            low + HOUSEHOLD_CHUNK - 1,
        )
    tally_community = communities[0]
    if poll_ballots > households_per_community:
        await insert(
            "resident_household",
            HOUSEHOLDS_SQL,
            households_per_community + 1,
            poll_ballots,
            at,
            city_user_id,
            tally_community,
            tally_community,
        )

    # Resident accounts, one per household, in the sampled communities (the tally community has none).
    sampled = communities[1 : RESIDENT_COMMUNITIES + 1]
    await insert(
        "account_user",
        "INSERT INTO account_user (username, password, first_name, last_name, email, active, admin, superuser, "
        "display_name) SELECT 'bench_resident_' || c || '_' || g, $1, '', '', "
        "'bench_resident_' || c || '_' || g || '@residents.invalid', true, false, false, '居民' "
        "FROM unnest($2::int[]) c CROSS JOIN generate_series(1, $3) g",
        password_hash,
        sampled,
        RESIDENTS_EACH,
    )
    await insert(
        "role_grant",
        "INSERT INTO role_grant (\"user\", role, org, created_at) SELECT u.id, 'resident', m.org, $2 "
        "FROM account_user u JOIN market_community m ON split_part(u.username, '_', 3) = m.id::text "
        "WHERE u.username LIKE 'bench\\_resident\\_%' AND m.id = ANY($1::int[])",
        sampled,
        at,
    )
    await insert(
        "resident",
        'INSERT INTO resident ("user", phone, name, household, created_at) '
        "SELECT u.id, '139' || lpad(row_number() OVER (ORDER BY u.id)::text, 8, '0'), '居民', h.id, $2 "
        "FROM account_user u JOIN market_community m ON split_part(u.username, '_', 3) = m.id::text "
        "JOIN resident_household h ON h.community = m.id AND h.building = '1' AND h.unit = '1' "
        "AND h.room = (100 + split_part(u.username, '_', 4)::int)::text "
        "WHERE u.username LIKE 'bench\\_resident\\_%' AND m.id = ANY($1::int[])",
        sampled,
        at,
    )

    # Polls: the tally's on the tally community (open, due once the measurement says so); an open and a
    # closed one in each sampled community.
    tally_need = await _open_need(connection, tally_community)
    tally_poll_ids = []
    for number in range(TALLY_POLLS):
        poll_id, option_ids = await _insert_poll(
            connection,
            community_id=tally_community,
            need_id=tally_need,
            title=f"托育服务方式选择（第 {number + 1} 轮）",
            opens_at=at,
            closes_at=today + timedelta(days=3650),
            created_by=city_user_id,
        )
        await insert("resident_ballot", BALLOTS_SQL, poll_id, option_ids, at + timedelta(days=1), tally_community)
        tally_poll_ids.append(poll_id)

    accounts = {
        r["community"]: [ResidentAccount(user_id=u, community_id=r["community"]) for u in r["users"]]
        for r in await connection.fetch(
            'SELECT h.community, array_agg(r."user" ORDER BY r."user") AS users FROM resident r '
            "JOIN resident_household h ON h.id = r.household WHERE h.community = ANY($1::int[]) GROUP BY h.community",
            sampled,
        )
    }
    households = {
        r["user"]: r["household"]
        for r in await connection.fetch(
            'SELECT r."user", r.household FROM resident r JOIN resident_household h ON h.id = r.household '
            "WHERE h.community = ANY($1::int[])",
            sampled,
        )
    }
    for community_id in sampled:
        need_id = await _open_need(connection, community_id)
        if need_id is None:
            continue
        for state in ("closed", "open"):
            poll_id, option_ids = await _insert_poll(
                connection,
                community_id=community_id,
                need_id=need_id,
                title="社区服务选择" + ("（已结束）" if state == "closed" else ""),
                opens_at=at,
                closes_at=at + timedelta(days=7) if state == "closed" else today + timedelta(days=3650),
                created_by=city_user_id,
            )
            await insert("resident_ballot", BALLOTS_SQL, poll_id, option_ids, at + timedelta(days=1), community_id)
            if state == "closed":
                await _store_result(connection, poll_id, option_ids, community_id, at + timedelta(days=7))
            for account in accounts.get(community_id, []):
                account.receipts.append(receipt(poll_id, households[account.user_id]))
    return ResidentsSeeded(
        tally_poll_ids=tally_poll_ids,
        tally_ballots=await connection.fetchval(
            "SELECT count(*) FROM resident_ballot WHERE poll = $1", tally_poll_ids[0]
        ),
        resident_accounts=[a for community_id in sampled for a in accounts.get(community_id, [])],
    )


async def _store_result(
    connection: asyncpg.Connection, poll_id: int, option_ids: list[int], community_id: int, closed_at: datetime
) -> None:
    """A closed poll's result, counted as the closing job counts it."""
    import json

    from residents.tally import tally

    counts = {
        r["option"]: r["votes"]
        for r in await connection.fetch(
            "SELECT option, count(*) AS votes FROM resident_ballot WHERE poll = $1 GROUP BY option", poll_id
        )
    }
    households = await connection.fetchval(
        "SELECT count(*) FROM resident_household WHERE community = $1 AND confirmed_at IS NOT NULL", community_id
    )
    result = tally(option_ids, counts, households, Decimal("0.3"))
    await connection.execute(
        "UPDATE resident_poll SET state = 'closed', closed_at = $2, result = $3::jsonb WHERE id = $1",
        poll_id,
        closed_at,
        json.dumps(result),
    )


# Points ----------------------------------------------------------------------------------------
# (balance and statement of a resident, a month's redemptions posted to the ledger: with the points ledger)


# Measuring -------------------------------------------------------------------------------------


async def _make_due(connection: asyncpg.Connection, poll_id: int) -> None:
    await connection.execute("UPDATE resident_poll SET closes_at = now() - interval '1 second' WHERE id = $1", poll_id)


async def close_through_the_application() -> dict:
    from residents.service import close_due_polls

    return await close_due_polls()


async def close_on_the_ceiling(connection: asyncpg.Connection, poll_id: int) -> dict:
    """The close path's statements on a bare connection: claim, options, counts, households, result, the
    need, the audit row; the tally itself is the same pure function."""
    import json

    from residents.tally import tally

    now = datetime.now().astimezone()
    async with connection.transaction():
        claimed = await connection.fetchrow(
            "UPDATE resident_poll SET state = 'closed', closed_at = $1, result = jsonb_build_object() "
            "WHERE id = $2 AND state = 'open' AND closes_at <= $1 RETURNING id, community, need, quorum",
            now,
            poll_id,
        )
        options = await connection.fetch(
            "SELECT id, label FROM resident_poll_option WHERE poll = ANY($1::int[]) ORDER BY poll, position",
            [poll_id],
        )
        counts = {
            r["option"]: r["votes"]
            for r in await connection.fetch(
                "SELECT option, count(*) AS votes FROM resident_ballot WHERE poll = $1 GROUP BY option", poll_id
            )
        }
        households = await connection.fetchval(
            "SELECT count(*) FROM resident_household WHERE community = $1 AND confirmed_at IS NOT NULL",
            claimed["community"],
        )
        result = tally([o["id"] for o in options], counts, households, claimed["quorum"])
        await connection.execute(
            "UPDATE resident_poll SET result = $2::jsonb WHERE id = $1", poll_id, json.dumps(result)
        )
        winner = next((o for o in options if o["id"] == result["winner_option_id"]), None)
        await connection.execute(
            "UPDATE market_need SET vote_poll_id = $2, vote_closed_at = $3, vote_quorum_met = $4, "
            "vote_winner_operator_id = NULL, vote_winner_label = $5, updated_at = $3 WHERE id = $1",
            claimed["need"],
            poll_id,
            now,
            result["quorum_met"],
            winner["label"] if winner else "",
        )
        await connection.execute(
            "INSERT INTO audit_log (at, actor, actor_name, action, entity_type, entity_id, before, after, reason) "
            "VALUES ($1, NULL, '', 'poll.close', 'poll', $2, NULL, $3::jsonb, '')",
            now,
            str(poll_id),
            json.dumps(result),
        )
    return {"closed": 1}


def _figures(runs: list[dict]) -> dict:
    seconds = [r["seconds"] for r in runs]
    return {
        "seconds": round(statistics.median(seconds), 4),
        "seconds_min": round(min(seconds), 4),
        "seconds_max": round(max(seconds), 4),
        "runs_s": [round(s, 4) for s in seconds],
        "statements": runs[0]["statements"],
        "closed": [r["closed"] for r in runs],
    }


async def measure_tally(poll_ids: list[int]) -> dict:
    """Close each of `poll_ids` once, alternately through the application and on the ceiling; each side's
    median, and the application's speed as a share of the ceiling's (ceiling seconds ÷ application seconds).
    The first pair is not counted: a new process plans its first statements and reads the files from disk
    (the application's first close took 1.4 s at city size, the next ones 0.02 s)."""
    from piccolo.engine import engine_finder

    from bench.instruments import StatementLog

    engine = engine_finder()
    await engine.start_connection_pool(min_size=1, max_size=4)
    connection = await asyncpg.connect(os.environ["DATABASE_URL"])
    runs: dict[str, list[dict]] = {"app": [], "ceiling": []}
    try:
        ballots = await connection.fetchval("SELECT count(*) FROM resident_ballot WHERE poll = $1", poll_ids[0])
        for index, poll_id in enumerate(poll_ids):
            await _make_due(connection, poll_id)
            side = "app" if index % 2 == 0 else "ceiling"
            with StatementLog() as log:
                started = time.perf_counter()
                if side == "app":
                    outcome = await close_through_the_application()
                else:
                    outcome = await close_on_the_ceiling(connection, poll_id)
                seconds = time.perf_counter() - started
            if index >= 2 * UNCOUNTED_PAIRS:
                runs[side].append({"seconds": seconds, "statements": log.count(), "closed": outcome["closed"]})
    finally:
        await connection.close()
        await engine.close_connection_pool()
    app, ceiling = _figures(runs["app"]), _figures(runs["ceiling"])
    return {
        "poll tally (close)": {
            "ballots": ballots,
            "app": app,
            "ceiling": ceiling,
            "app_over_ceiling": round(ceiling["seconds"] / app["seconds"], 2) if app["seconds"] else None,
        }
    }


# Scenarios run in a process of their own on a copy of the generated database, each returning its figures
# by name. The points ledger adds its measurements here.
SCENARIOS: list[Callable[[list[int]], Awaitable[dict]]] = [measure_tally]


def run_scenarios(poll_ids: list[int]) -> dict:
    async def every() -> dict:
        found: dict = {}
        for scenario in SCENARIOS:
            found.update(await scenario(poll_ids))
        return found

    return asyncio.run(every())


def measure_in_own_process(url: str, poll_ids: list[int]) -> dict:
    """The scenarios in a new process on database `url` (its engine reads DATABASE_URL on start)."""
    context = multiprocessing.get_context("spawn")
    earlier = {name: os.environ.get(name) for name in ("DATABASE_URL", "MIGRATION_DATABASE_URL")}
    os.environ.update(dict.fromkeys(earlier, url))
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            return pool.submit(run_scenarios, poll_ids).result()
    finally:
        for name, value in earlier.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
