"""The ceiling: each benchmarked endpoint's SQL behind a minimal Litestar handler on a bare asyncpg pool.

No authentication, no dependency providers, no Piccolo engine, no parameter validation, no cache: each
handler sends the statements the application sends for the same request, built by the same repository
functions, and returns what PostgreSQL answers. What the application adds on top (authorisation, scoring,
views, encoding) is the difference between the two.

    DATABASE_URL=postgresql://... uvicorn bench.ceiling:create_app --factory --workers 2
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date, datetime, time

import asyncpg
from litestar import Litestar, MediaType, Response, get, post
from litestar.datastructures import State

from core.accounts.principal import like_patterns
from core.clock import BUSINESS_TZ, add_months, now, today
from core.settings import get_settings
from leasing.repository import figures_query
from market.balance import trailing_window
from market.matching import INTEGRATED
from market.repository import balance_overview_query, match_candidates_query
from providers.repository import directory_query
from residents.repository import OPTIONS_SELECT, RECEIPT_SELECT, RESIDENT_SELECT, list_polls_query

CITY_PATHS = ["/"]


def numbered(sql: str, count: int) -> str:
    """Piccolo's {} placeholders as asyncpg's $1, $2, ..."""
    return sql.format(*(f"${n}" for n in range(1, count + 1)))


def as_json_rows(sql: str) -> str:
    return f"SELECT coalesce(json_agg(q), '[]'::json)::text FROM ({sql}) q"


async def json_rows(state: State, sql: str, args: list) -> Response[bytes]:
    async with state.pool.acquire() as connection:
        body = await connection.fetchval(as_json_rows(numbered(sql, len(args))), *args)
    return Response(content=body.encode(), media_type=MediaType.JSON)


@get("/api/v1/public/operators")
async def directory(
    state: State,
    category: str | None = None,
    district_id: int | None = None,
    status: str | None = None,
    q: str | None = None,
    sort: str = "name",
    limit: int = 50,
    offset: int = 0,
) -> Response[bytes]:
    sql, args = directory_query(
        today=today(),
        category=category,
        district_id=district_id,
        status=status,
        q=q,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    async with state.pool.acquire() as connection:
        body = await connection.fetchval(sql, *args)
    return Response(content=body.encode(), media_type=MediaType.JSON)


@get("/api/v1/communities/{community_id:int}/matches")
async def matches(state: State, community_id: int) -> Response[bytes]:
    async with state.pool.acquire() as connection:
        categories = await connection.fetchval(
            "SELECT array_agg(DISTINCT category) FROM market_need WHERE community = $1 AND status = 'open'",
            community_id,
        )
    sql, args = match_candidates_query(sorted({*(categories or []), INTEGRATED}), today())
    return await json_rows(state, sql, args)


@get("/api/v1/balance/overview")
async def overview(state: State, district_id: int | None = None) -> Response[bytes]:
    start, end = trailing_window(today(), get_settings().balance_window_months)
    sql, args = balance_overview_query(like_patterns(CITY_PATHS), district_id, start, end)
    return await json_rows(state, sql, args)


@get("/api/v1/leasing-figures/")
async def figures(state: State) -> Response[bytes]:
    this_year = date(today().year, 1, 1)
    sql, args = figures_query(like_patterns(CITY_PATHS), this_year, date(this_year.year + 1, 1, 1))
    return await json_rows(state, sql, args)


@post("/api/v1/space-listings/{listing_id:int}/applications", status_code=201)
async def apply(state: State, listing_id: int, data: dict) -> Response[bytes]:
    """The two writes an application needs, in one transaction: the application and its audit row."""
    async with state.pool.acquire() as connection, connection.transaction():
        application_id = await connection.fetchval(
            "INSERT INTO leasing_application (listing, operator, proposed_use, proposed_rent_per_m2_month, "
            "term_months, plan, status, decision_reason, created_by, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, 'submitted', '', $7, $8) RETURNING id",
            listing_id,
            data["operator_id"],
            data["proposed_use"],
            data["proposed_rent_per_m2_month"],
            data["term_months"],
            data.get("plan", ""),
            data["user_id"],
            now(),
        )
        await connection.execute(
            "INSERT INTO audit_log (at, actor, actor_name, action, entity_type, entity_id, before, after, reason) "
            "VALUES ($1, $2, $3, 'lease_application.create', 'listing', $4, NULL, $5::jsonb, '')",
            now(),
            data["user_id"],
            "bench",
            str(listing_id),
            json.dumps({"application_id": application_id}),
        )
    return Response(content=json.dumps({"id": application_id}).encode(), media_type=MediaType.JSON)


@get("/api/v1/polls")
async def resident_polls(state: State, user_id: int, limit: int = 20, offset: int = 0) -> Response[bytes]:
    """A resident's list: who they are, their community's polls, the polls' options."""
    async with state.pool.acquire() as connection:
        resident = await connection.fetchrow(numbered(RESIDENT_SELECT + 'WHERE r."user" = {}', 1), user_id)
        sql, args = list_polls_query(
            patterns=None, community_ids=[resident["community_id"]], state=None, limit=limit, offset=offset
        )
        polls = await connection.fetch(numbered(sql, len(args)), *args)
        options = await connection.fetchval(as_json_rows(numbered(OPTIONS_SELECT, 1)), [p["id"] for p in polls])
    items = json.dumps([dict(p) for p in polls], default=str, ensure_ascii=False)
    return Response(content=f'{{"items":{items},"options":{options}}}'.encode(), media_type=MediaType.JSON)


