"""create_app(): the one place the web application is assembled."""

from __future__ import annotations

import gc
import logging

from litestar import Litestar
from litestar.openapi import OpenAPIConfig

from app import docs
from app.domains import collect, domain_modules
from app.mailcatcher import DevMailController
from app.metrics import MetricsController, count_every_request
from core.accounts.controllers import ROUTES as ACCOUNT_ROUTES
from core.admin import admin_handler
from core.audit.controllers import ROUTES as AUDIT_ROUTES
from core.auth import build_jwt_auth
from core.calendar.controllers import ROUTES as CALENDAR_ROUTES
from core.db import postgres_engine
from core.dependencies import DEPENDENCIES
from core.health import health
from core.http.caching import outermost_middleware
from core.http.exceptions import EXCEPTION_HANDLERS, refuse_nul_characters
from core.http.openapi import (
    document_enum_labels,
    document_error_responses,
    document_idempotency,
    document_optional_bodies,
)
from core.idempotency.middleware import idempotent_posts
from core.labels import ENUM_LABELS
from core.limits import rate_limits, security_headers
from core.migrate import migrate
from core.reference import load_reference_data
from core.settings import get_settings
from web import csrf_config, routers, template_config

log = logging.getLogger(__name__)

# A busy worker's requests in flight survive the young collections and reach the oldest generation, which
# the default (10) then collects in full several times a second.
FULL_COLLECTION_AFTER = 100


def create_app() -> Litestar:
    settings = get_settings()
    jwt_auth = build_jwt_auth()

    domain_routes = collect("controllers", "ROUTES")
    admin_tables = collect("admin", "ADMIN_TABLES")

    async def on_startup(app: Litestar) -> None:
        # However the server is started (fcom serve, uvicorn directly, a container), not with development secrets.
        settings.refuse_unsafe_production()
        engine = postgres_engine()
        await migrate()
        await load_reference_data()
        await engine.start_connection_pool(min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        # What is loaded by now (modules, the application, reference data: 200,000 objects) lives as long as
        # the worker. Frozen, it is no longer walked by the collector's full passes, which stall every request
        # in flight; and a full pass comes after 100 middle ones instead of 10. See BENCHMARKS.md.
        gc.collect()
        gc.freeze()
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, FULL_COLLECTION_AFTER)

    async def on_shutdown(app: Litestar) -> None:
        await postgres_engine().close_connection_pool()

    app = Litestar(
        route_handlers=[
            health,
            *ACCOUNT_ROUTES,
            *AUDIT_ROUTES,
            *CALENDAR_ROUTES,
            *domain_routes,
            admin_handler(admin_tables),
            docs.assets_router(),
            MetricsController,
            *([DevMailController] if settings.is_development else []),
            *routers(),
        ],
        template_config=template_config(),
        csrf_config=csrf_config(),
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        # Innermost, after authentication (added first by on_app_init), so the user is known.
        middleware=[*rate_limits(settings), idempotent_posts],
        before_send=[security_headers],
        before_request=refuse_nul_characters,
        request_max_body_size=settings.request_max_body_bytes,
        on_app_init=[jwt_auth.on_app_init, outermost_middleware, count_every_request],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        openapi_config=OpenAPIConfig(
            title="未来社区长效运营市场 API",
            version="1.0.0",
            description="优秀服务商名录、社区需求与撮合、闲置用房出租、运营资金平衡。",
            path="/schema",
            render_plugins=docs.render_plugins(),
        ),
        debug=settings.debug,
    )
    app.state.jwt_auth = jwt_auth
    document_error_responses(app.openapi_schema)
    document_optional_bodies(app.openapi_schema)
    document_enum_labels(
        app.openapi_schema,
        {
            **ENUM_LABELS,
            **{name: labels for module in domain_modules("labels") for name, labels in module.ENUM_LABELS.items()},
        },
    )
    document_idempotency(app.openapi_schema)
    return app
