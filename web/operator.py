"""Pages for an operator company: registering, applying to the 名录 (自荐) and following the application,
answering a return, and its rent invoices with the pay button."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Template

from core.accounts import service as accounts
from core.accounts.principal import Principal
from core.accounts.tables import Role
from core.errors import DomainError
from core.money import yuan_to_fen
from core.payments import PaymentsClient
from core.schemas import as_fields
from core.settings import get_settings
from leasing import service as leasing
from leasing.labels import USE_LABELS
from leasing.schemas import LeaseApplicationCreate
from market import service as market
from market.schemas import ContractView, LedgerEntryView, NeedView, OperatorMonthlyReport
from providers import service as registry
from providers.credit_code import credit_code_problem
from providers.labels import APPLICATION_STATE_LABELS
from providers.schemas import ApplicationCreate, ApplicationUpdate, OperatorRegistration, OperatorRow
from providers.tables import Channel
from web.forms import FORM, convert, domain_problems, read_form
from web.pages import PAGE_CSP, page, see_other
from web.session import require, session_cookie, viewer

Offset = Annotated[int, Parameter(ge=0, le=1_000_000)]
CreditCode = Annotated[str, Parameter(max_length=40)]

REGISTRATION_FIELDS = [
    "name",
    "credit_code",
    "legal_representative",
    "contact_name",
    "contact_phone",
    "contact_email",
    "categories",
    "district_ids",
    "capacity",
    "staff_count",
    "founded_on",
    "description",
    "username",
    "password",
]
REGISTRATION_ERROR_FIELDS = {
    "operator.credit_code_invalid": "credit_code",
    "operator.credit_code_taken": "credit_code",
    "category.unknown": "categories",
    "operator.unknown_district": "district_ids",
    "user.username_taken": "username",
    "user.email_taken": "contact_email",
    "user.weak_password": "password",
}
APPLICATION_ERROR_FIELDS = {"category.unknown": "categories", "application.duplicate_open": "categories"}


async def _choices() -> tuple[list[tuple[str, str]], list[tuple[int, str]]]:
    categories, districts = await registry.name_lookups()
    return list(categories.items()), list(districts.items())


async def _registration_page(
    request: Request[Any, Any, Any], values: dict, errors: dict, status_code: int = 200
) -> Template:
    categories, districts = await _choices()
    return page(
        "operator/register.html",
        await viewer(request),
        title="运营企业注册",
        crumbs=[("企业注册", None)],
        status_code=status_code,
        values=values,
        errors=errors,
        categories=categories,
        districts=districts,
    )


@get("/register", name="register")
async def register_page(request: Request[Any, Any, Any]) -> Template:
    return await _registration_page(request, {}, {})


@get("/register/credit-code", name="register-credit-code")
async def check_credit_code(credit_code: CreditCode = "") -> Template:
    """As the code is typed (htmx): the check character and format, before anything is sent for good."""
    code = credit_code.strip().upper()
    problem = credit_code_problem(code) if code else None
    return Template(template_name="operator/_credit_code.html", context={"code": code, "problem": problem})


@post("/register", name="register-submit")
async def register_submit(request: Request[Any, Any, Any]) -> Response[Any]:
    form = await read_form(request)
    values = form.fields(REGISTRATION_FIELDS, lists=("categories", "district_ids"))
    if "credit_code" in values:
        values["credit_code"] = values["credit_code"].upper()
    data, errors = convert(values, OperatorRegistration)
    if not errors and data is not None:
        fields = {k: v for k, v in as_fields(data).items() if k not in ("username", "password")}
        try:
            await registry.register_operator(fields, data.username, data.password)
        except DomainError as exc:
            errors = domain_problems(exc, REGISTRATION_ERROR_FIELDS)
        else:
            user_id = await accounts.authenticate(data.username, data.password)
            response = see_other("/operator?registered=1")
            response.set_cookie(session_cookie(request, user_id))
            return response
    values.pop("password", None)
    return await _registration_page(request, values, errors, status_code=422)


async def _own_operator(principal: Principal) -> OperatorRow:
    rows, _ = await registry.list_operators(principal, q=None, status=None, limit=1, offset=0)
    if not rows:
        raise DomainError("未找到本企业档案", code="operator.not_found", status_code=404)
    return rows[0]


@get("/operator", name="operator-home")
async def operator_home(request: Request[Any, Any, Any], registered: int = 0) -> Template:
    principal = await require(request, Role.operator)
    operator = await _own_operator(principal)
    applications, total = await registry.list_applications(
        principal, state=None, operator_id=operator.id, limit=50, offset=0
    )
    invoices, _ = await leasing.list_invoices(principal, lease_id=None, status="open", limit=50, offset=0)
    category_names, _ = await registry.name_lookups()
    return page(
        "operator/home.html",
        principal,
        title="企业工作台",
        crumbs=[("企业工作台", None)],
        operator=operator,
        applications=applications,
        total=total,
        invoices=invoices,
        category_names=category_names,
        registered=bool(registered),
    )


async def _application_form(
    principal: Principal, values: dict, errors: dict, *, application: Any = None, status_code: int = 200
) -> Template:
    operator = await _own_operator(principal)
    category_names, _ = await registry.name_lookups()
    editing = application is not None
    crumbs: list[tuple[str, str | None]] = [("企业工作台", "/operator")]
    if editing:
        crumbs += [(f"申请 {application.id}", f"/operator/applications/{application.id}"), ("修改", None)]
    else:
        crumbs.append(("自荐申请", None))
    return page(
        "operator/application_form.html",
        principal,
        title="修改申请" if editing else "自荐申请入库",
        crumbs=crumbs,
        status_code=status_code,
        operator=operator,
        application=application,
        categories=[(c, category_names.get(c, c)) for c in operator.categories],
        values=values,
        errors=errors,
    )


@get("/operator/applications/new", name="application-new")
async def application_new(request: Request[Any, Any, Any]) -> Template:
    principal = await require(request, Role.operator)
    return await _application_form(principal, {}, {})


@post("/operator/applications", name="application-create")
async def application_create(request: Request[Any, Any, Any]) -> Response[Any]:
    principal = await require(request, Role.operator)
    operator = await _own_operator(principal)
    form = await read_form(request)
    values = form.fields(["categories", "statement"], lists=("categories",))
    data, errors = convert(
        {**values, "operator_id": operator.id, "channel": Channel.self_nominated.value}, ApplicationCreate
    )
    if data is not None:
        try:
            created = await registry.create_application(
                principal,
                operator_id=operator.id,
                channel=data.channel,
                categories=data.categories,
                statement=data.statement,
                attachments=data.attachments,
            )
            if form.get("then") == "submit":
                await registry.submit_application(principal, created.id)
        except DomainError as exc:
            errors = domain_problems(exc, APPLICATION_ERROR_FIELDS)
        else:
            return see_other(f"/operator/applications/{created.id}")
    return await _application_form(principal, values, errors, status_code=422)


@get("/operator/applications/{application_id:int}", name="application")
async def application_page(request: Request[Any, Any, Any], application_id: int) -> Template:
    principal = await require(request, Role.operator)
    application = await registry.get_application_for(principal, application_id)
    category_names, _ = await registry.name_lookups()
    return page(
        "operator/application.html",
        principal,
        title=f"申请 {application.id}",
        crumbs=[("企业工作台", "/operator"), (f"申请 {application.id}", None)],
        application=application,
        category_names=category_names,
        state_labels=APPLICATION_STATE_LABELS,
        errors={},
    )


@get("/operator/applications/{application_id:int}/edit", name="application-edit")
async def application_edit(request: Request[Any, Any, Any], application_id: int) -> Response[Any]:
    principal = await require(request, Role.operator)
    application = await registry.get_application_for(principal, application_id)
    if application.state.value not in ("draft", "returned"):
        return see_other(f"/operator/applications/{application_id}")
    values = {"categories": application.categories, "statement": application.statement}
    return await _application_form(principal, values, {}, application=application)


@post("/operator/applications/{application_id:int}/edit", name="application-update")
async def application_update(request: Request[Any, Any, Any], application_id: int) -> Response[Any]:
    principal = await require(request, Role.operator)
    application = await registry.get_application_for(principal, application_id)
    form = await read_form(request)
    values = form.fields(["categories", "statement"], lists=("categories",))
    values.setdefault("statement", "")
    data, errors = convert(values, ApplicationUpdate)
    if data is not None:
        try:
            await registry.update_application(principal, application_id, as_fields(data, drop_none=True))
            if form.get("then") == "submit":
                await registry.submit_application(principal, application_id)
        except DomainError as exc:
            errors = domain_problems(exc, APPLICATION_ERROR_FIELDS)
        else:
            return see_other(f"/operator/applications/{application_id}")
    return await _application_form(principal, values, errors, application=application, status_code=422)


@post("/operator/applications/{application_id:int}/submit", name="application-submit")
async def application_submit(request: Request[Any, Any, Any], application_id: int) -> Response[Any]:
    principal = await require(request, Role.operator)
    try:
        await registry.submit_application(principal, application_id)
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        application = await registry.get_application_for(principal, application_id)
        category_names, _ = await registry.name_lookups()
        return page(
            "operator/application.html",
            principal,
            title=f"申请 {application.id}",
            crumbs=[("企业工作台", "/operator"), (f"申请 {application.id}", None)],
            status_code=exc.status_code,
            application=application,
            category_names=category_names,
            state_labels=APPLICATION_STATE_LABELS,
            errors={FORM: exc.message},
        )
    return see_other(f"/operator/applications/{application_id}")


# Needs and contracts -----------------------------------------------------------------------------


@get("/operator/needs", name="operator-needs")
async def needs_page(request: Request[Any, Any, Any]) -> Template:
    """Open needs in the company's own categories (the API lets an operator browse every open need)."""
    principal = await require(request, Role.operator)
    operator = await _own_operator(principal)
    needs = []
    for category in operator.categories:
        rows, _ = await market.list_needs(
            principal, community_id=None, status="open", category=category, limit=100, offset=0
        )
        needs += [NeedView.of(row) for row in rows]
    needs.sort(key=lambda n: (-n.priority, n.created_at))
    return page(
        "operator/needs.html",
        principal,
        title="社区需求",
        crumbs=[("企业工作台", "/operator"), ("社区需求", None)],
        needs=needs,
        operator=operator,
    )


