from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, delete, get, post
from litestar.exceptions import NotAuthorizedException
from litestar.params import Parameter

from core.accounts import service as accounts
from core.accounts.principal import OFFICIAL_ROLES, Principal
from core.accounts.tables import Role
from core.auth import requires
from core.http.openapi import errors
from core.pagination import PageParams
from core.schemas import Page, as_fields
from core.settings import get_settings
from residents import service
from residents.schemas import (
    AcceptanceCreate,
    AcceptanceView,
    ActivityCreate,
    ActivityView,
    Balances,
    BallotCast,
    BallotReceipt,
    CodeLogin,
    CodeRequest,
    CodeSent,
    CommunityPoints,
    DecisionCreate,
    HouseholdConfirm,
    HouseholdView,
    PollCreate,
    PollResult,
    PollRow,
    PollView,
    ReceiptCheck,
    RedemptionView,
    RegisterImport,
    RegisterImported,
    ResidentExport,
    ResidentRow,
    ResidentView,
    ServiceCreate,
    ServiceView,
    SignedIn,
    SignUp,
    SignupConfirm,
    SignupView,
    Statement,
    SurveyAnswerCreate,
    SurveyAnswerView,
    SurveyResult,
    SurveyUploadCreate,
    SurveyUploadView,
    SurveyView,
    TransferCreate,
    TransferDone,
    WithdrawalConfirm,
    WithdrawalCreate,
    WithdrawalView,
)
from residents.tables import PollState, RedemptionState, SurveyState

OFFICIALS = requires(*OFFICIAL_ROLES, Role.auditor)
STREET = requires(Role.street)
RESIDENT = requires(Role.resident)
POLL_READERS = requires(*OFFICIAL_ROLES, Role.auditor, Role.resident)
OPERATOR = requires(Role.operator)
SERVICE_READERS = requires(*OFFICIAL_ROLES, Role.auditor, Role.operator, Role.resident)
REDEMPTION_READERS = requires(Role.operator, Role.resident)
SURVEY_READERS = requires(*OFFICIAL_ROLES, Role.auditor, Role.surveyor, Role.resident)
SURVEY_AGGREGATES = requires(*OFFICIAL_ROLES, Role.auditor, Role.surveyor)
SURVEYOR = requires(Role.surveyor)
ACCEPTORS = requires(*OFFICIAL_ROLES)
Receipt = Annotated[str, Parameter(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="投票回执码")]


def _signed_in(request: Request, resident: ResidentRow) -> SignedIn:
    token = request.app.state.jwt_auth.create_token(identifier=str(resident.user_id))
    return SignedIn(
        access_token=token,
        expires_in=get_settings().token_minutes * 60,
        resident=service.resident_view(resident, unmasked=True),
    )


def _client(request: Request) -> str:
    return (request.client.host if request.client else "unknown")[:64]


def _poll_view(poll: PollRow, options: list, mine: int | None = None) -> PollView:
    return PollView(
        id=poll.id,
        community_id=poll.community_id,
        community_name=poll.community_name,
        need_id=poll.need_id,
        title=poll.title,
        opens_at=poll.opens_at,
        closes_at=poll.closes_at,
        quorum=poll.quorum,
        state=poll.state,
        voting="单选（每户一票）",
        options=options,
        result=poll.result if poll.state == PollState.closed else None,
        my_option_id=mine,
    )


