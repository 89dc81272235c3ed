"""Pages anyone may read without logging in: the 名录, an operator, the 公示 with its objection form, the
batch history and leasing results; and the log-in page itself."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Template

from core.accounts import service as accounts
from core.accounts.tables import Role
from core.errors import DomainError
from leasing import service as leasing
from providers import service as registry
from providers.labels import DIRECTORY_SORT_LABELS, DIRECTORY_STATUS_LABELS, REGISTRY_STATUS_LABELS
from providers.schemas import DirectorySort, DirectoryStatus, PublicObjectionCreate
from residents import service as residents
from web.forms import FORM, convert, domain_problems, read_form
from web.pages import is_htmx, page, see_other
from web.session import cleared_cookie, safe_next, session_cookie, viewer

PAGE_SIZE = 20
Offset = Annotated[int, Parameter(ge=0, le=1_000_000)]
Text = Annotated[str | None, Parameter(max_length=100)]


@get("/", name="home")
async def home(request: Request[Any, Any, Any]) -> Template:
    return page("public/home.html", await viewer(request), title="首页")


# Log-in ------------------------------------------------------------------------------------------


@get("/login", name="login")
async def login_page(
    request: Request[Any, Any, Any], next_path: Annotated[str | None, Parameter(query="next")] = None, expired: int = 0
) -> Template:
    return page(
        "login.html",
        await viewer(request),
        title="登录",
        crumbs=[("登录", None)],
        next=safe_next(next_path),
        expired=bool(expired),
        values={},
        errors={},
    )


@post("/login", name="login-submit")
async def login_submit(request: Request[Any, Any, Any]) -> Response[Any]:
    form = await read_form(request)
    username, password, next_path = form.get("username").strip(), form.get("password"), safe_next(form.get("next"))
    errors = {}
    if not username:
        errors["username"] = "请填写用户名"
    if not password:
        errors["password"] = "请填写密码"
    if not errors:
        try:
            user_id = await accounts.authenticate(username, password)
        except DomainError as exc:
            errors["password"] = exc.message
        else:
            response = see_other(await _landing(user_id) if next_path == "/" else next_path)
            response.set_cookie(session_cookie(request, user_id))
            return response
    return page(
        "login.html",
        None,
        title="登录",
        crumbs=[("登录", None)],
        status_code=422 if errors else 200,
        next=next_path,
        expired=False,
        values={"username": username},
        errors=errors,
    )


async def _landing(user_id: int) -> str:
    """Where a person lands after logging in with no page to return to: their own workspace."""
    principal = await accounts.load_principal(user_id)
    return "/operator" if principal is not None and principal.has_role(Role.operator) else "/"


@post("/logout", name="logout")
async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
    response = see_other("/")
    response.set_cookie(cleared_cookie(request))
    return response


# The 名录 ----------------------------------------------------------------------------------------


class DirectoryPage(msgspec.Struct):
    items: list[dict]
    total: int
    limit: int
    offset: int


@get("/directory", name="directory")
async def directory(
    request: Request[Any, Any, Any],
    category: Text = None,
    district_id: Text = None,
    status: Text = None,
    q: Text = None,
    sort: DirectorySort = DirectorySort.name,
    offset: Offset = 0,
) -> Template:
    # A filter form sends every field, the ones left at 全部 empty: empty means no filter.
    filters = {
        "category": category or None,
        "district_id": int(district_id) if district_id and district_id.isdigit() else None,
        "status": status if status in {s.value for s in DirectoryStatus} else None,
        "q": q or None,
        "sort": sort.value,
    }
    body = await registry.directory_page(**filters, limit=PAGE_SIZE, offset=offset)
    result = msgspec.json.decode(body, type=DirectoryPage)
    category_names, district_names = await registry.name_lookups()
    query = {k: v for k, v in filters.items() if v not in (None, "")}
    context: dict[str, Any] = {
        "result": result,
        "filters": filters,
        "query": urlencode(query),
        "page_base": "/directory?" + urlencode({k: v for k, v in query.items()}) + ("&" if query else ""),
        "sort_link": lambda key: (
            "/directory?" + urlencode({**query, "sort": f"-{key}" if filters["sort"] == key else key})
        ),
        "category_names": category_names,
        "district_names": district_names,
        "status_labels": DIRECTORY_STATUS_LABELS,
        "sort_labels": DIRECTORY_SORT_LABELS,
        "registry_labels": REGISTRY_STATUS_LABELS,
    }
    name = "public/_directory_results.html" if is_htmx(request) else "public/directory.html"
    return page(name, await viewer(request), title="优秀服务商名录", crumbs=[("名录", None)], **context)


@get("/directory/operators/{operator_id:int}", name="operator")
async def operator_page(request: Request[Any, Any, Any], operator_id: int) -> Template:
    operator, listings = await registry.public_operator(operator_id)
    category_names, district_names = await registry.name_lookups()
    return page(
        "public/operator.html",
        await viewer(request),
        title=operator.name,
        crumbs=[("名录", "/directory"), (operator.name, None)],
        operator=operator,
        listings=listings,
        category_names=category_names,
        district_names=district_names,
        registry_labels=REGISTRY_STATUS_LABELS,
    )


# 公示 and batches ---------------------------------------------------------------------------------


@get("/notices", name="notices")
async def notices(request: Request[Any, Any, Any]) -> Template:
    rows, _ = await registry.list_batches(public=True, limit=100, offset=0)
    return page(
        "public/notices.html",
        await viewer(request),
        title="名录公示",
        crumbs=[("公示", None)],
        batches=[b for b in rows if b.state == "notice"],
    )


@get("/batches", name="batches")
async def batches(request: Request[Any, Any, Any], offset: Offset = 0) -> Template:
    rows, total = await registry.list_batches(public=True, limit=PAGE_SIZE, offset=offset)
    return page(
        "public/batches.html",
        await viewer(request),
        title="名录批次",
        crumbs=[("批次", None)],
        batches=rows,
        result={"total": total, "limit": PAGE_SIZE, "offset": offset},
    )


async def _batch_page(
    request: Request[Any, Any, Any],
    batch_id: int,
    *,
    values: dict | None = None,
    errors: dict | None = None,
    status_code: int = 200,
    filed: bool = False,
) -> Template:
    batch = await registry.get_batch(batch_id, public=True)
    category_names, _ = await registry.name_lookups()
    crumb = ("公示", "/notices") if batch.state == "notice" else ("批次", "/batches")
    return page(
        "public/batch.html",
        await viewer(request),
        title=batch.title,
        crumbs=[crumb, (batch.title, None)],
        status_code=status_code,
        batch=batch,
        category_names=category_names,
        values=values or {},
        errors=errors or {},
        filed=filed,
    )


@get("/batches/{batch_id:int}", name="batch")
async def batch_page(request: Request[Any, Any, Any], batch_id: int, filed: int = 0) -> Template:
    return await _batch_page(request, batch_id, filed=bool(filed))


OBJECTION_FIELDS = ["application_id", "name", "phone", "email", "text"]
OBJECTION_ERROR_FIELDS = {
    "objection.too_many_from_phone": "phone",
    "batch.entry_not_found": "application_id",
    "batch.objection_window_closed": FORM,
}


@post("/batches/{batch_id:int}/objections", name="batch-objection")
async def file_objection(request: Request[Any, Any, Any], batch_id: int) -> Response[Any]:
    form = await read_form(request)
    values = form.fields(OBJECTION_FIELDS)
    data, errors = convert(values, PublicObjectionCreate)
    if data is not None:
        try:
            await registry.file_public_objection(
                batch_id, data.application_id, name=data.name, phone=data.phone, email=data.email, text=data.text
            )
        except DomainError as exc:
            if exc.status_code == 404 and exc.code == "batch.not_found":
                raise
            errors = domain_problems(exc, OBJECTION_ERROR_FIELDS)
        else:
            return see_other(f"/batches/{batch_id}?filed=1#objection")
    return await _batch_page(request, batch_id, values=values, errors=errors, status_code=422)


# Leasing results ---------------------------------------------------------------------------------


@get("/space-listings/{listing_id:int}/result", name="listing-result")
async def listing_result(request: Request[Any, Any, Any], listing_id: int) -> Template:
    result = await leasing.public_result(listing_id)
    return page(
        "public/listing_result.html",
        await viewer(request),
        title=f"招租结果公示：{result.community_name}",
        crumbs=[("招租结果", None)],
        result=result,
    )


# Poll results ------------------------------------------------------------------------------------


@get("/polls/{poll_id:int}/result", name="poll-result")
async def poll_result(request: Request[Any, Any, Any], poll_id: int) -> Template:
    result = await residents.result(poll_id)
    return page(
        "public/poll_result.html",
        await viewer(request),
        title=f"投票结果：{result.title}",
        crumbs=[("投票结果", None)],
        result=result,
        winner=next((o for o in result.options if o.option_id == result.winner_option_id), None),
        most=max((o.votes for o in result.options), default=0),
    )


ROUTES = [
    home,
    login_page,
    login_submit,
    logout,
    directory,
    operator_page,
    notices,
    batches,
    batch_page,
    file_objection,
    listing_result,
    poll_result,
]
