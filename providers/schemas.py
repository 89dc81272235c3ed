from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, ClassVar, Self

import msgspec

from core.schemas import Input, View
from providers.labels import (
    ALLIANCE_STATUS_LABELS,
    APPLICATION_STATE_LABELS,
    BATCH_STATE_LABELS,
    CHANNEL_LABELS,
    MEMBER_ROLE_LABELS,
    REGISTRY_STATUS_LABELS,
)
from providers.tables import (
    AllianceStatus,
    ApplicationState,
    BatchState,
    Channel,
    DecisionKind,
    MemberRole,
    RegistryStatus,
)

Text200 = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text50 = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
Reason = Annotated[str, msgspec.Meta(max_length=2000)]
CategoryCode = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Email = Annotated[str, msgspec.Meta(max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Phone = Annotated[str, msgspec.Meta(min_length=5, max_length=30, pattern=r"^[0-9+\- ]+$")]
# Companies founded before 2000 still serve communities: their founding date reaches further back.
FOUNDED_SINCE = {"founded_on": date(1900, 1, 1)}


class DirectoryStatus(str, Enum):
    """The registry states the public directory shows."""

    listed = "listed"
    warned = "warned"


class DirectorySort(str, Enum):
    """Orders of the public directory; a leading minus sorts descending."""

    name = "name"
    name_desc = "-name"
    listed_since = "listed_since"
    listed_since_desc = "-listed_since"
    capacity = "capacity"
    capacity_desc = "-capacity"


class CategoryView(msgspec.Struct, kw_only=True):
    code: str
    name: str
    active: bool


class CategoryCreate(Input):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class OperatorFields(Input):
    name: Text200
    credit_code: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    legal_representative: Text50
    contact_name: Text50
    contact_phone: Phone
    contact_email: Email
    categories: Annotated[list[CategoryCode], msgspec.Meta(min_length=1, max_length=20)]
    district_ids: Annotated[list[int], msgspec.Meta(min_length=1, max_length=50)]
    capacity: Annotated[int, msgspec.Meta(ge=0, le=10000)] = 1
    staff_count: Annotated[int, msgspec.Meta(ge=0, le=1000000)] = 0
    founded_on: date | None = None
    description: Annotated[str, msgspec.Meta(max_length=5000)] = ""

    earliest: ClassVar[dict[str, date]] = FOUNDED_SINCE


class OperatorCreate(OperatorFields):
    """Registered by an official (city, district or street) — e.g. before recommending it."""


class OperatorRegistration(OperatorFields, kw_only=True):
    """A company registering itself, with its first user account."""

    username: Annotated[str, msgspec.Meta(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")]
    password: Annotated[str, msgspec.Meta(min_length=8, max_length=128)]


class OperatorUpdate(Input):
    name: Text200 | None = None
    legal_representative: Text50 | None = None
    contact_name: Text50 | None = None
    contact_phone: Phone | None = None
    contact_email: Email | None = None
    categories: Annotated[list[CategoryCode], msgspec.Meta(min_length=1, max_length=20)] | None = None
    district_ids: Annotated[list[int], msgspec.Meta(min_length=1, max_length=50)] | None = None
    capacity: Annotated[int, msgspec.Meta(ge=0, le=10000)] | None = None
    staff_count: Annotated[int, msgspec.Meta(ge=0, le=1000000)] | None = None
    founded_on: date | None = None
    description: Annotated[str, msgspec.Meta(max_length=5000)] | None = None

    earliest: ClassVar[dict[str, date]] = FOUNDED_SINCE


class CertificateCreate(Input):
    name: Text200
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    issued_by: Annotated[str, msgspec.Meta(max_length=100)] = ""
    valid_until: date | None = None


class CertificateView(msgspec.Struct, kw_only=True):
    id: int
    name: str
    number: str
    issued_by: str
    valid_until: date | None


class OperatorView(View, kw_only=True):
    id: int
    org_id: int
    name: str
    credit_code: str
    legal_representative: str
    contact_name: str
    contact_phone: str
    contact_email: str
    founded_on: date | None
    staff_count: int
    capacity: int
    description: str
    categories: list[str]
    district_ids: list[int]
    registry_status: RegistryStatus
    registry_status_label: str = ""
    certificates: list[CertificateView] = []

    def __post_init__(self) -> None:
        self.registry_status_label = REGISTRY_STATUS_LABELS[self.registry_status.value]


class OperatorRow(OperatorView, kw_only=True):
    """An operator as the registry reads it: the view plus its place in the org tree, for scope checks."""

    org_path: str


class Attachment(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    url: Annotated[str, msgspec.Meta(max_length=500)] = ""
    size_bytes: Annotated[int, msgspec.Meta(ge=0)] = 0


class ApplicationCreate(Input):
    operator_id: int
    channel: Channel
    categories: Annotated[list[CategoryCode], msgspec.Meta(min_length=1, max_length=20)]
    statement: Annotated[str, msgspec.Meta(max_length=20000)] = ""
    attachments: Annotated[list[Attachment], msgspec.Meta(max_length=50)] = []


class ApplicationUpdate(Input):
    categories: Annotated[list[CategoryCode], msgspec.Meta(min_length=1, max_length=20)] | None = None
    statement: Annotated[str, msgspec.Meta(max_length=20000)] | None = None
    attachments: Annotated[list[Attachment], msgspec.Meta(max_length=50)] | None = None


class Decision(Input):
    decision: DecisionKind
    reason: Reason


class ReasonInput(Input):
    reason: Reason = ""


class ApplicationEventView(msgspec.Struct, kw_only=True):
    from_state: str | None
    to_state: str
    actor_name: str
    reason: str
    at: datetime


class ApplicationView(View, kw_only=True):
    id: int
    operator_id: int
    operator_name: str
    channel: Channel
    channel_label: str = ""
    recommender_org_id: int | None
    recommender_org_name: str | None
    categories: list[str]
    statement: str
    attachments: list[Attachment]
    state: ApplicationState
    state_label: str = ""
    renewal_of: int | None
    submitted_at: datetime | None
    decided_at: datetime | None
    decision_reason: str
    created_at: datetime
    events: list[ApplicationEventView] = []

    def __post_init__(self) -> None:
        self.channel_label = CHANNEL_LABELS[self.channel.value]
        self.state_label = APPLICATION_STATE_LABELS[self.state.value]


class ApplicationRow(ApplicationView, kw_only=True):
    """An application with what its scope checks and notices need."""

    operator_org_path: str
    operator_email: str
    recommender_org_path: str | None
    created_by_id: int


class BatchCreate(Input):
    title: Annotated[str, msgspec.Meta(min_length=2, max_length=100)]


class BatchEntriesAdd(Input):
    application_ids: Annotated[list[int], msgspec.Meta(min_length=1, max_length=500)]


class NoticeOpen(Input):
    working_days: Annotated[int, msgspec.Meta(ge=1, le=30)] | None = None


class BatchEntryView(msgspec.Struct, kw_only=True):
    application_id: int
    operator_id: int
    operator_name: str
    credit_code: str
    categories: list[str]
    channel: Channel
    channel_label: str = ""
    recommender_org_name: str | None
    status: str

    def __post_init__(self) -> None:
        self.channel_label = CHANNEL_LABELS[self.channel.value]


class BatchEntryRow(BatchEntryView, kw_only=True):
    batch_id: int
    entry_id: int
    operator_email: str


class BatchView(View, kw_only=True):
    id: int
    title: str
    number_label: str | None = None  # 2026年第2批, once published
    state: BatchState
    state_label: str = ""
    notice_start: date | None
    objection_deadline: date | None
    published_on: date | None
    entries: list[BatchEntryView] = []

    def __post_init__(self) -> None:
        self.state_label = BATCH_STATE_LABELS[self.state.value]


class BatchRow(BatchView, kw_only=True):
    number_year: int | None = None
    number_seq: int | None = None
    entries: list[BatchEntryRow] = []  # type: ignore[assignment]

    def __post_init__(self) -> None:
        super().__post_init__()
        self.number_label = batch_number_label(self.number_year, self.number_seq)

    def accepts_objections_on(self, day: date) -> bool:
        """In notice, within [notice_start, objection_deadline)."""
        return (
            self.state == BatchState.notice
            and self.notice_start is not None
            and self.objection_deadline is not None
            and self.notice_start <= day < self.objection_deadline
        )


def batch_number_label(year: int | None, seq: int | None) -> str | None:
    return f"{year}年第{seq}批" if year is not None and seq is not None else None


class ObjectionCreate(Input):
    application_id: int
    text: Annotated[str, msgspec.Meta(min_length=5, max_length=5000)]


MobilePhone = Annotated[str, msgspec.Meta(max_length=11, pattern=r"^1[3-9][0-9]{9}$", description="中国大陆手机号码")]


class PublicObjectionCreate(Input):
    """An objection from anyone, without an account: who objects, how to reach them, and to which entry."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    phone: MobilePhone
    application_id: int
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    email: Email | None = None


class ObjectionDecision(Input):
    upheld: bool
    reason: Reason


def mask_phone(phone: str) -> str:
    """138****1234: enough for the objector to recognise their own number, not enough to call it."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"


class ObjectionView(View, kw_only=True):
    id: int
    batch_id: int
    application_id: int
    text: str
    state: str
    decision_reason: str
    created_at: datetime
    objector_name: str | None = None  # set when filed without an account
    objector_phone: str | None = None  # in full to city reviewers only, masked to everyone else
    objector_email: str | None = None  # city reviewers only

    @classmethod
    def for_viewer(cls, row: msgspec.Struct, *, reviewer: bool) -> Self:
        view = cls.of(row)
        if not reviewer:
            if view.objector_phone is not None:
                view.objector_phone = mask_phone(view.objector_phone)
            view.objector_email = None
        return view


class ObjectionRow(ObjectionView, kw_only=True):
    entry_id: int
    filed_by_id: int | None
    batch_title: str = ""


class EvaluationCreate(Input):
    operator_id: int
    score: Annotated[int, msgspec.Meta(ge=0, le=100)]
    satisfaction: Decimal  # percent, 0–100 (checked by the service)
    complaints: Annotated[int, msgspec.Meta(ge=0, le=100000)]
    period_start: date
    period_end: date
    contract_id: int | None = None
    comment: Annotated[str, msgspec.Meta(max_length=5000)] = ""
    reason: Reason = ""  # required: why this evaluation is filed by hand


class EvaluationView(msgspec.Struct, kw_only=True):
    id: int
    operator_id: int
    contract_id: int | None
    evaluator_org_id: int
    kind: str = "manual"
    score: int
    satisfaction: Decimal | None
    complaints: int
    period_start: date
    period_end: date
    comment: str
    created_at: datetime
    reason: str = ""
    parts: dict = {}


class StatusChange(Input):
    status: RegistryStatus
    reason: Reason


class ProposalView(msgspec.Struct, kw_only=True):
    id: int
    operator_id: int
    operator_name: str
    proposed_status: str
    rule: str
    evidence: dict
    state: str
    created_at: datetime


class ListingView(msgspec.Struct, kw_only=True):
    category: str
    category_name: str
    valid_from: date
    valid_until: date
    batch_title: str


class RecentEvaluation(msgspec.Struct, kw_only=True):
    """One of an active operator's latest evaluations, as the registry rules read it."""

    operator_id: int
    registry_status: RegistryStatus
    score: int
    satisfaction: Decimal | None
    complaints: int
    period_end: date


class NewProposal(msgspec.Struct, kw_only=True):
    id: int
    operator_id: int
    proposed_status: str
    rule: str
    evidence: dict


class AutoStatusChange(msgspec.Struct, kw_only=True):
    """A status the registry set by itself (listings lapsed, or a renewal published), for its notices."""

    operator_id: int
    from_status: str
    to_status: str
    name: str
    contact_email: str


# Industry alliances ----------------------------------------------------------------------------


class AllianceMemberInput(Input):
    operator_id: int
    role: MemberRole
    category: Annotated[
        str, msgspec.Meta(min_length=1, max_length=40, description="专项成员的服务类别；综合运营填 integrated")
    ] = "integrated"


class AllianceCreate(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    lead_operator_id: int
    charter_ref: Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="联盟章程或协议文号")]
    members: Annotated[list[AllianceMemberInput], msgspec.Meta(min_length=2, max_length=30)]


class AllianceMemberAdd(Input):
    operator_id: int
    role: MemberRole
    reason: Annotated[str, msgspec.Meta(max_length=2000, description="加入依据，如联盟决议文号")]
    category: Annotated[
        str, msgspec.Meta(min_length=1, max_length=40, description="专项成员的服务类别；综合运营填 integrated")
    ] = "integrated"
    joined_on: date | None = None  # today when left out; never in the past


class AllianceMemberLeave(Input):
    left_on: date
    reason: Annotated[str, msgspec.Meta(max_length=2000, description="退出原因")]


class AllianceRow(msgspec.Struct, kw_only=True):
    id: int
    name: str
    lead_id: int
    lead_name: str
    lead_org_id: int
    charter_ref: str
    status: str
    created_at: datetime
    decided_at: datetime | None
    reason: str


class AllianceMemberRow(msgspec.Struct, kw_only=True):
    id: int
    alliance_id: int
    operator_id: int
    operator_name: str
    operator_org_id: int
    registry_status: str
    district_ids: list[int]
    role: str
    category: str
    joined_on: date
    left_on: date | None
    listed: bool  # listed today for its category
    leave_reason: str = ""


class AllianceMemberView(msgspec.Struct, kw_only=True):
    id: int
    operator_id: int
    operator_name: str
    role: MemberRole
    role_label: str
    category: str
    registry_status: str
    registry_status_label: str
    joined_on: date
    left_on: date | None
    leave_reason: str
    in_good_standing: bool

    @classmethod
    def of(cls, row: AllianceMemberRow, good: bool) -> AllianceMemberView:
        return cls(
            id=row.id,
            operator_id=row.operator_id,
            operator_name=row.operator_name,
            role=MemberRole(row.role),
            role_label=MEMBER_ROLE_LABELS[row.role],
            category=row.category,
            registry_status=row.registry_status,
            registry_status_label=REGISTRY_STATUS_LABELS[row.registry_status],
            joined_on=row.joined_on,
            left_on=row.left_on,
            leave_reason=row.leave_reason,
            in_good_standing=good,
        )


class AllianceView(msgspec.Struct, kw_only=True):
    id: int
    name: str
    lead_id: int
    lead_name: str
    charter_ref: str
    status: AllianceStatus
    status_label: str
    created_at: datetime
    decided_at: datetime | None
    reason: str

    @classmethod
    def of(cls, row: AllianceRow) -> AllianceView:
        return cls(
            **{
                k: getattr(row, k)
                for k in ("id", "name", "lead_id", "lead_name", "charter_ref", "created_at", "decided_at", "reason")
            },
            status=AllianceStatus(row.status),
            status_label=ALLIANCE_STATUS_LABELS[row.status],
        )


class AllianceFlag(msgspec.Struct, kw_only=True):
    operator_id: int
    operator_name: str
    category: str
    text: str


class AlliancePage(msgspec.Struct, kw_only=True):
    alliance: AllianceView
    members: list[AllianceMemberView]
    flags: list[AllianceFlag]
    former_members: list[AllianceMemberView] = []  # those that left, with the day and the reason
