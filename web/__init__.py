"""Server-rendered pages (Jinja2 + htmx), one module per audience, calling the domains' services."""

from __future__ import annotations

from litestar import Router

from web import operator, public, street
from web.pages import pages_router, static_router, template_config
from web.session import csrf_config

__all__ = ["csrf_config", "routers", "template_config"]


def routers() -> list[Router]:
    return [pages_router([*public.ROUTES, *operator.ROUTES, *street.ROUTES]), static_router()]