class ResidentAuthController(Controller):
    path = "/api/v1/public/residents"
    tags = ["居民"]

    @post(
        "/codes", operation_id="sendResidentCode", status_code=202, summary="向手机号发送一次性验证码（居民注册或登录）"
    )
    async def send_code(self, data: CodeRequest, request: Request) -> CodeSent:
        expires_in = await service.send_code(data.phone, _client(request))
        return CodeSent(phone=data.phone, expires_in=expires_in)

    @post(
        "/sign-up",
        operation_id="signUpResident",
        status_code=201,
        responses=errors(409),
        summary="居民凭验证码注册（手机号、姓名、社区、楼栋-单元-室），返回访问令牌",
    )
    async def sign_up(self, data: SignUp, request: Request) -> SignedIn:
        resident = await service.sign_up(
            phone=data.phone,
            code=data.code,
            name=data.name,
            community_id=data.community_id,
            building=data.building,
            unit=data.unit,
            room=data.room,
        )
        return _signed_in(request, resident)

    @post(
        "/login",
        operation_id="logInResident",
        status_code=200,
        responses=errors(404),
        summary="居民凭手机号和验证码登录，返回访问令牌",
    )
    async def log_in(self, data: CodeLogin, request: Request) -> SignedIn:
        return _signed_in(request, await service.log_in(data.phone, data.code))


class ResidentController(Controller):
    path = "/api/v1/residents"
    tags = ["居民"]

    @get(
        "/",
        operation_id="listResidents",
        guards=[OFFICIALS],
        responses=errors(403),
        summary="管辖范围内的居民（手机号仅对所属街道完整显示）",
    )
    async def list_residents(
        self, principal: Principal, page: PageParams, community_id: int | None = None
    ) -> Page[ResidentView]:
        rows, total = await service.list_residents(
            principal, community_id=community_id, limit=page.limit, offset=page.offset
        )
        return Page.of(rows, total, page)

    @get("/me", operation_id="getResidentMe", guards=[RESIDENT], responses=errors(403, 404), summary="本人的居民档案")
    async def me(self, principal: Principal) -> ResidentView:
        return service.resident_view(await service.me(principal), unmasked=True)

    @get(
        "/me/export",
        operation_id="exportResidentData",
        guards=[RESIDENT],
        responses=errors(403, 404),
        summary="导出本人全部数据（JSON）",
    )
    async def export(self, principal: Principal) -> ResidentExport:
        return await service.export(principal)

    @delete(
        "/me",
        operation_id="deleteResidentAccount",
        guards=[RESIDENT],
        responses=errors(403, 404),
        summary="注销本人居民账户（已投选票匿名保留）",
    )
    async def delete_me(self, principal: Principal) -> None:
        await service.delete_account(principal)


class HouseholdController(Controller):
    path = "/api/v1/households"
    tags = ["居民"]

    @get(
        "/",
        operation_id="listHouseholds",
        guards=[OFFICIALS],
        responses=errors(403),
        summary="管辖范围内的住户及核实状态",
    )
    async def list_households(
        self, principal: Principal, page: PageParams, community_id: int | None = None, confirmed: bool | None = None
    ) -> Page[HouseholdView]:
        rows, total = await service.list_households(
            principal, community_id=community_id, confirmed=confirmed, limit=page.limit, offset=page.offset
        )
        return Page.of(
            rows,
            total,
            page,
            HouseholdView.of,
        )

    @post(
        "/{household_id:int}/confirm",
        operation_id="confirmHousehold",
        guards=[STREET],
        status_code=200,
        responses=errors(403),
        summary="街道按住户名册核实住户",
    )
    async def confirm(self, principal: Principal, household_id: int, data: HouseholdConfirm) -> HouseholdView:
        r = await service.confirm_household(principal, household_id, data.note)
        return HouseholdView.of(r)

    @post(
        "/register/{community_id:int}",
        operation_id="importHouseholdRegister",
        guards=[STREET],
        status_code=200,
        responses=errors(403, 404),
        summary="街道导入社区住户名册（CSV 或 Excel：楼栋,单元,室），有错则整份不导入并逐行列出",
    )
    async def import_register(self, principal: Principal, community_id: int, data: RegisterImport) -> RegisterImported:
        return await service.import_register(principal, community_id, csv_text=data.csv, xlsx_base64=data.xlsx_base64)


