from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import msgspec

from core.schemas import Input, View
from residents.tables import ActivityKind, OptionKind, PollState, RedemptionState, SurveyState, WithdrawalState

Phone = Annotated[str, msgspec.Meta(pattern=r"^1[3-9]\d{9}$", description="中国大陆手机号")]
Code = Annotated[str, msgspec.Meta(pattern=r"^\d{6}$", description="6 位数字验证码")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
# 楼栋-单元-室: digits, letters and a few Chinese place words, e.g. "3", "2", "1201" or "A座".
AddressPart = Annotated[str, msgspec.Meta(min_length=1, max_length=20, pattern=r"^[0-9A-Za-z\u4e00-\u9fff-]+$")]
Reason = Annotated[str, msgspec.Meta(max_length=2000)]
Quorum = Annotated[Decimal, msgspec.Meta(description="法定参与率：已核实住户中投票户数的最低占比，大于 0、不超过 1")]


# Requests --------------------------------------------------------------------------------------


class CodeRequest(Input):
    phone: Phone


class SignUp(Input):
    phone: Phone
    code: Code
    name: Name
    community_id: int
    building: AddressPart
    unit: AddressPart
    room: AddressPart


class CodeLogin(Input):
    phone: Phone
    code: Code


class HouseholdConfirm(Input):
    note: Reason = ""


class RegisterImport(Input):
    """The register as CSV text, or as an Excel workbook (.xlsx, base64): one of the two."""

    csv: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=2_000_000, description="CSV：楼栋,单元,室（首行为表头）")]
        | None
    ) = None
    xlsx_base64: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1, max_length=2_800_000, description="Excel 工作簿（.xlsx）的 base64：首个工作表，列同 CSV"
            ),
        ]
        | None
    ) = None


