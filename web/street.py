"""Pages for a street office: its work queue of flags, its spaces and listings with the ranked applications
and the award, and its leases with the arrears."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Template

from core.accounts.principal import Principal
from core.accounts.tables import Role
from core.errors import DomainError
from core.money import yuan_to_fen
from core.schemas import as_fields
from leasing import service as leasing
from leasing.labels import TRACK_LABELS, USE_LABELS
from leasing.schemas import AwardInput, ListingCreate
from market import report
from market import service as market
from market.schemas import CommunityBalanceView, CommunityView, LedgerEntryView, MatchResult, NeedView
from scheduler import service as scheduler
from scheduler.schemas import FlagView
from web.forms import FORM, convert, domain_problems, read_form
from web.pages import page, see_other
from web.session import require

HOME = ("街道工作台", "/street")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The report is a document of its own: its one inline stylesheet and nothing else.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
SEVERITY_LABELS = {"critical": "紧急", "warning": "预警", "info": "提示"}
SEVERITY_TONES = {"critical": "imbalanced", "warning": "warning", "info": "open"}


async def _queue(principal: Principal, *, errors: dict | None = None, status_code: int = 200) -> Template:
    flags, total = await scheduler.list_flags(principal, kind=None, state="open", limit=100, offset=0)
    order = {"critical": 0, "warning": 1}
    ordered: list[FlagView] = sorted(flags, key=lambda f: (order.get(f.severity, 2), f.opened_at))
    return page(
        "street/home.html",
        principal,
        title="街道工作台",
        crumbs=[(HOME[0], None)],
        status_code=status_code,
        flags=ordered,
        total=total,
        severity_labels=SEVERITY_LABELS,
        severity_tones=SEVERITY_TONES,
        errors=errors or {},
    )


@get("/street", name="street-home")
async def street_home(request: Request[Any, Any, Any]) -> Template:
    return await _queue(await require(request, Role.street))


@post("/street/flags/{flag_id:int}/acknowledge", name="flag-acknowledge")
async def flag_acknowledge(request: Request[Any, Any, Any], flag_id: int) -> Response[Any]:
    principal = await require(request, Role.street)
    await scheduler.acknowledge_flag(principal, flag_id)
    return see_other("/street")


@post("/street/flags/{flag_id:int}/resolve", name="flag-resolve")
async def flag_resolve(request: Request[Any, Any, Any], flag_id: int) -> Response[Any]:
    principal = await require(request, Role.street)
    form = await read_form(request)
    try:
        await scheduler.resolve_flag(principal, flag_id, form.get("reason"))
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        return await _queue(principal, errors={f"reason-{flag_id}": exc.message}, status_code=exc.status_code)
    return see_other("/street")


# Spaces and listings -----------------------------------------------------------------------------


@get("/street/spaces", name="street-spaces")
async def spaces_page(request: Request[Any, Any, Any]) -> Template:
    principal = await require(request, Role.street)
    spaces, total = await leasing.list_spaces(principal, community_id=None, status=None, limit=100, offset=0)
    listings, _ = await leasing.list_listings(principal, status=None, limit=100, offset=0)
    return page(
        "street/spaces.html",
        principal,
        title="空间与招租",
        crumbs=[HOME, ("空间与招租", None)],
        spaces=spaces,
        total=total,
        listings=listings,
    )


LISTING_FIELDS = [
    "track",
    "rent_per_m2_month",
    "min_term_months",
    "max_term_months",
    "opens_on",
    "closes_on",
    "public_welfare_discount",
    "rent_free_months",
    "deposit_months",
]


# The terms' problems, as the leasing service words them, and the field each is about.
TERM_PROBLEM_FIELDS = {
    "最短租期不能长于最长租期": "max_term_months",
    "申请截止日期须晚于开始日期": "closes_on",
    "公益折扣须在 0 至 1 之间": "public_welfare_discount",
}


def _terms_problems(exc: DomainError) -> dict[str, str]:
    problems = exc.detail.get("problems") if isinstance(exc.detail, dict) else None
    if exc.code != "listing.terms_invalid" or not problems:
        return domain_problems(exc)
    return {TERM_PROBLEM_FIELDS.get(problem, FORM): problem for problem in problems}


async def _listing_form(
    principal: Principal, space_id: int, values: dict, errors: dict, status_code: int = 200
) -> Template:
    space = await leasing.get_space(principal, space_id)
    return page(
        "street/listing_form.html",
        principal,
        title="发布招租",
        crumbs=[HOME, ("空间与招租", "/street/spaces"), ("发布招租", None)],
        status_code=status_code,
        space=space,
        tracks=list(TRACK_LABELS.items()),
        values=values,
        errors=errors,
    )


@get("/street/spaces/{space_id:int}/listings/new", name="listing-new")
async def listing_new(request: Request[Any, Any, Any], space_id: int) -> Template:
    principal = await require(request, Role.street)
    return await _listing_form(principal, space_id, {"track": "competitive"}, {})


@post("/street/spaces/{space_id:int}/listings", name="listing-create")
async def listing_create(request: Request[Any, Any, Any], space_id: int) -> Response[Any]:
    principal = await require(request, Role.street)
    form = await read_form(request)
    values = form.fields(LISTING_FIELDS)
    data_in = dict(values)
    errors: dict[str, str] = {}
    if "rent_per_m2_month" in data_in:
        try:  # people type yuan; the API takes fen
            data_in["rent_per_m2_month"] = yuan_to_fen(data_in["rent_per_m2_month"])
        except ValueError:
            errors["rent_per_m2_month"] = "应为金额（元），最多两位小数"
    data, problems = convert(data_in, ListingCreate)
    errors = errors or problems
    if data is not None and not errors:
        try:
            listing = await leasing.create_listing(principal, space_id, as_fields(data))
        except DomainError as exc:
            if exc.status_code == 404:
                raise
            errors = _terms_problems(exc)
        else:
            return see_other(f"/street/listings/{listing.id}")
    return await _listing_form(principal, space_id, values, errors, status_code=422)


async def _listing_page(
    principal: Principal,
    listing_id: int,
    *,
    values: dict | None = None,
    errors: dict | None = None,
    status_code: int = 200,
) -> Template:
    listing = await leasing.get_listing(principal, listing_id)
    applications = await leasing.ranked_applications(principal, listing_id)
    return page(
        "street/listing.html",
        principal,
        title=f"招租：{listing.address}",
        crumbs=[HOME, ("空间与招租", "/street/spaces"), (listing.address, None)],
        status_code=status_code,
        listing=listing,
        applications=applications,
        use_labels=USE_LABELS,
        values=values or {},
        errors=errors or {},
    )


@get("/street/listings/{listing_id:int}", name="street-listing")
async def listing_page(request: Request[Any, Any, Any], listing_id: int) -> Template:
    return await _listing_page(await require(request, Role.street), listing_id)


@post("/street/listings/{listing_id:int}/award", name="listing-award")
async def listing_award(request: Request[Any, Any, Any], listing_id: int) -> Response[Any]:
    principal = await require(request, Role.street)
    form = await read_form(request)
    values = form.fields(["application_id", "reason", "starts_on", "payment_day"])
    data, errors = convert(values, AwardInput)
    if data is not None:
        try:
            await leasing.award_listing(
                principal,
                listing_id,
                data.application_id,
                reason=data.reason,
                starts_on=data.starts_on,
                payment_day=data.payment_day,
                late_fee_bp_per_day=data.late_fee_bp_per_day,
            )
        except DomainError as exc:
            if exc.status_code == 404 and exc.code != "lease_application.not_found":
                raise
            errors = domain_problems(exc, {"decision.reason_required": "reason"})
        else:
            return see_other("/street/leases?awarded=1")
    return await _listing_page(
        principal, listing_id, values=values, errors=errors or {FORM: "提交失败"}, status_code=422
    )


# Community files (一社一档) ----------------------------------------------------------------------


@get("/street/communities", name="street-communities")
async def communities_page(request: Request[Any, Any, Any]) -> Template:
    principal = await require(request, Role.street)
    rows, total = await market.list_communities(
        principal, district_id=None, street_id=None, status=None, pool=None, q=None, limit=100, offset=0
    )
    return page(
        "street/communities.html",
        principal,
        title="社区档案",
        crumbs=[HOME, ("社区档案", None)],
        communities=[CommunityView.of(r) for r in rows],
        total=total,
    )


@get("/street/communities/{community_id:int}", name="street-community")
async def community_page(request: Request[Any, Any, Any], community_id: int) -> Template:
    principal = await require(request, Role.street)
    community = CommunityView.of(await market.get_community(principal, community_id))
    balance = CommunityBalanceView.of(await market.community_balance(principal, community_id))
    entries, entries_total = await market.list_entries(
        principal, community_id, start=None, end=None, limit=50, offset=0
    )
    needs, _ = await market.list_needs(
        principal, community_id=community_id, status=None, category=None, limit=100, offset=0
    )
    matches = MatchResult.of(await market.match_community(principal, community_id, 10))
    largest = max([m.income for m in balance.monthly] + [m.cost for m in balance.monthly] + [1])
    return page(
        "street/community.html",
        principal,
        title=community.name,
        crumbs=[HOME, ("社区档案", "/street/communities"), (community.name, None)],
        community=community,
        balance=balance,
        largest=largest,
        entries=[LedgerEntryView.of(e) for e in entries],
        entries_total=entries_total,
        needs=[NeedView.of(n) for n in needs],
        matches=matches,
    )


@get("/street/communities/{community_id:int}/report", name="street-community-report")
async def community_report(request: Request[Any, Any, Any], community_id: int) -> Template:
    """The one-click report: the same sections the API's report renders, in the site's page, printable on A4."""
    principal = await require(request, Role.street)
    data = await market.community_report(principal, community_id)
    community = data.community
    return page(
        "street/report.html",
        principal,
        title=f"{community.name} 社区运营报告",
        crumbs=[
            HOME,
            ("社区档案", "/street/communities"),
            (community.name, f"/street/communities/{community.id}"),
            ("报告", None),
        ],
        community=community,
        generated_at=data.generated_at,
        sections=report.sections(data),
    )


@get("/street/communities/{community_id:int}/report.xlsx", name="street-community-report-xlsx")
async def community_report_xlsx(request: Request[Any, Any, Any], community_id: int) -> Response[bytes]:
    principal = await require(request, Role.street)
    data = await market.community_report(principal, community_id)
    return Response(
        report.render_xlsx(data),
        media_type=XLSX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''community-{community_id}.xlsx"},
    )


# Leases and arrears ------------------------------------------------------------------------------


@get("/street/leases", name="street-leases")
async def leases_page(request: Request[Any, Any, Any], awarded: int = 0) -> Template:
    principal = await require(request, Role.street)
    leases, total = await leasing.list_leases(principal, space_id=None, status=None, limit=100, offset=0)
    overdue, overdue_total = await leasing.list_invoices(
        principal, lease_id=None, status="overdue", limit=100, offset=0
    )
    return page(
        "street/leases.html",
        principal,
        title="租约与欠费",
        crumbs=[HOME, ("租约与欠费", None)],
        leases=leases,
        total=total,
        overdue=overdue,
        overdue_total=overdue_total,
        awarded=bool(awarded),
    )


ROUTES = [
    street_home,
    flag_acknowledge,
    flag_resolve,
    spaces_page,
    listing_new,
    listing_create,
    listing_page,
    listing_award,
    leases_page,
    communities_page,
    community_page,
    community_report,
    community_report_xlsx,
]