class PollController(Controller):
    path = "/api/v1/polls"
    tags = ["居民投票"]

    @post(
        "/",
        operation_id="openPoll",
        guards=[STREET],
        status_code=201,
        responses=errors(403, 409),
        summary="街道就社区需求发起居民投票（单选，每户一票；选项来自推荐名单或服务套餐）",
    )
    async def open_poll(self, principal: Principal, data: PollCreate) -> PollView:
        poll_id = await service.create_poll(
            principal,
            need_id=data.need_id,
            title=data.title,
            opens_at=data.opens_at,
            closes_at=data.closes_at,
            quorum=data.quorum,
            operator_ids=data.operator_ids,
            packages=[{"name": p.name, "description": p.description} for p in data.packages],
        )
        poll, options, _ = await service.get_poll(principal, poll_id)
        return _poll_view(poll, options)

    @get(
        "/",
        operation_id="listPolls",
        guards=[POLL_READERS],
        responses=errors(403),
        summary="可见的居民投票（官员：管辖范围；居民：本社区）",
    )
    async def list_polls(
        self,
        principal: Principal,
        page: PageParams,
        state_filter: Annotated[PollState | None, Parameter(query="state")] = None,
    ) -> Page[PollView]:
        rows, options, total = await service.list_polls(
            principal, state=state_filter.value if state_filter else None, limit=page.limit, offset=page.offset
        )
        return Page.of(rows, total, page, lambda p: _poll_view(p, options.get(p.id, [])))

    @get(
        "/{poll_id:int}",
        operation_id="getPoll",
        guards=[POLL_READERS],
        responses=errors(403),
        summary="投票详情（居民可见本户所投选项）",
    )
    async def get_poll(self, principal: Principal, poll_id: int) -> PollView:
        poll, options, mine = await service.get_poll(principal, poll_id)
        return _poll_view(poll, options, mine)

    @post(
        "/{poll_id:int}/ballots",
        operation_id="castBallot",
        guards=[RESIDENT],
        status_code=200,
        responses=errors(403, 409),
        summary="居民投票或改票（每户一票，截止前可改），返回回执码",
    )
    async def cast(self, principal: Principal, poll_id: int, data: BallotCast) -> BallotReceipt:
        return await service.cast_ballot(principal, poll_id, data.option_id)

    @post(
        "/{poll_id:int}/decision",
        operation_id="decidePoll",
        guards=[STREET],
        status_code=200,
        responses=errors(403, 409),
        summary="街道登记对投票结果的采纳决定（不采纳须写明理由）",
    )
    async def decide(self, principal: Principal, poll_id: int, data: DecisionCreate) -> PollResult:
        return await service.decide(
            principal, poll_id, follows=data.follows, option_id=data.option_id, reason=data.reason
        )


class PublicPollController(Controller):
    path = "/api/v1/public"
    tags = ["居民投票"]

    @get(
        "/polls/{poll_id:int}/result",
        operation_id="getPollResult",
        responses=errors(409),
        summary="投票结果公开（各选项票数、参与率、是否达到法定参与率、采纳决定）",
    )
    async def result(self, poll_id: int) -> PollResult:
        return await service.result(poll_id)

    @get(
        "/poll-receipts/{receipt:str}",
        responses=errors(404, 422),
        operation_id="checkBallotReceipt",
        summary="凭回执码查询选票是否计入（本人登录时另显示所投选项）",
    )
    async def receipt(self, receipt: Receipt, request: Request) -> ReceiptCheck:
        return await service.check_receipt(receipt, await _optional_principal(request))