@get("/operator/contracts", name="operator-contracts")
async def contracts_page(request: Request[Any, Any, Any]) -> Template:
    principal = await require(request, Role.operator)
    rows, total = await market.list_contracts(
        principal, community_id=None, operator_id=None, status=None, limit=100, offset=0
    )
    return page(
        "operator/contracts.html",
        principal,
        title="服务合同",
        crumbs=[("企业工作台", "/operator"), ("服务合同", None)],
        contracts=[ContractView.of(r) for r in rows],
        total=total,
    )


REPORT_FIELDS = ["service_revenue", "staff", "utilities", "maintenance", "other_cost"]


async def _contract_page(
    principal: Principal,
    contract_id: int,
    *,
    values: dict | None = None,
    errors: dict | None = None,
    reported: list | None = None,
    status_code: int = 200,
) -> Template:
    contract = ContractView.of(await market.get_contract(principal, contract_id))
    return page(
        "operator/contract.html",
        principal,
        title=f"服务合同 {contract.id}",
        crumbs=[("企业工作台", "/operator"), ("服务合同", "/operator/contracts"), (f"合同 {contract.id}", None)],
        status_code=status_code,
        contract=contract,
        values=values or {},
        errors=errors or {},
        reported=reported or [],
        due_day=get_settings().monthly_report_due_day,
    )


