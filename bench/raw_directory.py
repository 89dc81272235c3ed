"""The raw ceiling for bench.directory: the public directory's SQL on a bare asyncpg pool.

A minimal Litestar app with the route GET /api/v1/public/operators. It takes the same query parameters as
the real endpoint and returns the JSON that PostgreSQL builds, with nothing of the application around it:
no authentication middleware, no dependency providers, no Piccolo engine, no parameter validation. The
statement comes from providers.repository.directory_query, the function the application uses, so both
servers run exactly the same SQL.

    DATABASE_URL=postgresql://... uvicorn bench.raw_directory:create_app --factory --workers 2
"""

from __future__ import annotations

import os

import asyncpg
from litestar import Litestar, MediaType, Response, get
from litestar.datastructures import State

from core.clock import today
from providers.repository import directory_query


@get("/api/v1/public/operators")
async def directory(
    state: State, category: str | None = None, district_id: int | None = None, status: str | None = None,
    q: str | None = None, sort: str = "name", limit: int = 50, offset: int = 0,
) -> Response[bytes]:
    sql, args = directory_query(today=today(), category=category, district_id=district_id, status=status, q=q,
                                sort=sort, limit=limit, offset=offset)
    async with state.pool.acquire() as connection:
        body = await connection.fetchval(sql, *args)
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

    return Litestar(route_handlers=[directory, health], on_startup=[on_startup], on_shutdown=[on_shutdown])
