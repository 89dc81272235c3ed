from __future__ import annotations

from litestar import MediaType, Response, get
from litestar.openapi.datastructures import ResponseSpec

from core.db import postgres_engine


@get(
    "/health",
    operation_id="health",
    summary="服务与数据库是否可用",
    tags=["系统"],
    exclude_from_auth=True,
    responses={
        503: ResponseSpec(
            data_container=dict[str, str],
            generate_examples=False,
            description='数据库不可用：{"status": "degraded", ...}',
        )
    },
)
async def health() -> Response:
    try:
        await postgres_engine().run_ddl("SELECT 1")
    except Exception:  # any failure to reach the database means "not healthy"
        return Response({"status": "degraded", "database": "unreachable"}, status_code=503, media_type=MediaType.JSON)
    return Response({"status": "ok", "database": "ok"}, status_code=200, media_type=MediaType.JSON)
