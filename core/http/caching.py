"""Middleware that lets a GET answer from one consistent set of cache versions."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from core.cache.service import versions_read_once


def one_version_read_per_get(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: a GET or HEAD reads the data versions at most once, so who is asking and what they
    asked are answered from one set. Writes read them afresh and never answer from a set older than their
    own changes."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] not in ("GET", "HEAD"):
            await app(scope, receive, send)
            return
        with versions_read_once():
            await app(scope, receive, send)

    return middleware


def outermost_middleware(app_config: AppConfig) -> AppConfig:
    """on_app_init hook, after authentication's: the version read wraps the principal's cache lookup too."""
    app_config.middleware.insert(0, one_version_read_per_get)
    return app_config
