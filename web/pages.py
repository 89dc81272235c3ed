"""What every page shares: the template set-up, the formats people read, the error pages and the router."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, Router
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import ResponseHeader
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler

from core.accounts.principal import Principal
from core.errors import DomainError
from core.labels import ROLE_LABELS
from core.money import format_yuan
from web.session import LoginRequired, PageForbidden, login_url

WEB_DIR = Path(__file__).resolve().parent
SHANGHAI = ZoneInfo("Asia/Shanghai")

# Pages load only what this site serves: its own script (htmx) and styles, no inline script or style.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)

# Badge tone per state code: red only for what needs action, words always on the badge.
TONES = {
    "returned": "danger",
    "rejected": "danger",
    "overdue": "danger",
    "imbalanced": "danger",
    "suspended": "danger",
    "removed": "danger",
    "failed": "danger",
    "warned": "warning",
    "warning": "warning",
    "notice": "warning",
    "submitted": "info",
    "under_review": "info",
    "pending": "info",
    "open": "info",
    "draft": "muted",
    "approved": "success",
    "published": "success",
    "listed": "success",
    "paid": "success",
    "succeeded": "success",
    "balanced": "success",
}


def yuan(fen: int | None) -> str:
    return "—" if fen is None else format_yuan(fen)


def day(value: date | datetime | str | None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


def minute(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def area(value: Decimal | str | None) -> str:
    return "—" if value is None else f"{Decimal(str(value)):,.2f} ㎡"


def percent(value: Decimal | float | str | None) -> str:
    return "—" if value is None else f"{Decimal(str(value)):.1f}%"


def cell(value: object) -> str:
    """A value in a report's table: dates as 2026-12-05, nothing as —."""
    if value is None or value == "":
        return "—"
    return day(value) if isinstance(value, date) else str(value)


def tone(code: str | None) -> str:
    return TONES.get(code or "", "muted")


def _engine(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters.update(yuan=yuan, day=day, minute=minute, area=area, percent=percent, tone=tone, cell=cell)
    engine.engine.globals.update(ROLE_LABELS=ROLE_LABELS, SITE_NAME="未来社区长效运营市场")


def template_config() -> TemplateConfig:
    return TemplateConfig(directory=WEB_DIR / "templates", engine=JinjaTemplateEngine, engine_callback=_engine)


def page(
    name: str,
    viewer: Principal | None,
    *,
    title: str,
    crumbs: Sequence[tuple[str, str | None]] = (),
    status_code: int = 200,
    csp: str = PAGE_CSP,
    **context: Any,
) -> Template:
    """A page: `crumbs` are (label, link) after 首页; the last is where the person is."""
    return Template(
        template_name=name,
        context={
            "viewer": viewer,
            "roles": {role.value for role in viewer.roles} if viewer else set(),
            "title": title,
            "crumbs": list(crumbs),
            **context,
        },
        status_code=status_code,
        # Also here: a page rendered by an error handler does not get the router's response headers.
        headers={"Content-Security-Policy": csp},
    )


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def see_other(path: str) -> Redirect:
    """After a form posts: to the page that shows the result (post/redirect/get)."""
    return Redirect(path=path, status_code=303)


def _login_redirect(_: Request[Any, Any, Any], exc: LoginRequired) -> Response[Any]:
    return Redirect(path=login_url(exc.next_path, exc.expired), status_code=303)


def _forbidden(request: Request[Any, Any, Any], exc: PageForbidden) -> Response[Any]:
    needed = "、".join(ROLE_LABELS[r.value] for r in exc.roles)
    return page(
        "error.html",
        None,
        title="无权查看",
        status_code=403,
        heading="无权查看此页面",
        message=f"此页面仅限{needed}使用。如需办理，请使用相应身份的账号登录。",
        show_login=True,
    )


def _domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    heading = {404: "页面或记录不存在", 403: "无权查看此页面"}.get(exc.status_code, "无法完成操作")
    return page("error.html", None, title=heading, status_code=exc.status_code, heading=heading, message=exc.message)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    LoginRequired: _login_redirect,
    PageForbidden: _forbidden,
    DomainError: _domain_error,
}


def pages_router(handlers: Sequence[ControllerRouterHandler]) -> Router:
    """The pages under /, outside the API's bearer-token authentication (they use the session cookie)."""
    return Router(
        path="/",
        route_handlers=list(handlers),
        opt={"exclude_from_auth": True},
        exception_handlers=EXCEPTION_HANDLERS,
        response_headers=[ResponseHeader(name="Content-Security-Policy", value=PAGE_CSP)],
        include_in_schema=False,
    )


def static_router() -> Router:
    return create_static_files_router(
        path="/static", directories=[WEB_DIR / "static"], opt={"exclude_from_auth": True}, name="web-static"
    )