@get("/operator/contracts/{contract_id:int}", name="operator-contract")
async def contract_page(request: Request[Any, Any, Any], contract_id: int) -> Template:
    return await _contract_page(await require(request, Role.operator), contract_id)


@post("/operator/contracts/{contract_id:int}/monthly-reports", name="operator-monthly-report")
async def monthly_report(request: Request[Any, Any, Any], contract_id: int) -> Response[Any]:
    principal = await require(request, Role.operator)
    form = await read_form(request)
    values = form.fields(["month", *REPORT_FIELDS])
    errors: dict[str, str] = {}
    fen: dict[str, int] = {}
    for name in REPORT_FIELDS:
        try:  # people type yuan; the API takes fen
            fen[name] = yuan_to_fen(values.get(name) or "0")
        except ValueError:
            errors[name] = "应为金额（元），最多两位小数"
    month = values.get("month", "")
    body = {
        "month": f"{month}-01" if len(month) == 7 else month,
        "service_revenue": fen.get("service_revenue", 0),
        "costs": {k: v for k, v in fen.items() if k != "service_revenue"},
    }
    data, problems = convert(body, OperatorMonthlyReport)
    errors = errors or {("staff" if k == "costs" else k): v for k, v in problems.items()}
    if data is not None and not errors:
        try:
            entries = await market.report_operator_month(
                principal,
                contract_id,
                month=data.month,
                service_revenue=data.service_revenue,
                costs=msgspec.structs.asdict(data.costs),
            )
        except DomainError as exc:
            if exc.status_code == 404:
                raise
            errors = domain_problems(
                exc,
                {
                    "ledger.source_exists": "month",
                    "ledger.no_contract_for_month": "month",
                    "ledger.month_invalid": "month",
                },
            )
        else:
            return await _contract_page(principal, contract_id, reported=[LedgerEntryView.of(e) for e in entries])
    return await _contract_page(principal, contract_id, values=values, errors=errors, status_code=422)


