"""HTTP for leasing: spaces, listings, applications and awards, leases, invoices and officials' figures."""

from __future__ import annotations

from typing import Annotated

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
from leasing.schemas import (
    AwardInput,
    DepositSettlementCreate,
    DepositSettlementView,
    FiguresLevel,
    FiguresView,
    InvoiceView,
    LeaseApplicationCreate,
    LeaseApplicationView,
    LeaseCreate,
    LeaseRenewal,
    LeaseTermination,
    LeaseView,
    ListingCreate,
    ListingResult,
    ListingView,
    PanelScoreCreate,
    PanelScoreView,
    PaymentCreate,
    PaymentView,
    ReasonInput,
    SpaceCreate,
    SpaceUpdate,
    SpaceView,
    WebhookAck,
)
from leasing.tables import InvoiceStatus, LeaseStatus, ListingStatus, SpaceStatus

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
        return SpaceView.of(await service.register_space(principal, as_fields(data)))

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
        return Page.of(rows, total, page, SpaceView.of)

    @get("/{space_id:int}", operation_id="getSpace", guards=[ANY_ROLE], summary="空间详情")
    async def detail(self, principal: Principal, space_id: int) -> SpaceView:
        return SpaceView.of(await service.get_space(principal, space_id))

    @patch(
        "/{space_id:int}",
        operation_id="updateSpace",
        guards=[requires(*OFFICIAL_ROLES, Role.owner)],
        responses=errors(403),
        summary="修改空间信息",
    )
    async def edit(self, principal: Principal, space_id: int, data: SpaceUpdate) -> SpaceView:
        return SpaceView.of(await service.update_space(principal, space_id, as_fields(data, drop_none=True)))

    @post(
        "/{space_id:int}/listings",
        operation_id="createSpaceListing",
        guards=[requires(*OFFICIAL_ROLES, Role.owner)],
        responses=errors(403, 409),
        summary="发布招租（竞争性或公益性协议出租）",
    )
    async def list_space(self, principal: Principal, space_id: int, data: ListingCreate) -> ListingView:
        return ListingView.of(await service.create_listing(principal, space_id, as_fields(data)))


