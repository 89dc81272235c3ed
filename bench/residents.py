"""Residents at benchmark size, and what is measured of them beside its raw-SQL ceiling.

Seeded by bench/data.py after the rest of the city, in SQL (INSERT ... SELECT over generate_series), so that
2.5 million households at city size take seconds, not minutes of Python:
  - every community's households (`Size.households_per_community`, 2,000 at city size), confirmed;
  - the tally community: the first sampled community with an open need, grown to `Size.poll_ballots`
    households (10,000 at city size), with `TALLY_POLLS` open polls on that need, each holding a ballot from
    every household: the polls the close path is measured on;
  - resident accounts in `RESIDENT_COMMUNITIES` sampled communities, `RESIDENTS_EACH` a community, each
    community with an open and a closed poll its whole register voted in; each account's receipts are known
    (a receipt is `bench-<poll>-<household>`, stored as its SHA-256 as the application stores them);
  - the points ledger of those residents (seed_points): a pool per community, an account per resident
    earning points for `EARNING_MONTHS` months, a point-priced service per community, and last month's
    redemptions (`Size.month_redemptions`, 10,000 at city size), redeemed but not yet delivered.

Measured:
  - "poll tally (close)": residents.service.close_due_polls() closing one poll of `poll_ballots` ballots (the
    scheduler's close path: claim, count, tally, store, record on the need, audit), against the same
    statements sent on a bare asyncpg connection; the polls alternate between the two, each closed once, in
    a process of its own on a copy of the generated database (see measure_in_own_process).
  - "resident polls" and "poll receipt": HTTP endpoints, measured by bench/run.py like the others against
    bench/ceiling.py (see run.build_endpoints).
  - "month's redemptions (deliver)": every seeded redemption delivered once, alternately through
    residents.service.deliver() (an operator's confirmation: the payout posting, the cost on the community
    ledger, the audit row) and on a bare asyncpg connection sending the same statements; seconds per
    redemption (see measure_redemptions), in the same process as the tally, after it.
  - "points balance" and "points statement": HTTP endpoints like the polls above.
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
    points_redemptions: int = 0  # last month's, not yet delivered: what the redemptions scenario delivers


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
    month_redemptions: int = 0,
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
    redemptions = await seed_points(
        connection,
        insert,
        communities=[c for c in sampled if c in accounts],
        month_redemptions=month_redemptions,
        city_user_id=city_user_id,
        today=today,
    )
    return ResidentsSeeded(
        points_redemptions=redemptions,
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

PRICE_POINTS = 20  # of every benchmark service
EARNING_MONTHS = 12  # of points history before the redemptions' month, for statements and balances
EARNINGS_EACH_MONTH = 4  # postings a resident earns a month (activities, ballots, surveys)
SERVICE_TITLE = "社区助老服务（积分兑换）"

# A resident earns `EARNINGS_EACH_MONTH` times in each of the months before and in the redemptions' month,
# from the community's pool: $1 the first instant, $2 months, $3 earnings a month, $4 points each.
EARNINGS_SQL = """
INSERT INTO points_posting (unit, from_account, to_account, amount, source_kind, source_id, idempotency_key, memo,
                            created_at)
SELECT 'points', pool.id, mine.id, $4::int, 'activity', m * 100 + k,
       'bench-earn:' || mine.id || ':' || m || ':' || k, '志愿服务积分',
       $1::timestamptz + make_interval(months => m) + make_interval(days => k * 6, hours => 9 + mine.id % 8)
FROM points_account mine
JOIN points_account pool ON pool.kind = 'pool' AND pool.community = mine.community
CROSS JOIN generate_series(0, $2::int) m CROSS JOIN generate_series(1, $3::int) k
WHERE mine.kind = 'resident'
"""

# The month's redemptions: the n-th goes to the ((n - 1) mod residents)-th resident, spread evenly over the month
# from $1 to $2, each for a place of its community's service, all still to be delivered.
REDEMPTIONS_SQL = """
INSERT INTO points_redemption (service, resident, points, fen_per_point, state, created_at)
SELECT s.id, r.id, s.price_points, $4::int, 'redeemed', $1::timestamptz + ($2::timestamptz - $1) * (n - 1) / $3::int
FROM generate_series(1, $3::int) n
JOIN (SELECT r.id, h.community, row_number() OVER (ORDER BY r.id) - 1 AS position, count(*) OVER () AS residents
      FROM resident r JOIN resident_household h ON h.id = r.household) r ON r.position = (n - 1) % r.residents
