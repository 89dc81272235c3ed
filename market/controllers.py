"""HTTP for the market: community files, needs, matching, allocation, contracts, ledger, balance, subsidies."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, patch, post
from litestar.params import Parameter

from core.accounts.principal import OFFICIAL_ROLES, Principal
from core.accounts.tables import Role
from core.auth import ANY_ROLE, requires
from core.dates import Period
from core.http.answers import EncodedAnswers
from core.http.openapi import errors
from core.money import format_yuan
from core.pagination import PageParams
from core.schemas import Page, as_fields
from market import report, service
from market.balance import BalanceStatus
from market.schemas import (
    AllianceCommunity,
    AllocationLineView,
    AllocationPlanView,
    AllocationRequest,
    AssignmentInput,
    AssignmentView,
    BalanceOverview,
    CommunityBalanceView,
    CommunityCreate,
    CommunityUpdate,
    CommunityView,
    ComplaintInput,
    ComplaintView,
    ContractCreate,
    ContractLineView,
    ContractRenewal,
    ContractUpdate,
    ContractView,
    FeePaymentInput,
    FranchiseInvoiceInput,
    FranchiseInvoiceView,
    FundContribution,
    FundGrant,
    FundMovementView,
    FundOpen,
    FundView,
    FuyangAwardInput,
    FuyangAwardView,
    HangzhouSubsidyInput,
    HangzhouSubsidyView,
    LedgerEntryView,
    LedgerPost,
    MasterContractInput,
    MasterContractView,
    MatchResult,
    NeedCreate,
    NeedView,
    OperatorMonthlyReport,
    OptionalReasonInput,
    PlanLineAccept,
    PlatformDesignate,
    PlatformDetail,
    PlatformView,
    PortfolioView,
    ReasonInput,
    RegistryDecisionInput,
    RegistryDecisionView,
)
from market.subsidy import HANGZHOU_COST_CAP_PER_M2
from market.tables import CommunityPool, CommunityStatus, ContractStatus, NeedStatus

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# Shortlists and overviews come from the service's read caches: each cached answer is encoded once.
_match_bodies = EncodedAnswers()
_overview_bodies = EncodedAnswers()


class CommunityController(Controller):
    path = "/api/v1/communities"
    tags = ["社区与市场"]

    @post(
        "/",
        operation_id="createCommunity",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403),
        summary="建立社区档案（一社一档）",
    )
    async def create(self, principal: Principal, data: CommunityCreate) -> CommunityView:
        return CommunityView.of(await service.create_community(principal, as_fields(data)))

    @get("/", operation_id="listCommunities", guards=[ANY_ROLE], summary="社区档案列表（本人管理范围内）")
    async def list(
        self,
        principal: Principal,
        page: PageParams,
        district_id: int | None = None,
        street_id: int | None = None,
        status: CommunityStatus | None = None,
        pool: CommunityPool | None = None,
        q: Annotated[str | None, Parameter(max_length=100)] = None,
    ) -> Page[CommunityView]:
        rows, total = await service.list_communities(
            principal,
            district_id=district_id,
            street_id=street_id,
            status=status.value if status else None,
            pool=pool.value if pool else None,
            q=q,
            limit=page.limit,
            offset=page.offset,
        )
        return Page.of(rows, total, page, CommunityView.of)

    @get("/{community_id:int}", operation_id="getCommunity", guards=[ANY_ROLE], summary="社区档案")
    async def detail(self, principal: Principal, community_id: int) -> CommunityView:
        return CommunityView.of(await service.get_community(principal, community_id))

    @patch(
        "/{community_id:int}",
        operation_id="updateCommunity",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403),
        summary="修改社区档案",
    )
    async def edit(self, principal: Principal, community_id: int, data: CommunityUpdate) -> CommunityView:
        return CommunityView.of(
            await service.update_community(principal, community_id, as_fields(data, drop_none=True))
        )

    @post(
        "/{community_id:int}/needs",
        operation_id="createNeed",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403),
        summary="发布社区需求（通知相关在库运营商）",
    )
    async def create_need(self, principal: Principal, community_id: int, data: NeedCreate) -> NeedView:
        return NeedView.of(
            await service.create_need(
                principal, community_id, category=data.category, priority=data.priority, text=data.text
            )
        )

    @get(
        "/{community_id:int}/matches",
        operation_id="matchCommunity",
        guards=[ANY_ROLE],
        summary="为社区全部待对接需求推荐运营商（含评分说明与组合方案）",
    )
    async def matches(
        self, principal: Principal, community_id: int, limit: Annotated[int, Parameter(ge=1, le=100)] = 20
    ) -> Response[MatchResult]:
        result = await service.match_community(principal, community_id, limit)
        return _match_bodies.response(result, lambda: MatchResult.of(result), community_id)

    @post(
        "/{community_id:int}/ledger",
        operation_id="postLedgerEntry",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 409),
        summary="登记社区成本或补助（街道等）",
    )
    async def post_entry(self, principal: Principal, community_id: int, data: LedgerPost) -> LedgerEntryView:
        entry = await service.post_entry(
            principal,
            community_id,
            month=data.month,
            kind=data.kind.value,
            amount=data.amount,
            reference=data.reference,
            note=data.note,
        )
        return LedgerEntryView.of(entry)

    @get("/{community_id:int}/ledger", operation_id="listLedgerEntries", guards=[ANY_ROLE], summary="社区收支明细")
    async def ledger(
        self, principal: Principal, community_id: int, page: PageParams, period: Period
    ) -> Page[LedgerEntryView]:
        rows, total = await service.list_entries(
            principal, community_id, start=period.start, end=period.end, limit=page.limit, offset=page.offset
        )
        return Page.of(rows, total, page, LedgerEntryView.of)

    @get(
        "/{community_id:int}/balance",
        operation_id="getCommunityBalance",
        guards=[ANY_ROLE],
        summary="社区收支平衡（默认近 12 个完整月）及未来 12 个月预测",
    )
    async def balance(self, principal: Principal, community_id: int, period: Period) -> CommunityBalanceView:
        result = await service.community_balance(principal, community_id, start=period.start, end=period.end)
        return CommunityBalanceView.of(result)

    @get(
        "/{community_id:int}/report.html",
        operation_id="communityReportHtml",
        guards=[ANY_ROLE],
        responses=errors(422),
        summary="社区一键报告（HTML）",
        media_type="text/html",
    )
    async def report_html(self, principal: Principal, community_id: int) -> Response[str]:
        data = await service.community_report(principal, community_id)
        return Response(report.render_html(data), media_type="text/html; charset=utf-8")

    @get(
        "/{community_id:int}/report.xlsx",
        operation_id="communityReportXlsx",
        guards=[ANY_ROLE],
        responses=errors(422),
        summary="社区一键报告（Excel）",
        media_type=XLSX,
    )
    async def report_xlsx(self, principal: Principal, community_id: int) -> Response[bytes]:
        data = await service.community_report(principal, community_id)
        filename = f"community-{community_id}-report.xlsx"
        return Response(
            report.render_xlsx(data),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


class NeedController(Controller):
    path = "/api/v1/needs"
    tags = ["社区与市场"]

    @get(
        "/",
        operation_id="listNeeds",
        guards=[requires(Role.operator, *OFFICIAL_ROLES, Role.auditor)],
        responses=errors(403),
        summary="社区需求列表（运营商可浏览全部待对接需求）",
    )
    async def index(
        self,
        principal: Principal,
        page: PageParams,
        community_id: int | None = None,
        status_filter: Annotated[NeedStatus | None, Parameter(query="status")] = None,
        category: Annotated[str | None, Parameter(max_length=40)] = None,
    ) -> Page[NeedView]:
        rows, total = await service.list_needs(
            principal,
            community_id=community_id,
            status=status_filter.value if status_filter else None,
            category=category,
            limit=page.limit,
            offset=page.offset,
        )
        return Page.of(rows, total, page, NeedView.of)

    @get("/{need_id:int}", operation_id="getNeed", guards=[ANY_ROLE], summary="需求详情")
    async def detail(self, principal: Principal, need_id: int) -> NeedView:
        return NeedView.of(await service.get_need(principal, need_id))

    @post(
        "/{need_id:int}/close",
        operation_id="closeNeed",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 409),
        summary="关闭需求（须填写理由）",
        status_code=200,
    )
    async def close(self, principal: Principal, need_id: int, data: ReasonInput) -> NeedView:
        return NeedView.of(await service.close_need(principal, need_id, data.reason))


class AllocationController(Controller):
    path = "/api/v1/allocation-plans"
    tags = ["社区与市场"]

    @post(
        "/",
        operation_id="createAllocationPlan",
        guards=[requires(Role.district, Role.city)],
        responses=errors(403),
        summary="生成区县或全市需求分配方案（总分最优，不超运营能力）",
    )
    async def create(self, principal: Principal, data: AllocationRequest) -> AllocationPlanView:
        return AllocationPlanView.of(*await service.create_allocation_plan(principal, data.district_id))

    @get("/{plan_id:int}", operation_id="getAllocationPlan", guards=[ANY_ROLE], summary="分配方案")
    async def detail(self, principal: Principal, plan_id: int) -> AllocationPlanView:
        return AllocationPlanView.of(*await service.get_allocation_plan(principal, plan_id))

    @post(
        "/{plan_id:int}/lines/{line_id:int}/accept",
        operation_id="acceptAllocationLine",
        guards=[requires(Role.district, Role.city)],
        responses=errors(403, 409),
        summary="采纳一条分配建议（生成拟签合同，产业联盟建议整体采纳；可附理由）",
        status_code=200,
    )
    async def accept(
        self, principal: Principal, plan_id: int, line_id: int, data: PlanLineAccept | None = None
    ) -> AllocationLineView:
        terms = as_fields(data, drop_none=True) if data else {}
        reason = terms.pop("reason", "")
        return AllocationLineView.of(await service.accept_plan_line(principal, plan_id, line_id, terms, reason))

    @post(
        "/{plan_id:int}/lines/{line_id:int}/reject",
        operation_id="rejectAllocationLine",
        guards=[requires(Role.district, Role.city)],
        responses=errors(403, 409),
        summary="不采纳一条分配建议（产业联盟建议整体不采纳；须填写理由）",
        status_code=200,
    )
    async def reject(self, principal: Principal, plan_id: int, line_id: int, data: ReasonInput) -> AllocationLineView:
        return AllocationLineView.of(await service.reject_plan_line(principal, plan_id, line_id, data.reason))


class ContractController(Controller):
    path = "/api/v1/contracts"
    tags = ["社区与市场"]

    @post(
        "/",
        operation_id="createContract",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 404, 409),
        summary="起草服务合同（占用运营商一个运营能力名额）",
    )
    async def create(self, principal: Principal, data: ContractCreate) -> ContractView:
        return ContractView.of(await service.create_contract(principal, as_fields(data)))

    @get("/", operation_id="listContracts", guards=[ANY_ROLE], summary="服务合同列表")
    async def index(
        self,
        principal: Principal,
        page: PageParams,
        community_id: int | None = None,
        operator_id: int | None = None,
        status_filter: Annotated[ContractStatus | None, Parameter(query="status")] = None,
    ) -> Page[ContractView]:
        rows, total = await service.list_contracts(
            principal,
            community_id=community_id,
            operator_id=operator_id,
            status=status_filter.value if status_filter else None,
            limit=page.limit,
            offset=page.offset,
        )
        return Page.of(rows, total, page, ContractView.of)

    @get("/{contract_id:int}", operation_id="getContract", guards=[ANY_ROLE], summary="服务合同")
    async def detail(self, principal: Principal, contract_id: int) -> ContractView:
        return ContractView.of(await service.get_contract(principal, contract_id))

    @patch(
        "/{contract_id:int}",
        operation_id="updateContract",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 409),
        summary="修改拟签合同",
    )
    async def edit(self, principal: Principal, contract_id: int, data: ContractUpdate) -> ContractView:
        return ContractView.of(await service.update_draft(principal, contract_id, as_fields(data, drop_none=True)))

    @post(
        "/{contract_id:int}/sign",
        operation_id="signContract",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 409),
        summary="签订合同（运营商须在库且覆盖所列类别；可附理由）",
        status_code=200,
    )
    async def sign(
        self, principal: Principal, contract_id: int, data: OptionalReasonInput | None = None
    ) -> ContractView:
        return ContractView.of(await service.sign_contract(principal, contract_id, data.reason if data else ""))

    @post(
        "/{contract_id:int}/renew",
        operation_id="renewContract",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 409),
        summary="续签合同（生成衔接的新合同，须填写理由）",
    )
    async def renew(self, principal: Principal, contract_id: int, data: ContractRenewal) -> ContractView:
        changes = as_fields(data, drop_none=True)
        reason = changes.pop("reason")
        return ContractView.of(await service.renew_contract(principal, contract_id, changes, reason))

    @post(
        "/{contract_id:int}/terminate",
        operation_id="terminateContract",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 409),
        summary="终止合同（须填写理由）",
        status_code=200,
    )
    async def terminate(self, principal: Principal, contract_id: int, data: ReasonInput) -> ContractView:
        return ContractView.of(await service.terminate_contract(principal, contract_id, data.reason))

    @post(
        "/{contract_id:int}/monthly-reports",
        operation_id="reportOperatorMonth",
        guards=[requires(Role.operator)],
        responses=errors(403, 409),
        summary="运营商月度收支申报（每月一次）",
    )
    async def monthly_report(
        self, principal: Principal, contract_id: int, data: OperatorMonthlyReport
    ) -> list[LedgerEntryView]:
        entries = await service.report_operator_month(
            principal,
            contract_id,
            month=data.month,
            service_revenue=data.service_revenue,
            costs=msgspec.structs.asdict(data.costs),
        )
        return [LedgerEntryView.of(e) for e in entries]

    @post(
        "/{contract_id:int}/registry-decision",
        operation_id="decideContractAfterRegistryChange",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 404, 409),
        summary="运营商被暂停或移出名录后，决定合同继续履行至期满或终止（须填写理由）",
        status_code=200,
    )
    async def registry_decision(
        self, principal: Principal, contract_id: int, data: RegistryDecisionInput
    ) -> RegistryDecisionView:
        return await service.decide_after_registry_change(principal, contract_id, data.decision.value, data.reason)

    @get(
        "/{contract_id:int}/lines",
        operation_id="listContractLines",
        guards=[ANY_ROLE],
        responses=errors(404),
        summary="联合体合同的成员分包明细（成员、服务类别、费用分成）",
    )
    async def lines(self, principal: Principal, contract_id: int) -> list[ContractLineView]:
        return [ContractLineView.of(line) for line in await service.contract_lines(principal, contract_id)]

    @post(
        "/{contract_id:int}/fee-payments",
        operation_id="payContractFee",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 404, 409, 422),
        summary="登记合同月度服务费支出（联合体合同按成员分成逐行入账；每月一次）",
    )
    async def pay_fee(self, principal: Principal, contract_id: int, data: FeePaymentInput) -> list[LedgerEntryView]:
        entries = await service.pay_contract_fee(principal, contract_id, data.month, data.amount)
        return [LedgerEntryView.of(e) for e in entries]

    @post(
        "/{contract_id:int}/franchise-invoices",
        operation_id="invoiceFranchise",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 404, 409, 422),
        summary="特许经营费按月开票并计入社区收入（每月一次）",
    )
    async def invoice_franchise(
        self, principal: Principal, contract_id: int, data: FranchiseInvoiceInput
    ) -> FranchiseInvoiceView:
        invoice = await service.invoice_franchise(principal, contract_id, data.month, data.revenue)
        return FranchiseInvoiceView.of(invoice)

    @post(
        "/{contract_id:int}/complaints",
        operation_id="fileContractComplaint",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 404, 422),
        summary="登记居民对合同服务的投诉（街道及以上）",
    )
    async def file_complaint(self, principal: Principal, contract_id: int, data: ComplaintInput) -> ComplaintView:
        return await service.file_complaint(principal, contract_id, data.received_on, data.text)

    @get(
        "/{contract_id:int}/complaints",
        operation_id="listContractComplaints",
        guards=[ANY_ROLE],
        responses=errors(404),
        summary="合同的投诉记录",
    )
    async def complaints(self, principal: Principal, contract_id: int, page: PageParams) -> Page[ComplaintView]:
        rows, total = await service.list_complaints(principal, contract_id, page.limit, page.offset)
        return Page.of(rows, total, page)


class BalanceController(Controller):
    path = "/api/v1/balance"
    tags = ["社区与市场"]

    @get(
        "/overview",
        operation_id="balanceOverview",
        guards=[requires(*OFFICIAL_ROLES, Role.auditor)],
        responses=errors(403),
        summary="全市或区县社区收支平衡总览（失衡、预警在前）",
    )
    async def overview(
        self,
        principal: Principal,
        period: Period,
        district_id: int | None = None,
        status_filter: Annotated[BalanceStatus | None, Parameter(query="status")] = None,
        limit: Annotated[int, Parameter(ge=1, le=5000)] = 2000,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> Response[BalanceOverview]:
        result = await service.balance_overview(
            principal,
            district_id=district_id,
            status=status_filter.value if status_filter else None,
            start=period.start,
            end=period.end,
            limit=limit,
            offset=offset,
        )
        return _overview_bodies.response(result, lambda: BalanceOverview.of(result, limit, offset), limit, offset)


class SubsidyController(Controller):
    path = "/api/v1/subsidies"
    tags = ["社区与市场"]

    @post(
        "/hangzhou-old-estate",
        operation_id="calculateHangzhouSubsidy",
        guards=[ANY_ROLE],
        summary="杭州老旧小区改造补助测算",
        status_code=200,
    )
    async def hangzhou(self, principal: Principal, data: HangzhouSubsidyInput) -> HangzhouSubsidyView:
        amount = service.hangzhou_subsidy(data.total_cost, data.area_m2, data.share)
        per_m2 = int(min(Decimal(data.total_cost) / data.area_m2, Decimal(HANGZHOU_COST_CAP_PER_M2)))
        return HangzhouSubsidyView(
            subsidy=amount,
            cost_per_m2_counted=per_m2,
            explanation=f"按每平方米 {format_yuan(per_m2)}（上限 ¥300.00）× {data.area_m2} 平方米 × 补助比例 {data.share}"
            f" 计算，补助 {format_yuan(amount)}",
        )

    @post(
        "/fuyang-award",
        operation_id="calculateFuyangAward",
        guards=[ANY_ROLE],
        summary="富阳区未来社区创建奖补测算",
        status_code=200,
    )
    async def fuyang(self, principal: Principal, data: FuyangAwardInput) -> FuyangAwardView:
        award = service.fuyang_award(
            levels_passed=list(data.levels_passed),
            target_level=data.target_level,
            spend_fen=data.spend,
            target_met=data.target_met,
        )
        pieces = [f"奖补上限 {format_yuan(award.cap)}，按实际投入 {format_yuan(award.award)}补助"]
        if award.street_own_share:
            pieces.append(f"超出上限的 {format_yuan(award.street_own_share)}由街道自行承担")
        if award.saving_reward:
            pieces.append(f"验收通过且投入低于上限，另奖励差额的一半 {format_yuan(award.saving_reward)}")
        pieces.append(f"现拨付 {format_yuan(award.paid_now)}，验收后拨付 {format_yuan(award.paid_after_acceptance)}")
        return FuyangAwardView(
            cap=award.cap,
            award=award.award,
            saving_reward=award.saving_reward,
            street_own_share=award.street_own_share,
            paid_now=award.paid_now,
            paid_after_acceptance=award.paid_after_acceptance,
            total=award.total,
            explanation="；".join(pieces),
        )


class FundController(Controller):
    path = "/api/v1/communities/{community_id:int}/fund"
    tags = ["社区基金"]

    @post(
        "/",
        operation_id="openCommunityFund",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 404, 409),
        summary="设立社区基金（每个社区一个）",
    )
    async def open_fund(self, principal: Principal, community_id: int, data: FundOpen) -> FundView:
        return FundView.of(await service.open_fund(principal, community_id, name=data.name, charter=data.charter))

    @get("/", operation_id="getCommunityFund", guards=[ANY_ROLE], responses=errors(404), summary="社区基金及余额")
    async def detail(self, principal: Principal, community_id: int) -> FundView:
        return FundView.of(await service.get_fund(principal, community_id))

    @get(
        "/movements",
        operation_id="listCommunityFundMovements",
        guards=[ANY_ROLE],
        responses=errors(404),
        summary="社区基金收支明细",
    )
    async def movements(self, principal: Principal, community_id: int, page: PageParams) -> Page[FundMovementView]:
        rows, total = await service.list_fund_movements(principal, community_id, page.limit, page.offset)
        return Page.of(rows, total, page, FundMovementView.of)

    @post(
        "/contributions",
        operation_id="contributeToCommunityFund",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 404, 409, 422),
        summary="登记社区基金捐赠或补助收入（同时计入社区收支）",
    )
    async def contribute(self, principal: Principal, community_id: int, data: FundContribution) -> FundMovementView:
        movement = await service.contribute_to_fund(
            principal,
            community_id,
            kind=data.kind.value,
            amount=data.amount,
            counterparty=data.counterparty,
            reference=data.reference,
            note=data.note,
        )
        return FundMovementView.of(movement)

    @post(
        "/grants",
        operation_id="grantFromCommunityFund",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 404, 409, 422),
        summary="社区基金资助居民自治或公益活动（须写明用途与票据，余额不足不能支出）",
    )
    async def grant(self, principal: Principal, community_id: int, data: FundGrant) -> FundMovementView:
        movement = await service.grant_from_fund(
            principal,
            community_id,
            amount=data.amount,
            purpose=data.purpose,
            counterparty=data.counterparty,
            reference=data.reference,
        )
        return FundMovementView.of(movement)


class AllianceCommunityController(Controller):
    path = "/api/v1/alliances/{alliance_id:int}/communities"
    tags = ["产业联盟"]

    @get(
        "/",
        operation_id="listAllianceCommunities",
        guards=[requires(*OFFICIAL_ROLES, Role.auditor, Role.operator)],
        responses=errors(403, 404),
        summary="产业联盟联合体合同服务的社区及其收支（近 12 个完整月）",
    )
    async def index(self, principal: Principal, alliance_id: int) -> list[AllianceCommunity]:
        return await service.alliance_communities(principal, alliance_id)


PLATFORM_READERS = (*OFFICIAL_ROLES, Role.auditor, Role.owner, Role.operator)


class PlatformController(Controller):
    path = "/api/v1/platforms"
    tags = ["国企平台统一运营"]

    @post(
        "/",
        operation_id="designatePlatform",
        guards=[requires(Role.city)],
        responses=errors(403, 409, 422),
        summary="认定市级或区级国企平台（须填写理由）",
    )
    async def designate(self, principal: Principal, data: PlatformDesignate) -> PlatformView:
        return PlatformView.of(await service.designate_platform(principal, as_fields(data)))

    @get(
        "/",
        operation_id="listPlatforms",
        guards=[requires(*PLATFORM_READERS)],
        responses=errors(403),
        summary="国企平台列表",
    )
    async def index(self, principal: Principal, page: PageParams) -> Page[PlatformView]:
        rows, total = await service.list_platforms(principal, page.limit, page.offset)
        return Page.of(rows, total, page, PlatformView.of)

    @get(
        "/{platform_id:int}",
        operation_id="getPlatform",
        guards=[requires(*PLATFORM_READERS)],
        responses=errors(403, 404),
        summary="国企平台：统一运营的社区、总运营合同",
    )
    async def detail(self, principal: Principal, platform_id: int) -> PlatformDetail:
        platform, assignments, master, subs = await service.platform_detail(principal, platform_id)
        return PlatformDetail(
            platform=PlatformView.of(platform),
            communities=[AssignmentView.of(a) for a in assignments],
            master_contract=MasterContractView.of(master) if master else None,
            sub_contracts=subs,
        )

    @post(
        "/{platform_id:int}/communities",
        operation_id="assignCommunityToPlatform",
        guards=[requires(Role.city)],
        responses=errors(403, 404, 409, 422),
        summary="将旧改类社区交由国企平台统一运营（须填写起始日期与理由）",
    )
    async def assign(self, principal: Principal, platform_id: int, data: AssignmentInput) -> AssignmentView:
        return AssignmentView.of(await service.assign_to_platform(principal, platform_id, as_fields(data)))

    @post(
        "/{platform_id:int}/master-contract",
        operation_id="signPlatformMasterContract",
        guards=[requires(Role.city)],
        responses=errors(403, 404, 409, 422),
        summary="签订国企平台总运营合同（覆盖其统一运营的社区）",
    )
    async def master_contract(
        self, principal: Principal, platform_id: int, data: MasterContractInput
    ) -> MasterContractView:
        return MasterContractView.of(await service.sign_master_contract(principal, platform_id, as_fields(data)))

    @get(
        "/{platform_id:int}/portfolio",
        operation_id="getPlatformPortfolio",
        guards=[requires(*PLATFORM_READERS)],
        responses=errors(403, 404),
        summary="国企平台收支组合：各社区收支、合计与以盈补亏",
    )
    async def portfolio(self, principal: Principal, platform_id: int, period: Period) -> PortfolioView:
        return await service.platform_portfolio(principal, platform_id, period.start, period.end)


ROUTES = [
    CommunityController,
    NeedController,
    AllocationController,
    ContractController,
    BalanceController,
    SubsidyController,
    FundController,
    PlatformController,
    AllianceCommunityController,
]