class ListingController(Controller):
    path = "/api/v1/space-listings"
    tags = ["存量空间租赁"]

    @get(
        "/",
        operation_id="listSpaceListings",
        guards=[requires(*OFFICIAL_ROLES, Role.auditor, Role.owner, Role.operator)],
        responses=errors(403),
        summary="招租信息（运营商可浏览全部招租中的空间）",
    )
    async def index(
        self,
        principal: Principal,
        page: PageParams,
        status_filter: Annotated[ListingStatus | None, Parameter(query="status")] = None,
    ) -> Page[ListingView]:
        rows, total = await service.list_listings(
            principal, status=status_filter.value if status_filter else None, limit=page.limit, offset=page.offset
        )
        return Page.of(rows, total, page, ListingView.of)

    @get("/{listing_id:int}", operation_id="getSpaceListing", guards=[ANY_ROLE], summary="招租详情")
    async def detail(self, principal: Principal, listing_id: int) -> ListingView:
        return ListingView.of(await service.get_listing(principal, listing_id))

    @post(
        "/{listing_id:int}/applications",
        operation_id="applyForSpace",
        guards=[requires(Role.operator)],
        responses=errors(403, 409),
        summary="运营商申请承租",
    )
    async def apply(self, principal: Principal, listing_id: int, data: LeaseApplicationCreate) -> LeaseApplicationView:
        return LeaseApplicationView.of(await service.apply(principal, listing_id, as_fields(data)))

    @get(
        "/{listing_id:int}/applications",
        operation_id="listSpaceApplications",
        guards=[ANY_ROLE],
        summary="租赁申请（官员按公布规则排序；运营商仅见本企业）",
    )
    async def applications(self, principal: Principal, listing_id: int) -> list[LeaseApplicationView]:
        return [LeaseApplicationView.of(r) for r in await service.ranked_applications(principal, listing_id)]

    @post(
        "/{listing_id:int}/applications/{application_id:int}/scores",
        operation_id="scoreSpaceApplication",
        guards=[requires(Role.street)],
        responses=errors(403, 404, 409),
        summary="街道评审组对租赁申请评分（申请截止后，每人每项 0–100 分并附意见）",
    )
    async def score(
        self, principal: Principal, listing_id: int, application_id: int, data: PanelScoreCreate
    ) -> PanelScoreView:
        return await service.score_application(principal, listing_id, application_id, data.scores, data.comment)

    @post(
        "/{listing_id:int}/award",
        operation_id="awardSpaceListing",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 409),
        summary="确定承租方并签订租约（须填写理由）",
    )
    async def award(self, principal: Principal, listing_id: int, data: AwardInput) -> LeaseView:
        return LeaseView.of(
            await service.award_listing(
                principal,
                listing_id,
                data.application_id,
                reason=data.reason,
                starts_on=data.starts_on,
                payment_day=data.payment_day,
                late_fee_bp_per_day=data.late_fee_bp_per_day,
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
        return ListingView.of(await service.cancel_listing(principal, listing_id, data.reason))


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
        return LeaseView.of(await service.create_lease(principal, as_fields(data)))

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
        return Page.of(rows, total, page, LeaseView.of)

    @get("/{lease_id:int}", operation_id="getLease", guards=[ANY_ROLE], summary="租约详情")
    async def detail(self, principal: Principal, lease_id: int) -> LeaseView:
        return LeaseView.of(await service.get_lease(principal, lease_id))

    @post(
        "/{lease_id:int}/renew",
        operation_id="renewLease",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 409),
        summary="续租（生成衔接的新租约，须填写理由）",
    )
    async def renew(self, principal: Principal, lease_id: int, data: LeaseRenewal) -> LeaseView:
        return LeaseView.of(
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
        return LeaseView.of(
            await service.terminate_lease(principal, lease_id, reason=data.reason, effective_on=data.effective_on)
        )


class DepositController(Controller):
    path = "/api/v1/leases"
    tags = ["存量空间租赁"]

    @post(
        "/{lease_id:int}/deposit-settlement",
        operation_id="settleLeaseDeposit",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 404, 409),
        summary="租约结束后处理押金：通过支付机构退还，或说明理由扣留部分",
    )
    async def settle(self, principal: Principal, lease_id: int, data: DepositSettlementCreate) -> DepositSettlementView:
        return DepositSettlementView.of(
            await service.settle_deposit(principal, lease_id, retained_amount=data.retained_amount, reason=data.reason)
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
        return Page.of(rows, total, page, InvoiceView.of)

    @get("/{invoice_id:int}", operation_id="getRentInvoice", guards=[ANY_ROLE], summary="租金账单详情")
    async def detail(self, principal: Principal, invoice_id: int) -> InvoiceView:
        return InvoiceView.of(await service.get_invoice(principal, invoice_id))

    @post(
        "/{invoice_id:int}/payments",
        operation_id="payRentInvoice",
        guards=[requires(Role.operator)],
        responses=errors(403, 409),
        summary="缴纳租金（承租运营商；支付结果未确认时为处理中）",
    )
    async def pay(self, principal: Principal, invoice_id: int, data: PaymentCreate) -> PaymentView:
        return PaymentView.of(await service.pay_invoice(principal, invoice_id, data.payment_method))

    @get("/{invoice_id:int}/payments", operation_id="listRentPayments", guards=[ANY_ROLE], summary="账单的支付记录")
    async def payments(self, principal: Principal, invoice_id: int) -> list[PaymentView]:
        return [PaymentView.of(p) for p in await service.payments_of(principal, invoice_id)]


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
        return _figures_bodies.response(result, lambda: result)

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


class PublicListingController(Controller):
    """Open without login: the results of awarded listings."""

    path = "/api/v1/public/space-listings"
    tags = ["公开名录"]
    opt = {"exclude_from_auth": True}

    @get(
        "/{listing_id:int}/result",
        operation_id="publicSpaceListingResult",
        responses=errors(404),
        summary="招租结果公示：排名与得分、承租方、未按排名确定时的理由（公开）",
    )
    async def result(self, listing_id: int) -> ListingResult:
        return await service.public_result(listing_id)


ROUTES = [
    SpaceController,
    ListingController,
    PublicListingController,
    LeaseController,
    DepositController,
    InvoiceController,
    WebhookController,
    FiguresController,
]
