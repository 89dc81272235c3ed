"""HTTP for leasing: spaces, listings, applications and awards, leases, invoices and officials' figures."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import Parameter

from core.accounts.principal import OFFICIAL_ROLES, Principal
from core.accounts.tables import Role
from core.auth import ANY_ROLE, requires
from core.dates import Period
from core.http.answers import EncodedAnswers
from core.http.openapi import errors
from core.pagination import PageParams
from core.schemas import Page, as_fields
from leasing import export, service
from leasing.labels import (
    APPLICATION_STATUS_LABELS,
    INVOICE_STATUS_LABELS,
    LEASE_STATUS_LABELS,
    LISTING_STATUS_LABELS,
    OWNER_KIND_LABELS,
    PAYMENT_STATUS_LABELS,
    SPACE_STATUS_LABELS,
    TRACK_LABELS,
    USE_LABELS,
)
from leasing.schemas import (
    AwardInput,
    FiguresLevel,
    FiguresRow,
    FiguresView,
    InvoiceView,
    LeaseApplicationCreate,
    LeaseApplicationView,
    LeaseCreate,
    LeaseRenewal,
    LeaseTermination,
    LeaseView,
    ListingCreate,
    ListingView,
    PaymentCreate,
    PaymentView,
    Photo,
    ReasonInput,
    SpaceCreate,
    SpaceUpdate,
    SpaceView,
    WebhookAck,
)
from leasing.tables import InvoiceStatus, LeaseStatus, ListingStatus, SpaceStatus

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def space_view(row: dict) -> SpaceView:
    return SpaceView(
        id=row["id"],
        owner_org_id=row["owner_org_id"],
        owner_name=row["owner_name"],
        owner_kind=row["owner_kind"],
        owner_kind_label=OWNER_KIND_LABELS[row["owner_kind"]],
        community_id=row["community_id"],
        community_name=row["community_name"],
        address=row["address"],
        area_m2=row["area_m2"],
        floor=row["floor"],
        condition=row["condition"],
        allowed_uses=row["allowed_uses"],
        allowed_use_labels=[USE_LABELS[u] for u in row["allowed_uses"]],
        photos=[msgspec.convert(p, Photo) for p in row["photos"]],
        status=row["status"],
        status_label=SPACE_STATUS_LABELS[row["status"]],
    )


def listing_view(row: dict) -> ListingView:
    return ListingView(
        id=row["id"],
        space_id=row["space_id"],
        community_id=row["community_id"],
        community_name=row["community_name"],
        address=row["address"],
        area_m2=row["area_m2"],
        allowed_uses=row["allowed_uses"],
        track=row["track"],
        track_label=TRACK_LABELS[row["track"]],
        rent_per_m2_month=row["rent_per_m2_month"],
        public_welfare_discount=row["public_welfare_discount"],
        rent_free_months=row["rent_free_months"],
        min_term_months=row["min_term_months"],
        max_term_months=row["max_term_months"],
        deposit_months=row["deposit_months"],
        opens_on=row["opens_on"],
        closes_on=row["closes_on"],
        criteria=row["criteria"],
        status=row["status"],
        status_label=LISTING_STATUS_LABELS[row["status"]],
    )


def application_view(row: dict) -> LeaseApplicationView:
    return LeaseApplicationView(
        id=row["id"],
        listing_id=row["listing_id"],
        operator_id=row["operator_id"],
        operator_name=row["operator_name"],
        proposed_use=row["proposed_use"],
        proposed_use_label=USE_LABELS[row["proposed_use"]],
        proposed_rent_per_m2_month=row["proposed_rent_per_m2_month"],
        term_months=row["term_months"],
        plan=row["plan"],
        status=row["status"],
        status_label=APPLICATION_STATUS_LABELS[row["status"]],
        score=row.get("score"),
        rank=row.get("rank"),
        reasons=row.get("reasons", []),
        decision_reason=row["decision_reason"],
    )


def lease_view(row: dict) -> LeaseView:
    return LeaseView(
        id=row["id"],
        space_id=row["space_id"],
        address=row["address"],
        area_m2=row["area_m2"],
        community_id=row["community_id"],
        community_name=row["community_name"],
        lessee_id=row["lessee_id"],
        lessee_name=row["lessee_name"],
        use=row["use"],
        use_label=USE_LABELS[row["use"]],
        starts_on=row["starts_on"],
        ends_on=row["ends_on"],
        agreed_ends_on=row["agreed_ends_on"],
        monthly_rent=row["monthly_rent"],
        deposit=row["deposit"],
        rent_free_months=row["rent_free_months"],
        payment_day=row["payment_day"],
        status=row["status"],
        status_label=LEASE_STATUS_LABELS[row["status"]],
        renewal_of=row["renewal_of"],
        termination_reason=row["termination_reason"],
    )


def invoice_view(row: dict) -> InvoiceView:
    return InvoiceView(
        id=row["id"],
        lease_id=row["lease_id"],
        lessee_name=row["lessee_name"],
        community_name=row["community_name"],
        address=row["address"],
        month=row["month"],
        amount=row["amount"],
        due_on=row["due_on"],
        status=row["status"],
        status_label=INVOICE_STATUS_LABELS[row["status"]],
        last_decline=row["last_decline"],
        paid_at=row["paid_at"],
    )


def payment_view(row: dict) -> PaymentView:
    return PaymentView(
        id=row["id"],
        invoice_id=row["invoice_id"],
        attempt=row["attempt"],
        amount=row["amount"],
        status=row["status"],
        status_label=PAYMENT_STATUS_LABELS[row["status"]],
        decline_code=row["decline_code"],
        error_message=row["error_message"],
        client_secret=row.get("client_secret"),
        next_action=row.get("next_action"),
    )


def figures_row(row: dict) -> FiguresRow:
    return FiguresRow(**{k: row[k] for k in FiguresRow.__struct_fields__})


def figures_view(result: dict) -> FiguresView:
    return FiguresView(
        level=result["level"],
        start=result["start"],
        end=result["end"],
        items=[figures_row(r) for r in result["items"]],
        total=figures_row(result["total"]),
    )


# The figures come from the service's read cache (at community level about 240 KB): each is encoded once.
_figures_bodies = EncodedAnswers()


class SpaceController(Controller):
    path = "/api/v1/spaces"
    tags = ["存量空间租赁"]

    @post(
        "/",
        operation_id="registerSpace",
        guards=[requires(*OFFICIAL_ROLES, Role.owner)],
        responses=errors(403, 404),
        summary="登记闲置空间（权属单位或街道）",
    )
    async def register(self, principal: Principal, data: SpaceCreate) -> SpaceView:
        return space_view(await service.register_space(principal, as_fields(data)))

    @get("/", operation_id="listSpaces", guards=[ANY_ROLE], summary="空间列表（本人管理范围或本单位）")
    async def index(
        self,
        principal: Principal,
        page: PageParams,
        community_id: int | None = None,
        status_filter: Annotated[SpaceStatus | None, Parameter(query="status")] = None,
    ) -> Page[SpaceView]:
        rows, total = await service.list_spaces(
            principal,
            community_id=community_id,
            status=status_filter.value if status_filter else None,
            limit=page.limit,
            offset=page.offset,
        )
        return Page(items=[space_view(r) for r in rows], total=total, limit=page.limit, offset=page.offset)

    @get("/{space_id:int}", operation_id="getSpace", guards=[ANY_ROLE], summary="空间详情")
    async def detail(self, principal: Principal, space_id: int) -> SpaceView:
        return space_view(await service.get_space(principal, space_id))

    @patch(
        "/{space_id:int}",
        operation_id="updateSpace",
        guards=[requires(*OFFICIAL_ROLES, Role.owner)],
        responses=errors(403),
        summary="修改空间信息",
    )
    async def edit(self, principal: Principal, space_id: int, data: SpaceUpdate) -> SpaceView:
        return space_view(await service.update_space(principal, space_id, as_fields(data, drop_none=True)))

    @post(
        "/{space_id:int}/listings",
        operation_id="createSpaceListing",
        guards=[requires(*OFFICIAL_ROLES, Role.owner)],
        responses=errors(403, 409),
        summary="发布招租（竞争性或公益性协议出租）",
    )
    async def list_space(self, principal: Principal, space_id: int, data: ListingCreate) -> ListingView:
        return listing_view(await service.create_listing(principal, space_id, as_fields(data)))


class ListingController(Controller):
    path = "/api/v1/space-listings"
    tags = ["存量空间租赁"]

    @get("/", operation_id="listSpaceListings", guards=[ANY_ROLE], summary="招租信息（运营商可浏览全部招租中的空间）")
    async def index(
        self,
        principal: Principal,
        page: PageParams,
        status_filter: Annotated[ListingStatus | None, Parameter(query="status")] = None,
    ) -> Page[ListingView]:
        rows, total = await service.list_listings(
            principal, status=status_filter.value if status_filter else None, limit=page.limit, offset=page.offset
        )
        return Page(items=[listing_view(r) for r in rows], total=total, limit=page.limit, offset=page.offset)

    @get("/{listing_id:int}", operation_id="getSpaceListing", guards=[ANY_ROLE], summary="招租详情")
    async def detail(self, principal: Principal, listing_id: int) -> ListingView:
        return listing_view(await service.get_listing(principal, listing_id))

    @post(
        "/{listing_id:int}/applications",
        operation_id="applyForSpace",
        guards=[requires(Role.operator)],
        responses=errors(403, 409),
        summary="运营商申请承租",
    )
    async def apply(self, principal: Principal, listing_id: int, data: LeaseApplicationCreate) -> LeaseApplicationView:
        return application_view(await service.apply(principal, listing_id, as_fields(data)))

    @get(
        "/{listing_id:int}/applications",
        operation_id="listSpaceApplications",
        guards=[ANY_ROLE],
        summary="租赁申请（官员按公布规则排序；运营商仅见本企业）",
    )
    async def applications(self, principal: Principal, listing_id: int) -> list[LeaseApplicationView]:
        return [application_view(r) for r in await service.ranked_applications(principal, listing_id)]

    @post(
        "/{listing_id:int}/award",
        operation_id="awardSpaceListing",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 409),
        summary="确定承租方并签订租约（须填写理由）",
    )
    async def award(self, principal: Principal, listing_id: int, data: AwardInput) -> LeaseView:
        return lease_view(
            await service.award_listing(
                principal,
                listing_id,
                data.application_id,
                reason=data.reason,
                starts_on=data.starts_on,
                payment_day=data.payment_day,
            )
        )

    @post(
        "/{listing_id:int}/cancel",
        operation_id="cancelSpaceListing",
        guards=[requires(*OFFICIAL_ROLES, Role.owner)],
        responses=errors(403, 409),
        summary="撤销招租（须填写理由）",
        status_code=200,
    )
    async def cancel(self, principal: Principal, listing_id: int, data: ReasonInput) -> ListingView:
        return listing_view(await service.cancel_listing(principal, listing_id, data.reason))


class LeaseController(Controller):
    path = "/api/v1/leases"
    tags = ["存量空间租赁"]

    @post(
        "/",
        operation_id="createLease",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 404, 409),
        summary="直接签订租约（协议出租或既有租约登记）",
    )
    async def create(self, principal: Principal, data: LeaseCreate) -> LeaseView:
        return lease_view(await service.create_lease(principal, as_fields(data)))

    @get("/", operation_id="listLeases", guards=[ANY_ROLE], summary="租约列表")
    async def index(
        self,
        principal: Principal,
        page: PageParams,
        space_id: int | None = None,
        status_filter: Annotated[LeaseStatus | None, Parameter(query="status")] = None,
    ) -> Page[LeaseView]:
        rows, total = await service.list_leases(
            principal,
            space_id=space_id,
            status=status_filter.value if status_filter else None,
            limit=page.limit,
            offset=page.offset,
        )
        return Page(items=[lease_view(r) for r in rows], total=total, limit=page.limit, offset=page.offset)

    @get("/{lease_id:int}", operation_id="getLease", guards=[ANY_ROLE], summary="租约详情")
    async def detail(self, principal: Principal, lease_id: int) -> LeaseView:
        return lease_view(await service.get_lease(principal, lease_id))

    @post(
        "/{lease_id:int}/renew",
        operation_id="renewLease",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 409),
        summary="续租（生成衔接的新租约，须填写理由）",
    )
    async def renew(self, principal: Principal, lease_id: int, data: LeaseRenewal) -> LeaseView:
        return lease_view(
            await service.renew_lease(
                principal, lease_id, ends_on=data.ends_on, monthly_rent=data.monthly_rent, reason=data.reason
            )
        )

    @post(
        "/{lease_id:int}/terminate",
        operation_id="terminateLease",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 409),
        summary="提前终止租约（须填写理由）",
        status_code=200,
    )
    async def terminate(self, principal: Principal, lease_id: int, data: LeaseTermination) -> LeaseView:
        return lease_view(
            await service.terminate_lease(principal, lease_id, reason=data.reason, effective_on=data.effective_on)
        )


class InvoiceController(Controller):
    path = "/api/v1/rent-invoices"
    tags = ["存量空间租赁"]

    @get("/", operation_id="listRentInvoices", guards=[ANY_ROLE], summary="租金账单（运营商仅见本企业）")
    async def index(
        self,
        principal: Principal,
        page: PageParams,
        lease_id: int | None = None,
        status_filter: Annotated[InvoiceStatus | None, Parameter(query="status")] = None,
    ) -> Page[InvoiceView]:
        rows, total = await service.list_invoices(
            principal,
            lease_id=lease_id,
            status=status_filter.value if status_filter else None,
            limit=page.limit,
            offset=page.offset,
        )
        return Page(items=[invoice_view(r) for r in rows], total=total, limit=page.limit, offset=page.offset)

    @get("/{invoice_id:int}", operation_id="getRentInvoice", guards=[ANY_ROLE], summary="租金账单详情")
    async def detail(self, principal: Principal, invoice_id: int) -> InvoiceView:
        return invoice_view(await service.get_invoice(principal, invoice_id))

    @post(
        "/{invoice_id:int}/payments",
        operation_id="payRentInvoice",
        guards=[requires(Role.operator)],
        responses=errors(403, 409),
        summary="缴纳租金（承租运营商；支付结果未确认时为处理中）",
    )
    async def pay(self, principal: Principal, invoice_id: int, data: PaymentCreate) -> PaymentView:
        return payment_view(await service.pay_invoice(principal, invoice_id, data.payment_method))

    @get("/{invoice_id:int}/payments", operation_id="listRentPayments", guards=[ANY_ROLE], summary="账单的支付记录")
    async def payments(self, principal: Principal, invoice_id: int) -> list[PaymentView]:
        return [payment_view(p) for p in await service.payments_of(principal, invoice_id)]


class WebhookController(Controller):
    path = "/api/v1/webhooks"
    tags = ["存量空间租赁"]

    @post(
        "/payments",
        operation_id="paymentWebhook",
        responses=errors(400),
        summary="支付机构回调（校验 Stripe-Signature 签名）",
        status_code=200,
    )
    async def payments(self, request: Request) -> WebhookAck:
        status = await service.handle_webhook(await request.body(), request.headers.get("stripe-signature"))
        return WebhookAck(status=status)


class FiguresController(Controller):
    path = "/api/v1/leasing-figures"
    tags = ["存量空间租赁"]

    @get(
        "/",
        operation_id="leasingFigures",
        guards=[requires(*OFFICIAL_ROLES, Role.auditor)],
        responses=errors(403),
        summary="盘活面积与租金统计（社区、街道、区县、全市）",
    )
    async def figures(
        self, principal: Principal, period: Period, level: FiguresLevel = FiguresLevel.district
    ) -> Response[FiguresView]:
        result = await service.figures(principal, level=level.value, start=period.start, end=period.end)
        return _figures_bodies.response(result, lambda: figures_view(result))

    @get(
        "/export.xlsx",
        operation_id="leasingFiguresXlsx",
        guards=[requires(*OFFICIAL_ROLES, Role.auditor)],
        responses=errors(403),
        summary="盘活面积与租金统计导出 Excel",
        media_type=XLSX,
    )
    async def export(
        self, principal: Principal, period: Period, level: FiguresLevel = FiguresLevel.district
    ) -> Response[bytes]:
        result = await service.figures(principal, level=level.value, start=period.start, end=period.end)
        return Response(
            export.figures_xlsx(result),
            media_type=XLSX,
            headers={"Content-Disposition": 'attachment; filename="leasing-figures.xlsx"'},
        )


ROUTES = [SpaceController, ListingController, LeaseController, InvoiceController, WebhookController, FiguresController]
