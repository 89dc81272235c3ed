"""Abuse limits and the headers every response carries.

Rate limits use Litestar's RateLimitMiddleware, counted per client address in each web worker's memory:
one budget for the public directory (no login, so anyone can hammer it), a smaller one for login (password
guessing across many accounts; a single account is also locked after repeated failures, see
core.accounts.service), and an hourly one for objections filed by the public (each phone number has its own
hourly limit besides, counted in the database by the registry). A limit of 0 switches it off.
"""

from __future__ import annotations

import re

from litestar.connection import Request
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.types import Message, Scope

from core.settings import Settings

PUBLIC_PREFIX = "/api/v1/public/"
PUBLIC_OBJECTION = re.compile(r"^/api/v1/public/batches/[0-9]+/objections/?$")
# The same objection filed from the 公示 page (web/): the same hourly budget per address.
PAGE_OBJECTION = re.compile(r"^/batches/[0-9]+/objections/?$")
LOGIN_PATH = "/api/v1/auth/login"


# Coroutines: Litestar runs a plain function given as a rate limit's check in a worker thread, and the check
# runs on every request.
async def _is_public(request: Request) -> bool:
    return _path(request.scope).startswith(PUBLIC_PREFIX)


async def _is_public_objection(request: Request) -> bool:
    path = _path(request.scope)
    return request.scope.get("method") == "POST" and bool(PUBLIC_OBJECTION.match(path) or PAGE_OBJECTION.match(path))


async def _is_login(request: Request) -> bool:
    return _path(request.scope).rstrip("/") == LOGIN_PATH


def _path(scope: Scope) -> str:
    """request.url.path without building the URL."""
    return scope.get("root_path", "") + scope["path"]


def rate_limits(settings: Settings) -> list[DefineMiddleware]:
    limits = []
    for budget, applies, store in (
        (("minute", settings.rate_limit_public_per_minute), _is_public, "rate_limit_public"),
        (("minute", settings.rate_limit_login_per_minute), _is_login, "rate_limit_login"),
        # Objections from the public, which anyone may file: a smaller budget per address, over an hour.
        (("hour", settings.objection_per_address_per_hour), _is_public_objection, "rate_limit_objection"),
    ):
        if budget[1] > 0:
            limits.append(
                RateLimitConfig(rate_limit=budget, check_throttle_handler=applies, store=store).middleware  # type: ignore[arg-type]
            )
    return limits


# The API answers JSON only: nothing may load, frame or submit anything. The API document (Swagger UI) loads
# its script and styles from jsDelivr and starts with an inline script holding the schema; the admin is a
# single-page app served from /admin itself that sets inline styles and shows uploaded images.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Our API documents load their scripts and styles from this server only (intranets have no internet); the
# reading view may start a worker from a blob.
SCHEMA_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# The admin's own API documents are a Swagger UI page its library loads from jsDelivr.
ADMIN_DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://cdn.jsdelivr.net; "
    "connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
ADMIN_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)

ADMIN_DOCS = ("/admin/api/docs", "/admin/public/docs")

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


# Encoded once: the hook runs on every response.
_ALWAYS_RAW = _raw(ALWAYS)
_ALWAYS_NAMES = frozenset(name for name, _ in _ALWAYS_RAW)
_CSP = b"content-security-policy"
_CACHE_CONTROL = b"cache-control"
_NO_STORE = (_CACHE_CONTROL, b"no-store")


def _content_security_policy(path: str) -> str:
    if path == "/schema" or path.startswith("/schema/"):
        return SCHEMA_CSP
    if path.startswith(ADMIN_DOCS):
        return ADMIN_DOCS_CSP
    if path == "/admin" or path.startswith("/admin/"):
        return ADMIN_CSP
    return API_CSP


def _requested_path(scope: Scope) -> str:
    # Routing into a mounted application (the admin) rewrites scope["path"]; raw_path is what was asked for.
    raw = scope.get("raw_path")
    return raw.decode("latin-1").split("?", 1)[0] if raw else scope.get("path", "")


def _carries_credentials(scope: Scope) -> bool:
    return any(name in (b"authorization", b"cookie") for name, _ in scope.get("headers", ()))


async def security_headers(message: Message, scope: Scope) -> None:
    """Before-send hook: security headers on every HTTP response, and no caching of anything personal."""
    if message["type"] != "http.response.start":
        return
    path = _requested_path(scope)
    # Answers to a logged-in request, and the login answer itself (it holds the token), stay out of caches.
    no_store = _carries_credentials(scope) or path.rstrip("/") == LOGIN_PATH
    replaced = _ALWAYS_NAMES | {_CACHE_CONTROL} if no_store else _ALWAYS_NAMES
    headers = [(name, value) for name, value in message.get("headers", ()) if name.lower() not in replaced]
    headers += _ALWAYS_RAW
    if not any(name.lower() == _CSP for name, _ in headers):  # the admin sets a stricter one on uploaded files
        headers.append((_CSP, _content_security_policy(path).encode("latin-1")))
    if no_store:
        headers.append(_NO_STORE)
    message["headers"] = headers