JOIN points_service s ON s.community = r.community AND s.title = $5
"""

# Each redemption's points from the resident to the operator's clearing account, as redeem() posts them ($1: the
# memo's first words).
REDEMPTION_POSTINGS_SQL = """
INSERT INTO points_posting (unit, from_account, to_account, amount, source_kind, source_id, idempotency_key, memo,
                            created_at)
SELECT 'points', mine.id, clearing.id, d.points, 'redemption', d.id, 'redemption:' || d.id, $1 || '：' || s.title,
       d.created_at
FROM points_redemption d JOIN points_service s ON s.id = d.service
JOIN points_account mine ON mine.kind = 'resident' AND mine.resident = d.resident
JOIN points_account clearing ON clearing.kind = 'clearing' AND clearing.community = s.community
     AND clearing.operator = s.operator
"""

# Every account's balance is the signed sum of its postings (the ledger's own rule), set once at the end.
BALANCES_SQL = """
UPDATE points_account a SET balance = t.total
FROM (SELECT account, sum(amount) AS total
      FROM (SELECT to_account AS account, amount FROM points_posting
            UNION ALL SELECT from_account, -amount FROM points_posting) moved
      GROUP BY account) t
WHERE a.id = t.account
"""


async def seed_points(
    connection: asyncpg.Connection,
    insert: Callable[..., Awaitable[None]],
    *,
    communities: list[int],
    month_redemptions: int,
    city_user_id: int,
    today: datetime,
) -> int:
    """The points ledger of the residents of `communities`: a pool per community, an account per resident
    earning points for `EARNING_MONTHS` months, one service per community published by an operator, and
    `month_redemptions` redemptions of last month, not yet delivered. Returns how many redemptions."""
    from core.settings import get_settings
    from residents.service import SOURCE_MEMOS

    month_start = today.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = add_months_dt(month_start, -1)
    operators = [
        r["id"]
        for r in await connection.fetch(
            "SELECT op.id FROM provider_operator op WHERE EXISTS "
            "(SELECT 1 FROM role_grant g WHERE g.org = op.org AND g.role = 'operator') ORDER BY op.id LIMIT $1",
            len(communities),
        )
    ]
    chosen = [(c, operators[i % len(operators)]) for i, c in enumerate(communities)]
    residents = await connection.fetchval(
        "SELECT count(*) FROM resident r JOIN resident_household h ON h.id = r.household "
        "WHERE h.community = ANY($1::int[])",
        communities,
    )
    if not residents or not operators:
        return 0
    each = -(-month_redemptions // residents)  # a resident's redemptions in the month, at most
    await insert(
        "points_service",
        "INSERT INTO points_service (community, operator, title, description, price_points, capacity, redeemed, "
        "opens_at, closes_at, created_by, created_at) "
        "SELECT c, op, $3, '每次一小时', $4, $5, 0, $6, $7, $8, $6 FROM unnest($1::int[], $2::int[]) AS s(c, op)",
        [c for c, _ in chosen],
        [op for _, op in chosen],
        SERVICE_TITLE,
        PRICE_POINTS,
        month_redemptions,
        add_months_dt(last_month, -EARNING_MONTHS),
        today + timedelta(days=3650),
        city_user_id,
    )
    earning_start = add_months_dt(last_month, -EARNING_MONTHS)
    await insert(
        "points_account",
        "INSERT INTO points_account (kind, unit, community, created_at) "
        "SELECT 'pool', 'points', c, $2 FROM unnest($1::int[]) c",
        communities,
        earning_start,
    )
    await insert(
        "points_account",
        "INSERT INTO points_account (kind, unit, community, operator, created_at) "
        "SELECT 'clearing', 'points', c, op, $3 FROM unnest($1::int[], $2::int[]) AS s(c, op)",
        [c for c, _ in chosen],
        [op for _, op in chosen],
        earning_start,
    )
    await insert(
        "points_account",
        "INSERT INTO points_account (kind, unit, community, resident, created_at) "
        "SELECT 'resident', 'points', h.community, r.id, $2 FROM resident r "
        "JOIN resident_household h ON h.id = r.household WHERE h.community = ANY($1::int[])",
        communities,
        earning_start,
    )
    # Enough earned, over the months, for every redemption and some left.
    earned_each = -(-(each * PRICE_POINTS) // ((EARNING_MONTHS + 1) * EARNINGS_EACH_MONTH)) + 5
    await insert("points_posting", EARNINGS_SQL, earning_start, EARNING_MONTHS, EARNINGS_EACH_MONTH, earned_each)
    await insert(
        "points_redemption",
        REDEMPTIONS_SQL,
        last_month,
        month_start,
        month_redemptions,
        get_settings().points_fen_per_point,
        SERVICE_TITLE,
    )
    await insert("points_posting", REDEMPTION_POSTINGS_SQL, SOURCE_MEMOS["redemption"])
    await connection.execute(
        "UPDATE points_service s SET redeemed = (SELECT count(*) FROM points_redemption d WHERE d.service = s.id) "
        "WHERE s.title = $1",
        SERVICE_TITLE,
    )
    await connection.execute(BALANCES_SQL)
    return await connection.fetchval("SELECT count(*) FROM points_redemption WHERE state = 'redeemed'")


def add_months_dt(at: datetime, months: int) -> datetime:
    """The same instant of the day, `months` later (the 1st stays the 1st)."""
    from core.clock import add_months

    moved = add_months(at.date(), months)
    return at.replace(year=moved.year, month=moved.month, day=moved.day)


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


# A month's redemptions delivered -------------------------------------------------------------------

UNCOUNTED_DELIVERIES = 10  # of each side, first: a new process plans its statements and reads from disk

# The statements of residents.repository.account_id and post, as the application sends them.
ACCOUNT_SQL = (
    "WITH added AS (INSERT INTO points_account (kind, unit, community, resident, operator, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id) "
    "SELECT id FROM added UNION ALL SELECT id FROM points_account WHERE kind = $7 AND community = $8 "
    "AND coalesce(resident, 0) = coalesce($9::int, 0) AND coalesce(operator, 0) = coalesce($10::int, 0) LIMIT 1"
)
POSTING_SQL = (
    "INSERT INTO points_posting (unit, from_account, to_account, amount, source_kind, source_id, "
    "idempotency_key, memo, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)


async def _account(connection: asyncpg.Connection, kind: str, community_id: int, now: datetime, **owner) -> int:
    resident_id, operator_id = owner.get("resident_id"), owner.get("operator_id")
    return await connection.fetchval(
        ACCOUNT_SQL,
        kind,
        "points",
        community_id,
        resident_id,
        operator_id,
        now,
        kind,
        community_id,
        resident_id,
        operator_id,
    )


async def deliver_on_the_ceiling(connection: asyncpg.Connection, redemption_id: int, user_id: int, actor: str) -> None:
    """residents.service.deliver's statements on a bare connection: lock and read the redemption, settle it,
    the two accounts, the posting and both balances, the community's fund (none here: the operating budget
    pays), the cost on the community ledger, the audit row; then the delivered redemption read back."""
    import json

    from market.repository import FUND_COLUMNS, FUND_FROM
    from residents.points import payout_fen
    from residents.repository import REDEMPTION_SELECT
    from residents.service import SOURCE_MEMOS

    async with connection.transaction():
        row = await connection.fetchrow(REDEMPTION_SELECT + "WHERE d.id = $1 FOR UPDATE OF d", redemption_id)
        now = datetime.now().astimezone()
        await connection.fetchval(
            "UPDATE points_redemption SET state = 'delivered', delivered_at = $2, delivered_by = $3 "
            "WHERE id = $1 AND state = 'redeemed' RETURNING id",
            redemption_id,
            now,
            user_id,
        )
        clearing = await _account(connection, "clearing", row["community_id"], now, operator_id=row["operator_id"])
        pool = await _account(connection, "pool", row["community_id"], now)
        amount = Decimal(row["points"])
        await connection.fetchval(
            POSTING_SQL,
            "points",
            clearing,
            pool,
            amount,
            "payout",
            redemption_id,
            f"payout:{redemption_id}",
            f"{SOURCE_MEMOS['payout']}：{row['service_title']}",
            now,
        )
        for account, delta in sorted(((clearing, -amount), (pool, amount))):
            await connection.execute("UPDATE points_account SET balance = balance + $1 WHERE id = $2", delta, account)
        fen = payout_fen(row["points"], row["fen_per_point"])
        await connection.fetchrow(f"SELECT {FUND_COLUMNS} FROM {FUND_FROM} WHERE f.community = $1", row["community_id"])
        await connection.fetch(
            "INSERT INTO market_ledger_entry (community, month, direction, kind, amount, source, contract, note, "
            "posted_by, posted_by_org, created_at) VALUES ($1, $2, 'cost', 'service_fee', $3, $4, NULL, $5, NULL, "
            "NULL, $6) ON CONFLICT (source) DO NOTHING RETURNING id",
            row["community_id"],
            now.date().replace(day=1),
            fen,
            f"points-redemption:{redemption_id}",
            f"积分兑换服务结算（运营商 {row['operator_id']}）：{row['service_title']} {row['points']} 积分",
            now,
        )
        await connection.fetchval(
            "INSERT INTO audit_log (at, actor, actor_name, action, entity_type, entity_id, before, after, reason) "
            "VALUES ($1, $2, $3, 'points.redemption_deliver', 'points_redemption', $4, $5::jsonb, $6::jsonb, '') "
            "RETURNING id",
            now,
            user_id,
            actor,
            str(redemption_id),
            json.dumps({"state": "redeemed"}),
            json.dumps({"state": "delivered", "points": row["points"], "payout_fen": fen}),
        )
    await connection.fetchrow(REDEMPTION_SELECT + "WHERE d.id = $1", redemption_id)


async def measure_redemptions(poll_ids: list[int]) -> dict:
    """Deliver every redemption still to be delivered (the month's, seeded under Points), alternately through
    residents.service.deliver() as the operator's confirmation runs it and on the ceiling, each once, in
    order of redemption. Per side: the median and mean seconds per redemption, and the statements of one."""
    from piccolo.engine import engine_finder

    from bench.instruments import StatementLog
    from core.accounts.service import load_principal
    from residents.service import deliver

    engine = engine_finder()
    await engine.start_connection_pool(min_size=1, max_size=4)
    connection = await asyncpg.connect(os.environ["DATABASE_URL"])
    seconds: dict[str, list[float]] = {"app": [], "ceiling": []}
    statements: dict[str, int] = {}
    try:
        pending = await connection.fetch(
            'SELECT d.id, g."user" AS user_id, u.username FROM points_redemption d '
            "JOIN points_service s ON s.id = d.service JOIN provider_operator op ON op.id = s.operator "
            "JOIN LATERAL (SELECT \"user\" FROM role_grant WHERE org = op.org AND role = 'operator' "
            'ORDER BY id LIMIT 1) g ON true JOIN account_user u ON u.id = g."user" '
            "WHERE d.state = 'redeemed' ORDER BY d.created_at, d.id"
        )
        principals = {}
        for index, row in enumerate(pending):
            side = "app" if index % 2 == 0 else "ceiling"
            if side == "app" and row["user_id"] not in principals:
                principals[row["user_id"]] = await load_principal(row["user_id"])
            with StatementLog() as log:
                started = time.perf_counter()
                if side == "app":
                    await deliver(principals[row["user_id"]], row["id"])
                else:
                    await deliver_on_the_ceiling(connection, row["id"], row["user_id"], row["username"])
                took = time.perf_counter() - started
            statements.setdefault(side, log.count())
            if index >= 2 * UNCOUNTED_DELIVERIES:
                seconds[side].append(took)
    finally:
        await connection.close()
        await engine.close_connection_pool()
    if not seconds["app"] or not seconds["ceiling"]:
        return {}

    def side(name: str) -> dict:
        runs = seconds[name]
        ordered = sorted(runs)
        return {
            "seconds": round(statistics.median(runs), 5),  # per redemption
            "seconds_mean": round(statistics.fmean(runs), 5),
            "seconds_p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 5),
            "seconds_total": round(sum(runs), 3),
            "delivered": len(runs),
            "statements": statements[name],
        }

    app, ceiling = side("app"), side("ceiling")
    return {
        "month's redemptions (deliver)": {
            "redemptions": len(pending),
            "app": app,
            "ceiling": ceiling,
            "app_over_ceiling": round(ceiling["seconds"] / app["seconds"], 2) if app["seconds"] else None,
        }
    }


# Scenarios run in a process of their own on a copy of the generated database, each returning its figures
# by name.
SCENARIOS: list[Callable[[list[int]], Awaitable[dict]]] = [measure_tally, measure_redemptions]


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