class PackageOption(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class PollCreate(Input):
    need_id: int
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    opens_at: Annotated[datetime, msgspec.Meta(tz=True)]
    closes_at: Annotated[datetime, msgspec.Meta(tz=True)]
    quorum: Quorum
    operator_ids: Annotated[list[int], msgspec.Meta(max_length=20)] = []
    packages: Annotated[list[PackageOption], msgspec.Meta(max_length=20)] = []


class BallotCast(Input):
    option_id: int


class DecisionCreate(Input):
    follows: bool
    option_id: int | None = None
    reason: Reason = ""


# Rows and views --------------------------------------------------------------------------------


class ResidentRow(msgspec.Struct, kw_only=True):
    id: int
    user_id: int
    phone: str
    name: str
    household_id: int
    community_id: int
    community_name: str
    street_id: int
    org_path: str
    building: str
    unit: str
    room: str
    confirmed: bool
    created_at: datetime


class ResidentView(msgspec.Struct, kw_only=True):
    id: int
    phone: str
    name: str
    community_id: int
    community_name: str
    household_id: int
    building: str
    unit: str
    room: str
    confirmed: bool
    created_at: datetime


class SignedIn(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    resident: ResidentView


class CodeSent(msgspec.Struct, kw_only=True):
    phone: str
    expires_in: int


class HouseholdRow(msgspec.Struct, kw_only=True):
    id: int
    community_id: int
    building: str
    unit: str
    room: str
    confirmed_at: datetime | None
    org_path: str
    street_id: int


class HouseholdView(View):
    id: int
    community_id: int
    building: str
    unit: str
    room: str
    confirmed_at: datetime | None


class RegisterImported(msgspec.Struct, kw_only=True):
    rows: int
    confirmed: int
    created: int


class OptionRow(msgspec.Struct, kw_only=True):
    id: int
    position: int
    kind: OptionKind
    operator_id: int | None
    label: str
    description: str
    score_total: Decimal | None
    score_parts: list[dict]


class PollRow(msgspec.Struct, kw_only=True):
    id: int
    community_id: int
    community_name: str
    org_path: str
    street_id: int
    need_id: int
    title: str
    opens_at: datetime
    closes_at: datetime
    quorum: Decimal
    state: PollState
    created_at: datetime
    closed_at: datetime | None
    result: dict | None


class PollView(msgspec.Struct, kw_only=True):
    id: int
    community_id: int
    community_name: str
    need_id: int
    title: str
    opens_at: datetime
    closes_at: datetime
    quorum: Decimal
    state: PollState
    voting: str  # 单选
    options: list[OptionRow]
    result: dict | None = None
    my_option_id: int | None = None


class BallotReceipt(msgspec.Struct, kw_only=True):
    poll_id: int
    receipt: str
    cast_at: datetime
    note: str = "请保存回执码：可凭它查询选票已被计入；同户再次投票会替换本票并产生新回执码"


class ReceiptCheck(msgspec.Struct, kw_only=True):
    poll_id: int
    counted: bool
    option_id: int | None = None
    option_label: str | None = None


class OptionCount(msgspec.Struct, kw_only=True):
    option_id: int
    label: str
    kind: OptionKind
    operator_id: int | None
    score_total: Decimal | None
    score_parts: list[dict]
    votes: int


class PollDecision(msgspec.Struct, kw_only=True):
    """The street's decision after the vote, taken on the poll or by signing a contract for the need."""

    follows: bool
    option_id: int | None  # the poll's option it names, if any
    operator_id: int | None
    label: str  # the operator or package chosen
    reason: str
    decided_at: datetime


class PollResult(msgspec.Struct, kw_only=True):
    poll_id: int
    title: str
    community_name: str
    voting: str
    closed_at: datetime
    ballots: int
    confirmed_households: int
    turnout: Decimal
    quorum: Decimal
    quorum_met: bool
    winner_option_id: int | None
    options: list[OptionCount]
    decision: PollDecision | None = None


class ResidentExport(msgspec.Struct, kw_only=True):
    resident: ResidentView
    ballots: list[dict]
    exported_at: datetime
    survey_answers: list[dict] = []


# Points and the time bank ----------------------------------------------------------------------

Hours = Annotated[Decimal, msgspec.Meta(description="时长（小时），以一刻钟 0.25 为单位")]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ActivityCreate(Input):
    community_id: int
    title: Title
    kind: ActivityKind
    starts_at: Annotated[datetime, msgspec.Meta(tz=True)]
    ends_at: Annotated[datetime, msgspec.Meta(tz=True)]
    points_per_hour: Annotated[int, msgspec.Meta(ge=1, le=1000)] | None = None
    fixed_points: Annotated[int, msgspec.Meta(ge=1, le=10000)] | None = None


class SignupConfirm(Input):
    hours: Hours
    note: Reason = ""


class ServiceCreate(Input):
    community_id: int
    title: Title
    price_points: Annotated[int, msgspec.Meta(ge=1, le=100000)]
    capacity: Annotated[int, msgspec.Meta(ge=1, le=10000)]
    opens_at: Annotated[datetime, msgspec.Meta(tz=True)]
    closes_at: Annotated[datetime, msgspec.Meta(tz=True)]
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class WithdrawalCreate(Input):
    hours: Hours
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class WithdrawalConfirm(Input):
    note: Reason = ""


class TransferCreate(Input):
    recipient_phone: Phone
    hours: Hours
    request_id: Annotated[
        str,
        msgspec.Meta(
            min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="客户端生成的请求号，重复提交只转一次"
        ),
    ]


class Balances(msgspec.Struct, kw_only=True):
    resident_id: int
    points: int
    hours: Decimal
    note: str = "积分自获得之月起 24 个月后按先进先出过期；时间银行时长不过期"


class StatementLine(msgspec.Struct, kw_only=True):
    at: datetime
    amount: Decimal
    balance: Decimal
    source_kind: str
    source_id: int
    memo: str


class Statement(msgspec.Struct, kw_only=True):
    month: str
    unit: str
    opening: Decimal
    closing: Decimal
    lines: list[StatementLine]


class SignupView(msgspec.Struct, kw_only=True):
    id: int
    activity_id: int
    resident_id: int | None
    resident_name: str
    resident_phone: str
    signed_up_at: datetime
    hours: Decimal | None
    awarded: Decimal | None
    confirmed_at: datetime | None


class ActivityRow(msgspec.Struct, kw_only=True):
    id: int
    community_id: int
    community_name: str
    org_path: str
    title: str
    kind: ActivityKind
    starts_at: datetime
    ends_at: datetime
    points_per_hour: int | None
    fixed_points: int | None
    created_at: datetime


class ActivityView(msgspec.Struct, kw_only=True):
    id: int
    community_id: int
    community_name: str
    title: str
    kind: ActivityKind
    starts_at: datetime
    ends_at: datetime
    points_per_hour: int | None
    fixed_points: int | None
    signups: list[SignupView] | None = None
    my_signup_id: int | None = None


class ServiceRow(msgspec.Struct, kw_only=True):
    id: int
    community_id: int
    community_name: str
    org_path: str
    operator_id: int
    operator_name: str
    operator_org_id: int
    title: str
    description: str
    price_points: int
    capacity: int
    redeemed: int
    opens_at: datetime
    closes_at: datetime


class ServiceView(msgspec.Struct, kw_only=True):
    id: int
    community_id: int
    community_name: str
    operator_id: int
    operator_name: str
    title: str
    description: str
    price_points: int
    capacity: int
    remaining: int
    opens_at: datetime
    closes_at: datetime


class RedemptionRow(msgspec.Struct, kw_only=True):
    id: int
    service_id: int
    service_title: str
    community_id: int
    operator_id: int
    operator_org_id: int
    operator_name: str
    resident_id: int | None
    resident_name: str
    resident_phone: str
    points: int
    fen_per_point: int
    state: RedemptionState
    created_at: datetime
    delivered_at: datetime | None
    cancelled_at: datetime | None


class RedemptionView(msgspec.Struct, kw_only=True):
    id: int
    service_id: int
    service_title: str
    community_id: int
    operator_name: str
    resident: str  # masked for the operator: 王* 138****1234
    points: int
    payout_fen: int
    state: RedemptionState
    created_at: datetime
    delivered_at: datetime | None
    cancelled_at: datetime | None


class CommunityPoints(msgspec.Struct, kw_only=True):
    community_id: int
    community_name: str
    issued: int
    redeemed: int
    paid_out_points: int
    paid_out_fen: int
    expired: int
    outstanding: int
    hours_issued: Decimal
    hours_withdrawn: Decimal
    hours_outstanding: Decimal


class WithdrawalRow(msgspec.Struct, kw_only=True):
    id: int
    resident_id: int
    resident_name: str
    resident_phone: str
    community_id: int
    org_path: str
    hours: Decimal
    note: str
    state: WithdrawalState
    created_at: datetime
    confirmed_at: datetime | None


class WithdrawalView(msgspec.Struct, kw_only=True):
    id: int
    resident_id: int
    resident_name: str
    resident_phone: str
    community_id: int
    hours: Decimal
    note: str
    state: WithdrawalState
    created_at: datetime
    confirmed_at: datetime | None


class TransferDone(msgspec.Struct, kw_only=True):
    hours: Decimal
    recipient: str
    balance: Decimal


# Satisfaction surveys --------------------------------------------------------------------------


Mark = Annotated[int, msgspec.Meta(ge=1, le=5, description="1 至 5 分：5 为非常满意")]


class SurveyAnswerCreate(Input):
    """The fixed questionnaire: overall and four aspects, 1–5 each, and an optional comment."""

    overall: Mark
    attitude: Mark
    responsiveness: Mark
    quality: Mark
    price: Mark
    comment: Annotated[str, msgspec.Meta(max_length=500, description="意见建议，不超过 500 字")] = ""


class SurveyUploadCreate(Input):
    """Offline results as CSV text or an Excel workbook (.xlsx, base64): one of the two, one row a questionnaire."""

    file_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="原始文件名")]
    csv: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1,
                max_length=2_000_000,
                description="CSV：总体满意度,服务态度,响应速度,服务质量,价格合理,意见（首行为表头）",
            ),
        ]
        | None
    ) = None
    xlsx_base64: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1, max_length=2_800_000, description="Excel 工作簿（.xlsx）的 base64：首个工作表，列同 CSV"
            ),
        ]
        | None
    ) = None


