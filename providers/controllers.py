"""HTTP for the registry: officials' and operators' endpoints, and the public directory."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, MediaType, Response, get, patch, post
from litestar.params import Parameter

from core.accounts.principal import OFFICIAL_ROLES, Principal
from core.accounts.tables import Role
from core.auth import ANY_ROLE, requires
from core.http.openapi import errors
from core.pagination import PageParams
from core.schemas import Page, as_fields
from providers import export, service
from providers.schemas import (
    AllianceCreate,
    AllianceMemberAdd,
    AllianceMemberLeave,
    AllianceMemberView,
    AlliancePage,
    AllianceView,
    ApplicationCreate,
    ApplicationUpdate,
    ApplicationView,
    BatchCreate,
    BatchEntriesAdd,
    BatchView,
    CategoryCreate,
    CategoryView,
    CertificateCreate,
    CertificateView,
    Decision,
    DirectorySort,
    DirectoryStatus,
    EvaluationCreate,
    EvaluationView,
    ListingView,
    NoticeOpen,
    ObjectionCreate,
    ObjectionDecision,
    ObjectionView,
    OperatorCreate,
    OperatorRegistration,
    OperatorUpdate,
    OperatorView,
    ProposalView,
    PublicObjectionCreate,
    ReasonInput,
    StatusChange,
)
from providers.tables import AllianceStatus, ApplicationState, ProposalState, RegistryStatus

SearchText = Annotated[str | None, Parameter(max_length=100)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class CategoryController(Controller):
    path = "/api/v1/categories"
    tags = ["名录"]

    @post(
        "/",
        operation_id="createCategory",
        guards=[requires(Role.city)],
        responses=errors(403),
        summary="新增服务类别（市建委）",
    )
    async def create(self, principal: Principal, data: CategoryCreate) -> CategoryView:
        return await service.create_category(principal, data.code, data.name)


class OperatorController(Controller):
    path = "/api/v1/operators"
    tags = ["名录"]

    @get("/", operation_id="listOperators", guards=[ANY_ROLE], summary="运营商档案（官员可查全部，运营商仅本企业）")
    async def list_operators(
        self, principal: Principal, page: PageParams, q: SearchText = None, status: RegistryStatus | None = None
    ) -> Page[OperatorView]:
        rows, total = await service.list_operators(
            principal, q=q, status=status.value if status else None, limit=page.limit, offset=page.offset
        )
        return Page.of(rows, total, page, OperatorView.of)

    @post(
        "/",
        operation_id="createOperator",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403),
        summary="登记运营商（区县、街道或市建委）",
    )
    async def create(self, principal: Principal, data: OperatorCreate) -> OperatorView:
        return OperatorView.of(await service.create_operator(principal, as_fields(data)))

    @get("/{operator_id:int}", operation_id="getOperator", guards=[ANY_ROLE], summary="运营商档案")
    async def get_operator(self, principal: Principal, operator_id: int) -> OperatorView:
        return OperatorView.of(await service.get_operator_for(principal, operator_id))

    @patch(
        "/{operator_id:int}",
        operation_id="updateOperator",
        guards=[requires(Role.operator, Role.city)],
        responses=errors(403),
        summary="修改运营商档案",
    )
    async def update(self, principal: Principal, operator_id: int, data: OperatorUpdate) -> OperatorView:
        changes = as_fields(data, drop_none=True)
        return OperatorView.of(await service.update_operator(principal, operator_id, changes))

    @post(
        "/{operator_id:int}/certificates",
        operation_id="addCertificate",
        guards=[requires(Role.operator, Role.city)],
        responses=errors(403),
        summary="新增资质证书",
    )
    async def add_certificate(self, principal: Principal, operator_id: int, data: CertificateCreate) -> CertificateView:
        return await service.add_certificate(principal, operator_id, as_fields(data))

    @get(
        "/{operator_id:int}/evaluations", operation_id="listEvaluations", guards=[ANY_ROLE], summary="运营商的评价记录"
    )
    async def evaluations(self, principal: Principal, operator_id: int, page: PageParams) -> Page[EvaluationView]:
        rows, total = await service.list_evaluations(principal, operator_id, page.limit, page.offset)
        return Page.of(rows, total, page)

    @post(
        "/{operator_id:int}/status",
        operation_id="changeOperatorStatus",
        guards=[requires(Role.city)],
        responses=errors(403, 409),
        summary="警示、暂停、移出或恢复（市建委，须填写理由）",
        status_code=200,
    )
    async def change_status(self, principal: Principal, operator_id: int, data: StatusChange) -> OperatorView:
        return OperatorView.of(await service.change_status(principal, operator_id, data.status, data.reason))


class ApplicationController(Controller):
    path = "/api/v1/applications"
    tags = ["名录"]

    @get("/", operation_id="listApplications", guards=[ANY_ROLE], summary="入库申请（按权限范围）")
    async def list_applications(
        self,
        principal: Principal,
        page: PageParams,
        operator_id: int | None = None,
        application_state: Annotated[ApplicationState | None, Parameter(query="state")] = None,
    ) -> Page[ApplicationView]:
        state = application_state.value if application_state else None
        rows, total = await service.list_applications(
            principal, state=state, operator_id=operator_id, limit=page.limit, offset=page.offset
        )
        return Page.of(rows, total, page, ApplicationView.of)

    @post(
        "/",
        operation_id="createApplication",
        guards=[requires(Role.operator, Role.street, Role.district)],
        responses=errors(403, 404),
        summary="新建入库申请（自荐或推荐），为草稿",
    )
    async def create(self, principal: Principal, data: ApplicationCreate) -> ApplicationView:
        return ApplicationView.of(
            await service.create_application(
                principal,
                operator_id=data.operator_id,
                channel=data.channel,
                categories=data.categories,
                statement=data.statement,
                attachments=data.attachments,
            )
        )

    @get("/{application_id:int}", operation_id="getApplication", guards=[ANY_ROLE], summary="申请详情与办理记录")
    async def get_application(self, principal: Principal, application_id: int) -> ApplicationView:
        return ApplicationView.of(await service.get_application_for(principal, application_id))

    @patch(
        "/{application_id:int}",
        operation_id="updateApplication",
        guards=[requires(Role.operator, Role.street, Role.district)],
        responses=errors(403, 409),
        summary="修改草稿或退回的申请",
    )
    async def update(self, principal: Principal, application_id: int, data: ApplicationUpdate) -> ApplicationView:
        changes = as_fields(data, drop_none=True)
        return ApplicationView.of(await service.update_application(principal, application_id, changes))

    @post(
        "/{application_id:int}/submit",
        operation_id="submitApplication",
        guards=[requires(Role.operator, Role.street, Role.district)],
        responses=errors(403, 409),
        summary="提交申请",
        status_code=200,
    )
    async def submit(self, principal: Principal, application_id: int) -> ApplicationView:
        return ApplicationView.of(await service.submit_application(principal, application_id))

    @post(
        "/{application_id:int}/start-review",
        operation_id="startReview",
        guards=[requires(Role.city)],
        responses=errors(403, 409),
        summary="开始审核（市建委）",
        status_code=200,
    )
    async def start_review(self, principal: Principal, application_id: int) -> ApplicationView:
        return ApplicationView.of(await service.start_review(principal, application_id))

    @post(
        "/{application_id:int}/decision",
        operation_id="decideApplication",
        guards=[requires(Role.city)],
        responses=errors(403),
        summary="审核决定：通过、不通过或退回（市建委，须填写理由）",
        status_code=200,
    )
    async def decide(self, principal: Principal, application_id: int, data: Decision) -> ApplicationView:
        return ApplicationView.of(
            await service.decide_application(principal, application_id, data.decision.value, data.reason)
        )

    @post(
        "/{application_id:int}/renewal",
        operation_id="renewApplication",
        guards=[requires(Role.operator, Role.street, Role.district)],
        responses=errors(403, 409, 422),
        summary="据已通过的申请新建续期申请（沿用原申请内容）",
    )
    async def renew(self, principal: Principal, application_id: int) -> ApplicationView:
        return ApplicationView.of(await service.create_renewal(principal, application_id))


class BatchController(Controller):
    path = "/api/v1/batches"
    tags = ["名录"]

    @get("/", operation_id="listBatches", guards=[ANY_ROLE], summary="批次（编制中的仅市建委与审计人员可见）")
    async def list_batches(self, principal: Principal, page: PageParams) -> Page[BatchView]:
        rows, total = await service.list_batches(public=False, limit=page.limit, offset=page.offset, viewer=principal)
        return Page.of(rows, total, page, BatchView.of)

    @post(
        "/",
        operation_id="createBatch",
        guards=[requires(Role.city)],
        responses=errors(403),
        summary="新建批次（市建委）",
    )
    async def create(self, principal: Principal, data: BatchCreate) -> BatchView:
        return BatchView.of(await service.create_batch(principal, data.title))

    @get("/{batch_id:int}", operation_id="getBatch", guards=[ANY_ROLE], summary="批次详情")
    async def get_batch(self, principal: Principal, batch_id: int) -> BatchView:
        return BatchView.of(await service.get_batch(batch_id, viewer=principal))

    @post(
        "/{batch_id:int}/entries",
        operation_id="addBatchEntries",
        guards=[requires(Role.city)],
        responses=errors(403, 409),
        summary="将已通过的申请编入批次",
        status_code=200,
    )
    async def add_entries(self, principal: Principal, batch_id: int, data: BatchEntriesAdd) -> BatchView:
        return BatchView.of(await service.add_entries(principal, batch_id, data.application_ids))

    @post(
        "/{batch_id:int}/notice",
        operation_id="openNotice",
        guards=[requires(Role.city)],
        responses=errors(403, 409),
        summary="开始公示（默认5个工作日异议期）",
        status_code=200,
    )
    async def open_notice(self, principal: Principal, batch_id: int, data: NoticeOpen) -> BatchView:
        return BatchView.of(await service.open_notice(principal, batch_id, data.working_days))

    @post(
        "/{batch_id:int}/objections",
        operation_id="fileObjection",
        guards=[ANY_ROLE],
        responses=errors(409),
        summary="公示期内提出异议（任何登录用户）",
    )
    async def file_objection(self, principal: Principal, batch_id: int, data: ObjectionCreate) -> ObjectionView:
        objection = await service.file_objection(principal, batch_id, data.application_id, data.text)
        return ObjectionView.for_viewer(objection, reviewer=principal.has_role(Role.city))

    @get(
        "/{batch_id:int}/objections",
        operation_id="listObjections",
        guards=[requires(Role.city)],
        responses=errors(403),
        summary="批次的异议（市建委）",
    )
    async def list_objections(self, principal: Principal, batch_id: int) -> list[ObjectionView]:
        # City reviewers decide objections: they see the objector's phone in full.
        return [ObjectionView.for_viewer(r, reviewer=True) for r in await service.list_objections(principal, batch_id)]

    @post(
        "/{batch_id:int}/publish",
        operation_id="publishBatch",
        guards=[requires(Role.city)],
        responses=errors(403, 409),
        summary="发布批次，生成名录（市建委）",
        status_code=200,
    )
    async def publish(self, principal: Principal, batch_id: int) -> BatchView:
        return BatchView.of(await service.publish_batch(principal, batch_id))


class ObjectionController(Controller):
    path = "/api/v1/objections"
    tags = ["名录"]

    @post(
        "/{objection_id:int}/decision",
        operation_id="decideObjection",
        guards=[requires(Role.city)],
        responses=errors(403, 409),
        summary="处理异议：成立则移出批次（市建委，须填写理由）",
        status_code=200,
    )
    async def decide(self, principal: Principal, objection_id: int, data: ObjectionDecision) -> ObjectionView:
        objection = await service.decide_objection(principal, objection_id, data.upheld, data.reason)
        return ObjectionView.for_viewer(objection, reviewer=True)


class EvaluationController(Controller):
    path = "/api/v1/evaluations"
    tags = ["名录"]

    @post(
        "/",
        operation_id="createEvaluation",
        guards=[requires(Role.city, Role.street, Role.district)],
        responses=errors(403, 404),
        summary="评价运营商（市级，或评价期间与其有服务合同的街道、区县；须填写理由）",
    )
    async def create(self, principal: Principal, data: EvaluationCreate) -> EvaluationView:
        return await service.add_evaluation(principal, as_fields(data))


class RegistryController(Controller):
    path = "/api/v1/registry"
    tags = ["名录"]

    @get(
        "/proposals",
        operation_id="listProposals",
        guards=[requires(Role.city)],
        responses=errors(403),
        summary="规则提出的警示、暂停建议（市建委）",
    )
    async def proposals(
        self,
        principal: Principal,
        page: PageParams,
        proposal_state: Annotated[ProposalState | None, Parameter(query="state")] = None,
    ) -> Page[ProposalView]:
        rows, total = await service.list_proposals(
            principal, proposal_state.value if proposal_state else None, page.limit, page.offset
        )
        return Page.of(rows, total, page)

    @post(
        "/proposals/run",
        operation_id="runRegistryRules",
        guards=[requires(Role.city)],
        responses=errors(403),
        summary="按评价规则生成建议（市建委）",
        status_code=200,
    )
    async def run_rules(self, principal: Principal) -> dict[str, int]:
        return {"created": len(await service.run_registry_rules_for(principal))}

    @post(
        "/proposals/{proposal_id:int}/confirm",
        operation_id="confirmProposal",
        guards=[requires(Role.city)],
        responses=errors(403, 409),
        summary="确认建议并变更状态",
        status_code=200,
    )
    async def confirm(self, principal: Principal, proposal_id: int, data: ReasonInput) -> ProposalView:
        return await service.decide_proposal(principal, proposal_id, True, data.reason)

    @post(
        "/proposals/{proposal_id:int}/dismiss",
        operation_id="dismissProposal",
        guards=[requires(Role.city)],
        responses=errors(403, 409),
        summary="不采纳建议",
        status_code=200,
    )
    async def dismiss(self, principal: Principal, proposal_id: int, data: ReasonInput) -> ProposalView:
        return await service.decide_proposal(principal, proposal_id, False, data.reason)


class DirectoryEntry(msgspec.Struct, kw_only=True):
    id: int
    name: str
    credit_code: str
    registry_status: RegistryStatus
    capacity: int
    categories: list[str]
    district_ids: list[int]
    listed_since: str
    valid_until: str


class PublicController(Controller):
    """Open without login: the registry as the public sees it."""

    path = "/api/v1/public"
    tags = ["公开名录"]
    opt = {"exclude_from_auth": True}

    @get("/operators", operation_id="publicDirectory", summary="当前在库的优秀服务商（公开）")
    async def directory(
        self,
        page: PageParams,
        category: str | None = None,
        district_id: int | None = None,
        status: DirectoryStatus | None = None,
        q: SearchText = None,
        sort: DirectorySort = DirectorySort.name,
    ) -> Response[Page[DirectoryEntry]]:
        body = await service.directory_page(
            category=category,
            district_id=district_id,
            status=status.value if status else None,
            q=q,
            sort=sort.value,
            limit=page.limit,
            offset=page.offset,
        )
        # The page arrives encoded by PostgreSQL; the annotation documents its shape for OpenAPI.
        return Response(content=body, media_type=MediaType.JSON)  # type: ignore[arg-type]

    async def _export_table(self, category, district_id, status, q, sort) -> list[list]:
        rows = await service.directory_export_rows(
            category=category, district_id=district_id, status=status.value if status else None, q=q, sort=sort.value
        )
        category_names, district_names = await service.name_lookups()
        return export.directory_table(rows, category_names, district_names)

    @get("/operators.csv", operation_id="publicDirectoryCsv", summary="名录导出 CSV", media_type="text/csv")
    async def directory_csv(
        self,
        category: str | None = None,
        district_id: int | None = None,
        status: DirectoryStatus | None = None,
        q: SearchText = None,
        sort: DirectorySort = DirectorySort.name,
    ) -> Response[bytes]:
        table = await self._export_table(category, district_id, status, q, sort)
        return Response(
            content=export.to_csv(table),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": "attachment; filename*=UTF-8''directory.csv"},
        )

    @get("/operators.xlsx", operation_id="publicDirectoryXlsx", summary="名录导出 Excel", media_type=XLSX)
    async def directory_xlsx(
        self,
        category: str | None = None,
        district_id: int | None = None,
        status: DirectoryStatus | None = None,
        q: SearchText = None,
        sort: DirectorySort = DirectorySort.name,
    ) -> Response[bytes]:
        table = await self._export_table(category, district_id, status, q, sort)
        return Response(
            content=export.to_xlsx(table),
            media_type=XLSX,
            headers={"Content-Disposition": "attachment; filename*=UTF-8''directory.xlsx"},
        )

    @get(
        "/operators/{operator_id:int}/listings",
        operation_id="publicOperatorListings",
        summary="运营商的入库记录（公开）",
    )
    async def listings(self, operator_id: int) -> list[ListingView]:
        return await service.public_operator_listings(operator_id)

    @get("/batches", operation_id="publicBatches", summary="公示中和已发布的批次（公开）")
    async def batches(self, page: PageParams) -> Page[BatchView]:
        rows, total = await service.list_batches(public=True, limit=page.limit, offset=page.offset)
        return Page.of(rows, total, page, BatchView.of)

    @get("/batches/{batch_id:int}", operation_id="publicBatch", summary="公示中或已发布批次的名单（公开）")
    async def batch(self, batch_id: int) -> BatchView:
        return BatchView.of(await service.get_batch(batch_id, public=True))

    @post(
        "/batches/{batch_id:int}/objections",
        operation_id="filePublicObjection",
        responses=errors(409),
        summary="公示期内对名单提出异议（无需登录，须留姓名与手机号）",
    )
    async def file_objection(self, batch_id: int, data: PublicObjectionCreate) -> ObjectionView:
        objection = await service.file_public_objection(
            batch_id, data.application_id, name=data.name, phone=data.phone, email=data.email, text=data.text
        )
        return ObjectionView.for_viewer(objection, reviewer=False)

    @get("/categories", operation_id="listCategories", summary="服务类别字典（公开）")
    async def categories(self) -> list[CategoryView]:
        return await service.list_categories()

    @post(
        "/operator-registrations",
        operation_id="registerOperator",
        responses=errors(409),
        summary="运营商注册（企业档案与首个账号），之后可自荐申请入库",
    )
    async def register(self, data: OperatorRegistration) -> OperatorView:
        fields = {k: v for k, v in as_fields(data).items() if k not in ("username", "password")}
        return OperatorView.of(await service.register_operator(fields, data.username, data.password))


class AllianceController(Controller):
    path = "/api/v1/alliances"
    tags = ["产业联盟"]

    @post(
        "/",
        operation_id="proposeAlliance",
        guards=[requires(Role.operator, Role.city)],
        responses=errors(403, 404, 409, 422),
        summary="申报产业联盟（牵头运营商或市建委；成员须在名录内）",
    )
    async def propose(self, principal: Principal, data: AllianceCreate) -> AllianceView:
        return AllianceView.of(await service.propose_alliance(principal, as_fields(data)))

    @get("/", operation_id="listAlliances", guards=[ANY_ROLE], summary="产业联盟列表")
    async def index(
        self, page: PageParams, status_filter: Annotated[AllianceStatus | None, Parameter(query="status")] = None
    ) -> Page[AllianceView]:
        rows, total = await service.list_alliances(
            status_filter.value if status_filter else None, page.limit, page.offset
        )
        return Page.of(rows, total, page, AllianceView.of)

    @get(
        "/{alliance_id:int}",
        operation_id="getAlliance",
        guards=[ANY_ROLE],
        responses=errors(404),
        summary="产业联盟：成员、名录状态与待处理提示",
    )
    async def detail(self, alliance_id: int) -> AlliancePage:
        alliance, members, flags = await service.alliance_page(alliance_id)
        former = await service.former_alliance_members(alliance_id)
        return AlliancePage(
            alliance=AllianceView.of(alliance),
            members=[AllianceMemberView.of(m, service.member_in_good_standing(m)) for m in members],
            flags=flags,
            former_members=[AllianceMemberView.of(m, False) for m in former],
        )

    @post(
        "/{alliance_id:int}/approve",
        operation_id="approveAlliance",
        guards=[requires(Role.city)],
        responses=errors(403, 404, 409, 422),
        summary="批准产业联盟（须填写理由）",
        status_code=200,
    )
    async def approve(self, principal: Principal, alliance_id: int, data: ReasonInput) -> AllianceView:
        return AllianceView.of(await service.approve_alliance(principal, alliance_id, data.reason))

    @post(
        "/{alliance_id:int}/members",
        operation_id="addAllianceMember",
        guards=[requires(Role.city)],
        responses=errors(403, 404, 409, 422),
        summary="增加联盟成员（市建委；须在名录内入库该类别，须填写理由）",
    )
    async def add_member(self, principal: Principal, alliance_id: int, data: AllianceMemberAdd) -> AllianceMemberView:
        row = await service.add_alliance_member(principal, alliance_id, as_fields(data))
        return AllianceMemberView.of(row, service.member_in_good_standing(row))

    @post(
        "/{alliance_id:int}/members/{member_id:int}/leave",
        operation_id="recordAllianceMemberLeaving",
        guards=[requires(Role.city)],
        responses=errors(403, 404, 409, 422),
        summary="登记联盟成员退出（市建委；须填写退出日期和原因）",
        status_code=200,
    )
    async def leave(
        self, principal: Principal, alliance_id: int, member_id: int, data: AllianceMemberLeave
    ) -> AllianceMemberView:
        row = await service.record_member_leaving(principal, alliance_id, member_id, data.left_on, data.reason)
        return AllianceMemberView.of(row, service.member_in_good_standing(row))


ROUTES = [
    CategoryController,
    OperatorController,
    ApplicationController,
    BatchController,
    ObjectionController,
    EvaluationController,
    RegistryController,
    PublicController,
    AllianceController,
]
