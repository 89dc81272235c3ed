"""The API documentation pages, served with their own assets: a government intranet has no internet, so
nothing on /schema may come from a CDN. The files in app/static/api-docs are swagger-ui-dist 5.36.0 and
@stoplight/elements 8.5.2 from the npm registry, unmodified, with their licences beside them."""

from __future__ import annotations

from pathlib import Path

from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin, StoplightRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

ASSETS_PATH = "/api-docs-assets"
_ASSETS_DIR = Path(__file__).parent / "static" / "api-docs"
_FAVICON = f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>"


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """Swagger UI at /schema (and /schema/swagger) to try the API; Stoplight Elements at /schema/elements to read it."""
    return [
        SwaggerRenderPlugin(
            js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
            favicon=_FAVICON,
            path=["/", "/swagger"],
        ),
        StoplightRenderPlugin(
            js_url=f"{ASSETS_PATH}/elements-web-components.min.js",
            css_url=f"{ASSETS_PATH}/elements-styles.min.css",
            favicon=_FAVICON,
        ),
    ]


def assets_router() -> ControllerRouterHandler:
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[_ASSETS_DIR],
        include_in_schema=False,
        # The files change only with a release, so browsers may keep them for a day.
        cache_control=CacheControlHeader(max_age=86400, public=True),
        name="api-docs-assets",
    )
