from __future__ import annotations

from enum import Enum

from piccolo.columns import (
    JSONB,
    Boolean,
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


class SurveyState(str, Enum):
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
    decision_follows = Boolean(null=True, default=None)
    decision_option = Integer(null=True, default=None)
    decision_reason = Text(default="")
    decided_by = ForeignKey(User, null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)


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
