"""Log-in for the pages: a signed session cookie naming the user, and the checks every page makes.

The cookie holds the user id, when it was issued and an HMAC over both with SECRET_KEY; it is HttpOnly,
SameSite=Lax, and Secure behind HTTPS. Who the user is and what they may do is loaded afresh on every request
from the same accounts the API uses (core.accounts), so a deactivated user or a removed grant takes effect
at once. Forms are protected by Litestar's CSRF middleware (double-submit cookie), configured here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote

from litestar import Request
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import Cookie

from core.accounts import service as accounts
from core.accounts.principal import Principal
from core.accounts.tables import Role
from core.settings import get_settings

COOKIE = "fcom_session"
CSRF_COOKIE = "fcom_csrf"
# Paths the pages do not own: the API (bearer tokens), its document, the admin (its own CSRF) and health.
NOT_PAGES = ["^/api/", "^/schema", "^/admin", "^/health"]


class LoginRequired(Exception):
    """The page needs a logged-in user: back to the log-in page, then to where the person was."""

    def __init__(self, next_path: str, expired: bool = False) -> None:
        self.next_path = next_path
        self.expired = expired
        super().__init__(next_path)


class PageForbidden(Exception):
    """The user is logged in but none of their roles may see the page."""

    def __init__(self, roles: tuple[Role, ...]) -> None:
        self.roles = roles
        super().__init__(",".join(r.value for r in roles))


def csrf_config() -> CSRFConfig:
    settings = get_settings()
    return CSRFConfig(
        secret=settings.secret_key,
        cookie_name=CSRF_COOKIE,
        cookie_secure=settings.web_https_only,
        cookie_samesite="lax",
        header_name="x-csrftoken",
        exclude=NOT_PAGES,
    )


def _signature(payload: str) -> str:
    key = get_settings().secret_key.encode()
    digest = hmac.new(key, b"web-session:" + payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def encode(user_id: int, issued_at: int) -> str:
    payload = f"{user_id}.{issued_at}"
    return f"{payload}.{_signature(payload)}"


def decode(value: str, now: float | None = None) -> tuple[int | None, bool]:
    """(user id, expired): the user id when the cookie is genuine and fresh; expired says a genuine cookie
    has run out, so the log-in page can say why it is shown."""
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None, False
    payload = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(parts[2], _signature(payload)):
        return None, False
    age = (time.time() if now is None else now) - int(parts[1])
    if age > get_settings().token_minutes * 60 or age < -60:
        return None, True
    return int(parts[0]), False


def _secure(request: Request[Any, Any, Any]) -> bool:
    return get_settings().web_https_only or request.url.scheme == "https"


def session_cookie(request: Request[Any, Any, Any], user_id: int) -> Cookie:
    return Cookie(
        key=COOKIE,
        value=encode(user_id, int(time.time())),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        max_age=get_settings().token_minutes * 60,
    )


def cleared_cookie(request: Request[Any, Any, Any]) -> Cookie:
    return Cookie(key=COOKIE, value="", path="/", httponly=True, samesite="lax", secure=_secure(request), max_age=0)


async def viewer(request: Request[Any, Any, Any]) -> Principal | None:
    """Who is looking: the logged-in user, or None for the public (also for an expired cookie)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    user_id, _ = decode(raw)
    return await accounts.load_principal(user_id) if user_id is not None else None


def here(request: Request[Any, Any, Any]) -> str:
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


async def require(request: Request[Any, Any, Any], *roles: Role) -> Principal:
    """The logged-in user holding one of `roles`; otherwise to the log-in page, or the 403 page."""
    raw = request.cookies.get(COOKIE)
    principal = await viewer(request)
    if principal is None:
        expired = decode(raw)[1] if raw else False
        raise LoginRequired(here(request), expired=expired)
    if roles and not principal.has_role(*roles):
        raise PageForbidden(roles)
    return principal


def login_url(next_path: str, expired: bool = False) -> str:
    url = f"/login?next={quote(next_path, safe='')}"
    return url + "&expired=1" if expired else url


def safe_next(value: str | None) -> str:
    """Only a path on this site: never another host (an open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
