from __future__ import annotations

from decimal import Decimal
from enum import Enum

from piccolo.columns import (
    JSONB,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    Serial,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from core.accounts.tables import Organisation, User
from market.tables import Community, Need, ServiceContract
from providers.tables import Operator


class PollState(str, Enum):
    open = "open"
    closed = "closed"


class OptionKind(str, Enum):
    operator = "operator"  # an operator from the need's explained shortlist
    package = "package"  # a named service package


class Household(Table, tablename="resident_household"):
    """楼栋-单元-室 in a community; `confirmed_at` once the street found it in its register."""

    id: Serial
    community = ForeignKey(Community, null=False)
    building = Varchar(length=20)
    unit = Varchar(length=20)
    room = Varchar(length=20)
    confirmed_at = Timestamptz(null=True, default=None)
    confirmed_by = ForeignKey(User, null=True, default=None)
    created_at = Timestamptz()


class Resident(Table, tablename="resident"):
    id: Serial
    user = ForeignKey(User, null=False, unique=True)
    phone = Varchar(length=11, unique=True)
    name = Varchar(length=50)
    household = ForeignKey(Household, null=False, index=True)
    created_at = Timestamptz()


class LoginCode(Table, tablename="resident_login_code"):
    """A one-time code sent to a phone: kept only as a keyed hash, valid five minutes, five tries."""

    id: Serial
    phone = Varchar(length=11, index=True)
    code_hash = Varchar(length=64)
    client = Varchar(length=64, index=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    attempts = Integer(default=0)
    used_at = Timestamptz(null=True, default=None)


class Poll(Table, tablename="resident_poll"):
    """居民投票 on a community need: single choice, one ballot per household, over [opens_at, closes_at)."""

    id: Serial
    community = ForeignKey(Community, null=False, index=True)
    need = ForeignKey(Need, null=False)
    title = Varchar(length=200)
    opens_at = Timestamptz()
    closes_at = Timestamptz()
    quorum = Numeric(digits=(5, 4))
    state = Varchar(length=10, choices=PollState, default=PollState.open)
    created_by = ForeignKey(User, null=False)
    created_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)
    result = JSONB(null=True, default=None)
    # The street's decision after the vote is kept on the need (market_need.vote_decision_*), where
    # contract signing also records it.


class PollOption(Table, tablename="resident_poll_option"):
    id: Serial
    poll = ForeignKey(Poll, null=False, index=True)
    position = Integer()
    kind = Varchar(length=10, choices=OptionKind)
    operator = ForeignKey(Operator, null=True, default=None)
    label = Varchar(length=200)
    description = Text(default="")
    score_total = Numeric(digits=(8, 2), null=True, default=None)
    score_parts = JSONB(default="[]")


class Ballot(Table, tablename="resident_ballot"):
    """One per poll and household (a later ballot from the household replaces it until the poll closes).
    `resident` is nulled when the resident deletes their account; the household stays for counting."""

    id: Serial
    poll = ForeignKey(Poll, null=False)
    household = ForeignKey(Household, null=False)
    option = ForeignKey(PollOption, null=False)
    resident = ForeignKey(Resident, null=True, default=None)
    receipt_hash = Varchar(length=64, unique=True)
    cast_at = Timestamptz()


# Points and the time bank ----------------------------------------------------------------------


class AccountKind(str, Enum):
    resident = "resident"  # a resident's points
    pool = "pool"  # the community's issuer of points: the one points account that runs negative
    clearing = "clearing"  # an operator's points in a community, redeemed and awaiting payout
    expired = "expired"  # the community's sink of expired points
    time = "time"  # a resident's time-bank hours
    time_pool = "time_pool"  # the community's issuer of hours
    time_used = "time_used"  # the community's sink of hours withdrawn as care


class ActivityKind(str, Enum):
    ordinary = "ordinary"  # earns points
    elderly_care = "elderly_care"  # 养老: earns time-bank hours


class RedemptionState(str, Enum):
    redeemed = "redeemed"
    delivered = "delivered"
    cancelled = "cancelled"


class WithdrawalState(str, Enum):
    requested = "requested"
    confirmed = "confirmed"


class PointsAccount(Table, tablename="points_account"):
    """`balance` moves with every posting in the posting's own transaction; a CHECK keeps it from going
    negative except on the issuers (pool, time_pool)."""

    id: Serial
    kind = Varchar(length=10, choices=AccountKind)
    unit = Varchar(length=6)
    community = ForeignKey(Community, null=False)
    resident = ForeignKey(Resident, null=True, default=None)
    operator = ForeignKey(Operator, null=True, default=None)
    balance = Numeric(digits=(14, 2), default=Decimal(0))
    created_at = Timestamptz()


class PointsPosting(Table, tablename="points_posting"):
    id: Serial
    unit = Varchar(length=6)
    from_account = ForeignKey(PointsAccount, null=False)
    to_account = ForeignKey(PointsAccount, null=False)
    amount = Numeric(digits=(12, 2))
    source_kind = Varchar(length=30)
    source_id = Integer()
    idempotency_key = Varchar(length=120, unique=True)
    memo = Varchar(length=200, default="")
    created_at = Timestamptz()


class Activity(Table, tablename="points_activity"):
    id: Serial
    community = ForeignKey(Community, null=False)
    title = Varchar(length=200)
    kind = Varchar(length=12, choices=ActivityKind)
    starts_at = Timestamptz()
    ends_at = Timestamptz()
    points_per_hour = Integer(null=True, default=None)
    fixed_points = Integer(null=True, default=None)
    created_by = ForeignKey(User, null=False)
    created_at = Timestamptz()


class Signup(Table, tablename="points_signup"):
    id: Serial
    activity = ForeignKey(Activity, null=False)
    resident = ForeignKey(Resident, null=False)
    signed_up_at = Timestamptz()
    hours = Numeric(digits=(5, 2), null=True, default=None)
    awarded = Numeric(digits=(12, 2), null=True, default=None)
    confirmed_by = ForeignKey(User, null=True, default=None)
    confirmed_at = Timestamptz(null=True, default=None)


class PointsService(Table, tablename="points_service"):
    id: Serial
    community = ForeignKey(Community, null=False)
    operator = ForeignKey(Operator, null=False)
    title = Varchar(length=200)
    description = Text(default="")
    price_points = Integer()
    capacity = Integer()
    redeemed = Integer(default=0)
    opens_at = Timestamptz()
    closes_at = Timestamptz()
    created_by = ForeignKey(User, null=False)
    created_at = Timestamptz()


class Redemption(Table, tablename="points_redemption"):
    id: Serial
    service = ForeignKey(PointsService, null=False)
    resident = ForeignKey(Resident, null=True, default=None)
    points = Integer()
    fen_per_point = Integer()
    state = Varchar(length=10, choices=RedemptionState, default=RedemptionState.redeemed)
    created_at = Timestamptz()
    delivered_at = Timestamptz(null=True, default=None)
    delivered_by = ForeignKey(User, null=True, default=None)
    cancelled_at = Timestamptz(null=True, default=None)


class Withdrawal(Table, tablename="timebank_withdrawal"):
    id: Serial
    resident = ForeignKey(Resident, null=False)
    community = ForeignKey(Community, null=False)
    hours = Numeric(digits=(6, 2))
    note = Varchar(length=500, default="")
    state = Varchar(length=10, choices=WithdrawalState, default=WithdrawalState.requested)
    created_at = Timestamptz()
    confirmed_by = ForeignKey(User, null=True, default=None)
    confirmed_at = Timestamptz(null=True, default=None)


# Satisfaction surveys --------------------------------------------------------------------------


class SurveyState(str, Enum):
    open = "open"
    closed = "closed"


class Survey(Table, tablename="resident_survey"):
    """满意度测评 of one service contract for one quarter, open over [opens_at, closes_at). `result` holds the
    satisfaction rate (share of overall 4–5), counts and aspect means, online, offline and combined."""

    id: Serial
    contract = ForeignKey(ServiceContract, null=False)
    community = ForeignKey(Community, null=False, index=True)
    operator = ForeignKey(Operator, null=False)
    period_start = Date()
    period_end = Date()
    opens_at = Timestamptz()
    closes_at = Timestamptz()
    state = Varchar(length=10, choices=SurveyState, default=SurveyState.open)
    created_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)
    result = JSONB(null=True, default=None)