@get("/api/v1/public/poll-receipts/{receipt:str}")
async def poll_receipt(state: State, receipt: str) -> Response[bytes]:
    hashed = hashlib.sha256(receipt.encode()).hexdigest()
    return await json_rows(state, RECEIPT_SELECT, [hashed])


# The statements of residents.repository's points reads (resident_balances, resident_account,
# opening_balance, postings_between), as the application sends them.
BALANCES_SQL = "SELECT unit, balance FROM points_account WHERE resident = $1 AND kind = ANY($2::text[])"
ACCOUNT_SQL = "SELECT id FROM points_account WHERE resident = $1 AND kind = $2 LIMIT 1"
OPENING_SQL = (
    "SELECT coalesce(sum(CASE WHEN to_account = $1 THEN amount ELSE -amount END), 0) AS total "
    "FROM points_posting WHERE (from_account = $1 OR to_account = $1) AND created_at < $2"
)
POSTINGS_SQL = (
    "SELECT created_at AS at, CASE WHEN to_account = $1 THEN amount ELSE -amount END AS amount, "
    "source_kind, source_id, memo FROM points_posting "
    "WHERE (from_account = $1 OR to_account = $1) AND created_at >= $2 AND created_at < $3 ORDER BY created_at, id"
)


@get("/api/v1/points/me")
async def points_balance(state: State, user_id: int) -> Response[bytes]:
    """Who the resident is, then their points and hours."""
    async with state.pool.acquire() as connection:
        resident = await connection.fetchrow(numbered(RESIDENT_SELECT + 'WHERE r."user" = {}', 1), user_id)
        rows = await connection.fetch(BALANCES_SQL, resident["id"], ["resident", "time"])
    found = {r["unit"]: str(r["balance"]) for r in rows}
    body = {"resident_id": resident["id"], "points": found.get("points", "0"), "hours": found.get("hours", "0")}
    return Response(content=json.dumps(body).encode(), media_type=MediaType.JSON)


@get("/api/v1/points/me/statement")
async def points_statement(state: State, user_id: int, month: str, unit: str = "points") -> Response[bytes]:
    """Who the resident is, their account, its opening balance and the month's postings."""
    first = date.fromisoformat(f"{month}-01")
    start = datetime.combine(first, time(0), tzinfo=BUSINESS_TZ)
    end = datetime.combine(add_months(first, 1), time(0), tzinfo=BUSINESS_TZ)
    async with state.pool.acquire() as connection:
        resident = await connection.fetchrow(numbered(RESIDENT_SELECT + 'WHERE r."user" = {}', 1), user_id)
        account = await connection.fetchval(ACCOUNT_SQL, resident["id"], "resident" if unit == "points" else "time")
        opening = await connection.fetchval(OPENING_SQL, account, start)
        lines = await connection.fetchval(as_json_rows(POSTINGS_SQL), account, start, end)
    body = f'{{"month":"{month}","unit":"{unit}","opening":"{opening}","lines":{lines}}}'
    return Response(content=body.encode(), media_type=MediaType.JSON)


@get("/health")
async def health() -> Response[bytes]:
    return Response(content=b'{"status":"ok"}', media_type=MediaType.JSON)


def create_app() -> Litestar:
    async def on_startup(app: Litestar) -> None:
        app.state.pool = await asyncpg.create_pool(
            os.environ["DATABASE_URL"],
            min_size=int(os.environ.get("DB_POOL_MIN", "2")),
            max_size=int(os.environ.get("DB_POOL_MAX", "20")),
        )

    async def on_shutdown(app: Litestar) -> None:
        await app.state.pool.close()

    return Litestar(
        route_handlers=[
            directory,
            matches,
            overview,
            figures,
            apply,
            resident_polls,
            poll_receipt,
            points_balance,
            points_statement,
            health,
        ],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
    )