class AcceptanceCreate(Input):
    reason: Reason = ""


class SurveyRow(msgspec.Struct, kw_only=True):
    id: int
    contract_id: int
    community_id: int
    community_name: str
    org_path: str
    operator_id: int
    operator_name: str
    period_start: date
    period_end: date
    opens_at: datetime
    closes_at: datetime
    state: SurveyState
    created_at: datetime
    closed_at: datetime | None
    result: dict | None


class SurveyAnswerView(msgspec.Struct, kw_only=True):
    survey_id: int
    overall: int
    attitude: int
    responsiveness: int
    quality: int
    price: int
    comment: str
    answered_at: datetime


class SurveyView(msgspec.Struct, kw_only=True):
    """A survey as its reader may see it: residents the questionnaire and their household's answer; officials
    and surveyors the counts (so far, or the closed result), never an answer with its household."""

    id: int
    contract_id: int
    community_id: int
    community_name: str
    operator_id: int
    operator_name: str
    period_start: date
    period_end: date
    opens_at: datetime
    closes_at: datetime
    state: SurveyState
    questions: dict[str, str]
    result: dict | None = None
    my_answer: SurveyAnswerView | None = None


class SurveyUploadView(msgspec.Struct, kw_only=True):
    id: int
    survey_id: int
    uploaded_by: int
    uploaded_by_name: str
    surveyor_org_id: int
    surveyor_org_name: str
    file_name: str
    row_count: int
    satisfied: int
    uploaded_at: datetime


class SurveyResult(msgspec.Struct, kw_only=True):
    """A closed survey's public result: the rate (share of overall 4–5) and count, online and offline apart
    and combined, and the mean of each question."""

    survey_id: int
    community_name: str
    operator_name: str
    period_start: date
    period_end: date
    closed_at: datetime
    rate: Decimal | None
    count: int
    questions: dict[str, str]
    online: dict
    offline: dict
    combined: dict


class AcceptanceView(msgspec.Struct, kw_only=True):
    community_id: int
    community_name: str
    accepted_at: datetime
    satisfaction: Decimal
    threshold: Decimal
    surveys: list[int]