# Space listings ----------------------------------------------------------------------------------


@get("/operator/listings", name="operator-listings")
async def listings_page(request: Request[Any, Any, Any]) -> Template:
    principal = await require(request, Role.operator)
    rows, total = await leasing.list_listings(principal, status="open", limit=100, offset=0)
    return page(
        "operator/listings.html",
        principal,
        title="招租信息",
        crumbs=[("企业工作台", "/operator"), ("招租信息", None)],
        listings=rows,
        total=total,
    )


async def _listing_page(
    principal: Principal,
    listing_id: int,
    *,
    values: dict | None = None,
    errors: dict | None = None,
    status_code: int = 200,
) -> Template:
    listing = await leasing.get_listing(principal, listing_id)
    mine = await leasing.ranked_applications(principal, listing_id)
    return page(
        "operator/listing.html",
        principal,
        title=f"招租：{listing.address}",
        crumbs=[("企业工作台", "/operator"), ("招租信息", "/operator/listings"), (listing.address, None)],
        status_code=status_code,
        listing=listing,
        mine=mine,
        uses=[(u, USE_LABELS[u]) for u in listing.allowed_uses],
        values=values or {},
        errors=errors or {},
    )


def _application_problems(exc: DomainError) -> dict[str, str]:
    """The leasing service's problems with an application, each next to the field it is about."""
    problems = exc.detail.get("problems") if isinstance(exc.detail, dict) else None
    if exc.code != "lease_application.invalid" or not problems:
        return domain_problems(exc, {"space.use_invalid": "proposed_use"})
    found: dict[str, str] = {}
    for problem in problems:
        field = "term_months" if problem.startswith("租期") else "proposed_rent_per_m2_month"
        found[field] = problem
    return found


@get("/operator/listings/{listing_id:int}", name="operator-listing")
async def listing_page(request: Request[Any, Any, Any], listing_id: int) -> Template:
    return await _listing_page(await require(request, Role.operator), listing_id)


@post("/operator/listings/{listing_id:int}/apply", name="operator-listing-apply")
async def listing_apply(request: Request[Any, Any, Any], listing_id: int) -> Response[Any]:
    principal = await require(request, Role.operator)
    form = await read_form(request)
    values = form.fields(["proposed_use", "term_months", "proposed_rent_per_m2_month", "plan"])
    data_in = dict(values)
    errors: dict[str, str] = {}
    if "proposed_rent_per_m2_month" in data_in:
        try:  # people type yuan; the API takes fen
            data_in["proposed_rent_per_m2_month"] = yuan_to_fen(data_in["proposed_rent_per_m2_month"])
        except ValueError:
            errors["proposed_rent_per_m2_month"] = "应为金额（元），最多两位小数"
    data, problems = convert(data_in, LeaseApplicationCreate)
    errors = errors or problems
    if data is not None and not errors:
        try:
            await leasing.apply(principal, listing_id, as_fields(data))
        except DomainError as exc:
            if exc.code == "listing.not_found":
                raise
            errors = _application_problems(exc)
        else:
            return see_other(f"/operator/listings/{listing_id}?applied=1")
    return await _listing_page(principal, listing_id, values=values, errors=errors, status_code=422)


# Invoices ----------------------------------------------------------------------------------------