async def _optional_principal(request: Request) -> Principal | None:
    """The caller of a public route who sent their token anyway (the login middleware skips public routes)."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    jwt_auth = request.app.state.jwt_auth
    try:
        token = jwt_auth.token_cls.decode(header[7:].strip(), jwt_auth.token_secret, jwt_auth.algorithm)
        return await accounts.load_principal(int(token.sub))
    except (NotAuthorizedException, ValueError):
        return None


class PointsController(Controller):
    path = "/api/v1/points"
    tags = ["积分换服务"]

    @get(
        "/me",
        operation_id="getMyPoints",
        guards=[RESIDENT],
        responses=errors(403, 404),
        summary="本人积分余额与时间银行时长",
    )
    async def balances(self, principal: Principal) -> Balances:
        return await service.balances(principal)

    @get(
        "/me/statement",
        operation_id="getMyPointsStatement",
        guards=[RESIDENT],
        responses=errors(403, 404, 422),
        summary="本人月度积分（或时间银行）对账单：期初余额、本月明细、期末余额",
    )
    async def statement(
        self,
        principal: Principal,
        month: Annotated[str, Parameter(pattern=r"^\d{4}-\d{2}$", description="月份 YYYY-MM（北京时间）")],
        unit: Annotated[
            str, Parameter(pattern=r"^(points|hours)$", description="points 积分；hours 时间银行")
        ] = "points",
    ) -> Statement:
        return await service.statement(principal, month, unit)

    @post(
        "/activities",
        operation_id="createVolunteerActivity",
        guards=[STREET],
        status_code=201,
        responses=errors(403, 422),
        summary="街道发布社区志愿活动（普通志愿服务得积分；养老服务计入时间银行）",
    )
    async def create_activity(self, principal: Principal, data: ActivityCreate) -> ActivityView:
        row = await service.create_activity(principal, as_fields(data))
        return ActivityView(
            id=row.id,
            community_id=row.community_id,
            community_name=row.community_name,
            title=row.title,
            kind=row.kind,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            points_per_hour=row.points_per_hour,
            fixed_points=row.fixed_points,
            signups=[],
        )

    @get(
        "/activities",
        operation_id="listVolunteerActivities",
        guards=[POLL_READERS],
        responses=errors(403),
        summary="志愿活动（官员：管辖范围及报名情况；居民：本社区及本人报名）",
    )
    async def list_activities(self, principal: Principal, page: PageParams) -> Page[ActivityView]:
        rows, total = await service.list_activities(principal, limit=page.limit, offset=page.offset)
        return Page.of(rows, total, page)

    @post(
        "/activities/{activity_id:int}/signups",
        operation_id="signUpForActivity",
        guards=[RESIDENT],
        status_code=201,
        responses=errors(403, 404, 409),
        summary="居民报名本社区志愿活动",
    )
    async def sign_up(self, principal: Principal, activity_id: int) -> SignupView:
        return await service.sign_up_for_activity(principal, activity_id)

    @post(
        "/signups/{signup_id:int}/confirm",
        operation_id="confirmVolunteerHours",
        guards=[STREET],
        status_code=200,
        responses=errors(403, 404, 409, 422),
        summary="街道确认志愿服务时长，发放积分或时间银行时长（每个报名仅一次）",
    )
    async def confirm_hours(self, principal: Principal, signup_id: int, data: SignupConfirm) -> SignupView:
        return await service.confirm_hours(principal, signup_id, data.hours, data.note)

    @post(
        "/services",
        operation_id="publishPointsService",
        guards=[OPERATOR],
        status_code=201,
        responses=errors(403, 422),
        summary="运营商在有服务合同的社区发布积分兑换服务（积分价格、名额、兑换期）",
    )
    async def publish(self, principal: Principal, data: ServiceCreate) -> ServiceView:
        return service.service_view(await service.publish_service(principal, as_fields(data)))

    @get(
        "/services",
        operation_id="listPointsServices",
        guards=[SERVICE_READERS],
        responses=errors(403),
        summary="积分兑换服务（居民：本社区兑换期内的；运营商：本公司的；官员：管辖范围）",
    )
    async def list_services(self, principal: Principal, page: PageParams) -> Page[ServiceView]:
        rows, total = await service.list_services(principal, limit=page.limit, offset=page.offset)
        return Page.of(rows, total, page)

    @post(
        "/services/{service_id:int}/redemptions",
        operation_id="redeemPoints",
        guards=[RESIDENT],
        status_code=201,
        responses=errors(403, 404, 409),
        summary="居民用积分兑换一项服务（积分转入运营商待结算账户）",
    )
    async def redeem(self, principal: Principal, service_id: int) -> RedemptionView:
        return await service.redeem(principal, service_id)

    @get(
        "/redemptions",
        operation_id="listRedemptions",
        guards=[REDEMPTION_READERS],
        responses=errors(403),
        summary="兑换记录（运营商：待确认服务，居民信息脱敏；居民：本人）",
    )
    async def list_redemptions(
        self,
        principal: Principal,
        page: PageParams,
        state_filter: Annotated[RedemptionState | None, Parameter(query="state")] = None,
    ) -> Page[RedemptionView]:
        rows, total = await service.list_redemptions(
            principal, state=state_filter.value if state_filter else None, limit=page.limit, offset=page.offset
        )
        return Page.of(rows, total, page)

    @post(
        "/redemptions/{redemption_id:int}/deliver",
        operation_id="deliverRedemption",
        guards=[OPERATOR],
        status_code=200,
        responses=errors(403, 404, 409),
        summary="运营商确认已提供服务：社区按每积分结算标准向运营商结算，记入社区收支台账一次",
    )
    async def deliver(self, principal: Principal, redemption_id: int) -> RedemptionView:
        return await service.deliver(principal, redemption_id)

    @post(
        "/redemptions/{redemption_id:int}/cancel",
        operation_id="cancelRedemption",
        guards=[RESIDENT],
        status_code=200,
        responses=errors(403, 404, 409),
        summary="居民在服务前取消兑换，积分退回",
    )
    async def cancel(self, principal: Principal, redemption_id: int) -> RedemptionView:
        return await service.cancel_redemption(principal, redemption_id)

    @get(
        "/communities/{community_id:int}/summary",
        operation_id="getCommunityPoints",
        guards=[OFFICIALS],
        responses=errors(403, 404),
        summary="社区积分汇总（发放、兑换、结算、过期、未使用；不含个人余额）",
    )
    async def summary(self, principal: Principal, community_id: int) -> CommunityPoints:
        return await service.community_points(principal, community_id)


class TimeBankController(Controller):
    path = "/api/v1/time-bank"
    tags = ["时间银行"]

    @post(
        "/withdrawals",
        operation_id="requestTimeBankWithdrawal",
        guards=[RESIDENT],
        status_code=201,
        responses=errors(403, 404, 409, 422),
        summary="居民申请支取时间银行时长，为本人提供养老服务",
    )
    async def request_withdrawal(self, principal: Principal, data: WithdrawalCreate) -> WithdrawalView:
        return await service.request_withdrawal(principal, data.hours, data.note)

    @get(
        "/withdrawals",
        operation_id="listTimeBankWithdrawals",
        guards=[POLL_READERS],
        responses=errors(403),
        summary="时间银行支取申请（官员：管辖范围；居民：本人）",
    )
    async def list_withdrawals(self, principal: Principal, page: PageParams) -> Page[WithdrawalView]:
        rows, total = await service.list_withdrawals(principal, limit=page.limit, offset=page.offset)
        return Page.of(rows, total, page)

    @post(
        "/withdrawals/{withdrawal_id:int}/confirm",
        operation_id="confirmTimeBankWithdrawal",
        guards=[STREET],
        status_code=200,
        responses=errors(403, 404, 409),
        summary="街道确认已为居民提供服务，扣减其时间银行时长",
    )
    async def confirm_withdrawal(
        self, principal: Principal, withdrawal_id: int, data: WithdrawalConfirm
    ) -> WithdrawalView:
        return await service.confirm_withdrawal(principal, withdrawal_id, data.note)

    @post(
        "/transfers",
        operation_id="transferTimeBankHours",
        guards=[RESIDENT],
        status_code=200,
        responses=errors(403, 404, 409, 422),
        summary="居民将时间银行时长转赠本市居民家人（同一请求号只转一次）",
    )
    async def transfer(self, principal: Principal, data: TransferCreate) -> TransferDone:
        return await service.transfer_hours(principal, data.recipient_phone, data.hours, data.request_id)


class SurveyController(Controller):
    path = "/api/v1/surveys"
    tags = ["满意度测评"]

    @get(
        "/",
        operation_id="listSurveys",
        guards=[SURVEY_READERS],
        responses=errors(403),
        summary="可见的满意度测评（官员、测评机构：管辖范围内的汇总；居民：本社区）",
    )
    async def list_surveys(
        self,
        principal: Principal,
        page: PageParams,
        state_filter: Annotated[SurveyState | None, Parameter(query="state")] = None,
    ) -> Page[SurveyView]:
        rows, total = await service.list_surveys(
            principal, state=state_filter.value if state_filter else None, limit=page.limit, offset=page.offset
        )
        return Page.of(rows, total, page)

    @get(
        "/{survey_id:int}",
        operation_id="getSurvey",
        guards=[SURVEY_READERS],
        responses=errors(403, 404),
        summary="满意度测评详情（官员、测评机构见汇总，不见个人答卷；居民见问卷及本户答卷）",
    )
    async def get_survey(self, principal: Principal, survey_id: int) -> SurveyView:
        return await service.get_survey(principal, survey_id)

    @post(
        "/{survey_id:int}/answers",
        operation_id="answerSurvey",
        guards=[RESIDENT],
        status_code=200,
        responses=errors(403, 404, 409),
        summary="居民填写或修改满意度问卷（每户一份，截止前可改）",
    )
    async def answer(self, principal: Principal, survey_id: int, data: SurveyAnswerCreate) -> SurveyAnswerView:
        return await service.answer_survey(principal, survey_id, data)

    @post(
        "/{survey_id:int}/offline-uploads",
        operation_id="uploadOfflineSurvey",
        guards=[SURVEYOR],
        status_code=201,
        responses=errors(403, 404, 409),
        summary="第三方测评机构上传本区合同的线下测评结果（CSV 或 Excel），有错则整份不导入并逐行列出",
    )
    async def upload(self, principal: Principal, survey_id: int, data: SurveyUploadCreate) -> SurveyUploadView:
        return await service.upload_offline(
            principal, survey_id, file_name=data.file_name, csv_text=data.csv, xlsx_base64=data.xlsx_base64
        )

    @get(
        "/{survey_id:int}/offline-uploads",
        operation_id="listOfflineSurveyUploads",
        guards=[SURVEY_AGGREGATES],
        responses=errors(403, 404),
        summary="满意度测评的线下结果上传记录（上传人、文件名、份数）",
    )
    async def uploads(self, principal: Principal, survey_id: int) -> list[SurveyUploadView]:
        return await service.list_uploads(principal, survey_id)


class CommunityAcceptanceController(Controller):
    path = "/api/v1/communities"
    tags = ["满意度测评"]

    @post(
        "/{community_id:int}/acceptance",
        operation_id="acceptCommunity",
        guards=[ACCEPTORS],
        status_code=200,
        responses=errors(403, 404, 409),
        summary="社区验收通过（须最近一次居民满意度不低于验收要求）",
    )
    async def accept(self, principal: Principal, community_id: int, data: AcceptanceCreate) -> AcceptanceView:
        return await service.accept_community(principal, community_id, data.reason)


class PublicSurveyController(Controller):
    path = "/api/v1/public/surveys"
    tags = ["满意度测评"]

    @get(
        "/{survey_id:int}/result",
        operation_id="getSurveyResult",
        responses=errors(404, 409),
        summary="满意度测评结果公开（满意率、份数、各项平均分，线上线下分列并合计）",
    )
    async def result(self, survey_id: int) -> SurveyResult:
        return await service.survey_result(survey_id)


ROUTES = [
    ResidentAuthController,
    ResidentController,
    HouseholdController,
    PollController,
    PublicPollController,
    PointsController,
    TimeBankController,
    SurveyController,
    CommunityAcceptanceController,
    PublicSurveyController,
]