class SurveyAnswer(Table, tablename="resident_survey_answer"):
    """One per survey and household (a later answer from the household replaces it until the survey closes).
    `resident` is nulled when the resident deletes their account."""

    id: Serial
    survey = ForeignKey(Survey, null=False)
    household = ForeignKey(Household, null=False)
    resident = ForeignKey(Resident, null=True, default=None)
    overall = SmallInt()
    attitude = SmallInt()
    responsiveness = SmallInt()
    quality = SmallInt()
    price = SmallInt()
    comment = Varchar(length=500, default="")
    answered_at = Timestamptz()


class SurveyUpload(Table, tablename="resident_survey_upload"):
    """A third-party surveyor's offline results for a survey: who, which file, how many rows."""

    id: Serial
    survey = ForeignKey(Survey, null=False, index=True)
    uploaded_by = ForeignKey(User, null=False)
    surveyor_org = ForeignKey(Organisation, null=False)
    file_name = Varchar(length=200)
    row_count = Integer()
    satisfied = Integer()
    uploaded_at = Timestamptz()


class SurveyOfflineRow(Table, tablename="resident_survey_offline_row"):
    """One questionnaire filled in offline; anonymous, kept apart from the households' online answers."""

    id: Serial
    upload = ForeignKey(SurveyUpload, null=False)
    survey = ForeignKey(Survey, null=False, index=True)
    row_number = Integer()
    overall = SmallInt()
    attitude = SmallInt()
    responsiveness = SmallInt()
    quality = SmallInt()
    price = SmallInt()
    comment = Varchar(length=500, default="")