# Cards of the payment server's test mode, as a person picks one on the pay page. The last asks the payer's
# bank to authenticate them (3-D Secure) before it is charged.
THREE_D_SECURE = "card_3ds"
THREE_D_SECURE_NUMBER = "4000002500003155"
TEST_CARDS = [
    ("pm_card_visa", "Visa 测试卡 (尾号 4242)"),
    ("pm_card_mastercard", "Mastercard 测试卡 (尾号 4444)"),
    (THREE_D_SECURE, "需银行验证的测试卡 (尾号 3155)"),
]


@get("/operator/invoices", name="invoices")
async def invoices_page(request: Request[Any, Any, Any], offset: Offset = 0) -> Template:
    principal = await require(request, Role.operator)
    rows, total = await leasing.list_invoices(principal, lease_id=None, status=None, limit=20, offset=offset)
    return page(
        "operator/invoices.html",
        principal,
        title="租金账单",
        crumbs=[("企业工作台", "/operator"), ("租金账单", None)],
        invoices=rows,
        result={"total": total, "limit": 20, "offset": offset},
    )


async def _invoice_page(
    principal: Principal,
    invoice_id: int,
    *,
    errors: dict | None = None,
    status_code: int = 200,
    authenticated: bool = False,
) -> Template:
    invoice = await leasing.get_invoice(principal, invoice_id)
    payments = await leasing.payments_of(principal, invoice_id)
    return page(
        "operator/invoice.html",
        principal,
        title=f"{invoice.month:%Y-%m} 租金账单",
        crumbs=[("企业工作台", "/operator"), ("租金账单", "/operator/invoices"), (f"{invoice.month:%Y-%m}", None)],
        status_code=status_code,
        invoice=invoice,
        payments=payments,
        cards=TEST_CARDS,
        errors=errors or {},
        authenticated=authenticated,
    )


@get("/operator/invoices/{invoice_id:int}", name="invoice")
async def invoice_page(request: Request[Any, Any, Any], invoice_id: int, authenticated: int = 0) -> Template:
    principal = await require(request, Role.operator)
    return await _invoice_page(principal, invoice_id, authenticated=bool(authenticated))


@post("/operator/invoices/{invoice_id:int}/pay", name="invoice-pay")
async def invoice_pay(request: Request[Any, Any, Any], invoice_id: int) -> Response[Any]:
    principal = await require(request, Role.operator)
    form = await read_form(request)
    method = form.get("payment_method")
    if method not in {code for code, _ in TEST_CARDS}:
        return await _invoice_page(principal, invoice_id, errors={"payment_method": "请选择支付方式"}, status_code=422)
    invoice = await leasing.get_invoice(principal, invoice_id)
    if method == THREE_D_SECURE:
        async with PaymentsClient() as client:
            method = (await client.create_payment_method_card(THREE_D_SECURE_NUMBER, 12, 2030, "123")).id
    try:
        payment = await leasing.pay_invoice(principal, invoice_id, method)
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        return await _invoice_page(principal, invoice_id, errors={FORM: exc.message}, status_code=exc.status_code)
    if payment.status.value == "pending" and payment.client_secret:
        # The bank authenticates the payer in their browser, with the secret the payment server handed out
        # once: the page talks to the payment server itself, as its script would.
        base = get_settings().stripe_api_base.rstrip("/")
        return page(
            "operator/authenticate.html",
            principal,
            title="银行验证",
            crumbs=[("企业工作台", "/operator"), ("租金账单", "/operator/invoices"), ("银行验证", None)],
            csp=PAGE_CSP.replace("connect-src 'self'", f"connect-src 'self' {base}"),
            invoice=invoice,
            payment_base=base,
            intent=payment.client_secret.split("_secret_")[0],
            client_secret=payment.client_secret,
        )
    return see_other(f"/operator/invoices/{invoice_id}")


ROUTES = [
    register_page,
    check_credit_code,
    register_submit,
    operator_home,
    application_new,
    application_create,
    application_page,
    application_edit,
    application_update,
    application_submit,
    needs_page,
    contracts_page,
    contract_page,
    monthly_report,
    listings_page,
    listing_page,
    listing_apply,
    invoices_page,
    invoice_page,
    invoice_pay,
]
