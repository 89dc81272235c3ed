"""The registry of excellent service operators (优秀服务商名录)."""

from __future__ import annotations

from enum import Enum

from piccolo.columns import (
    JSONB,
    Array,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

from core.accounts.tables import Organisation, User


class RegistryStatus(str, Enum):
    unlisted = "unlisted"  # never published in a batch
    listed = "listed"
    warned = "warned"
    suspended = "suspended"
    removed = "removed"
    expired = "expired"  # every listing has passed its valid_until; set by the nightly registry job


class Channel(str, Enum):
    self_nominated = "self"  # 自荐
    recommended = "recommended"  # 推荐


class ApplicationState(str, Enum):
    draft = "draft"
    submitted = "submitted"
    under_review = "under_review"
    approved = "approved"
    rejected = "rejected"
    returned = "returned"


class BatchState(str, Enum):
    draft = "draft"
    notice = "notice"  # 公示, objections may be filed
    published = "published"


class EntryStatus(str, Enum):
    included = "included"
    withdrawn = "withdrawn"  # taken out by an upheld objection


class ObjectionState(str, Enum):
    open = "open"
    upheld = "upheld"
    dismissed = "dismissed"


class DecisionKind(str, Enum):
    approve = "approve"
    reject = "reject"
    return_ = "return"


class ProposalState(str, Enum):
    open = "open"
    confirmed = "confirmed"
    dismissed = "dismissed"


class Category(Table, tablename="provider_category"):
    """Dictionary of service categories; officials may add to it."""

    id: Serial
    code = Varchar(length=40, unique=True)
    name = Varchar(length=40, unique=True)
    sort_order = Integer(default=100)
    active = Boolean(default=True)


class Operator(Table, tablename="provider_operator"):
    """An operator company's profile. `org` is its node in the org tree (kind operator)."""

    id: Serial
    org = ForeignKey(Organisation, null=False, unique=True)
    name = Varchar(length=200, index=True)
    credit_code = Varchar(length=18, unique=True)
    legal_representative = Varchar(length=50)
    contact_name = Varchar(length=50)
    contact_phone = Varchar(length=30)
    contact_email = Varchar(length=255)
    founded_on = Date(null=True, default=None)
    staff_count = Integer(default=0)
    capacity = Integer(default=1)
    description = Text(default="")
    categories = Array(base_column=Varchar(length=40), index=True, index_method=IndexMethod.gin)
    district_ids = Array(base_column=Integer(), index=True, index_method=IndexMethod.gin)
    registry_status = Varchar(length=12, choices=RegistryStatus, default=RegistryStatus.unlisted, index=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Certificate(Table, tablename="provider_certificate"):
    id: Serial
    operator = ForeignKey(Operator, null=False, index=True)
    name = Varchar(length=100)
    number = Varchar(length=100)
    issued_by = Varchar(length=100, default="")
    valid_until = Date(null=True, default=None)


class Application(Table, tablename="provider_application"):
    id: Serial
    operator = ForeignKey(Operator, null=False, index=True)
    channel = Varchar(length=12, choices=Channel)
    recommender_org = ForeignKey(Organisation, null=True, default=None)
    created_by = ForeignKey(User, null=False)
    categories = Array(base_column=Varchar(length=40))
    statement = Text(default="")
    attachments = JSONB(default="[]")
    state = Varchar(length=14, choices=ApplicationState, default=ApplicationState.draft, index=True)
    renewal_of: ForeignKey[Application] = ForeignKey("self", null=True, default=None)
    submitted_at = Timestamptz(null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    decided_by = ForeignKey(User, null=True, default=None)
    decision_reason = Text(default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class ApplicationCategory(Table, tablename="provider_application_category"):
    """One row per application × category; a partial unique index allows one open application per
    operator and category, whatever the application code does."""

    id: Serial
    application = ForeignKey(Application, null=False, index=True)
    operator = ForeignKey(Operator, null=False)
    category = Varchar(length=40)
    is_open = Boolean(default=True)


class ApplicationEvent(Table, tablename="provider_application_event"):
    """The history an applicant sees: each state change with who and why."""

    id: Serial
    application = ForeignKey(Application, null=False, index=True)
    from_state = Varchar(length=14, null=True, default=None)
    to_state = Varchar(length=14)
    actor = ForeignKey(User, null=True, default=None)
    actor_name = Varchar(length=100, default="")
    reason = Text(default="")
    at = Timestamptz()


class Batch(Table, tablename="provider_batch"):
    id: Serial
    title = Varchar(length=100, unique=True)
    state = Varchar(length=10, choices=BatchState, default=BatchState.draft, index=True)
    notice_start = Date(null=True, default=None)
    objection_deadline = Date(null=True, default=None)  # objections accepted before this date
    published_on = Date(null=True, default=None)
    created_by = ForeignKey(User, null=False)
    published_by = ForeignKey(User, null=True, default=None)
    number_year = Integer(null=True, default=None)  # 2026年第2批: given at publication, unique per year
    number_seq = Integer(null=True, default=None)
    created_at = Timestamptz()


class BatchCounter(Table, tablename="provider_batch_counter"):
    """The last batch number given in each year; publishing increments it in its own transaction."""

    year = Integer(primary_key=True)
    last_seq = Integer()


class BatchEntry(Table, tablename="provider_batch_entry"):
    id: Serial
    batch = ForeignKey(Batch, null=False, index=True)
    application = ForeignKey(Application, null=False, unique=True)
    status = Varchar(length=10, choices=EntryStatus, default=EntryStatus.included)


class Objection(Table, tablename="provider_objection"):
    id: Serial
    entry = ForeignKey(BatchEntry, null=False, index=True)
    filed_by = ForeignKey(User, null=True, default=None)  # none when filed by the public without an account
    objector_name = Varchar(length=50, null=True, default=None)
    objector_phone = Varchar(length=11, null=True, default=None)
    objector_email = Varchar(length=255, null=True, default=None)
    text = Text()
    state = Varchar(length=10, choices=ObjectionState, default=ObjectionState.open, index=True)
    decided_by = ForeignKey(User, null=True, default=None)
    decision_reason = Text(default="")
    created_at = Timestamptz()
    decided_at = Timestamptz(null=True, default=None)


class Listing(Table, tablename="provider_listing"):
    """Operator × category in the published registry, valid over [valid_from, valid_until)."""

    id: Serial
    operator = ForeignKey(Operator, null=False, index=True)
    category = Varchar(length=40, index=True)
    batch = ForeignKey(Batch, null=False, index=True)
    application = ForeignKey(Application, null=False)
    valid_from = Date()
    valid_until = Date(index=True)


class EvaluationKind(str, Enum):
    manual = "manual"  # filed by an official, with a reason
    computed = "computed"  # by the quarterly job, from a contract's facts; `parts` shows how


class Evaluation(Table, tablename="provider_evaluation"):
    id: Serial
    operator = ForeignKey(Operator, null=False, index=True)
    contract_id = Integer(null=True, default=None)
    evaluator = ForeignKey(User, null=True, default=None)
    evaluator_org = ForeignKey(Organisation, null=False)
    kind = Varchar(length=10, choices=EvaluationKind, default=EvaluationKind.manual)
    score = Integer()
    satisfaction = Numeric(digits=(5, 2), null=True, default=None)  # none when no survey reached the period
    complaints = Integer(default=0)
    period_start = Date()
    period_end = Date()
    comment = Text(default="")
    reason = Text(default="")
    parts = JSONB(default="{}")  # a computed score's parts: each fact, its weight and its points
    created_at = Timestamptz()


class StatusDecision(Table, tablename="provider_status_decision"):
    id: Serial
    operator = ForeignKey(Operator, null=False, index=True)
    from_status = Varchar(length=12)
    to_status = Varchar(length=12)
    reason = Text()
    decided_by = ForeignKey(User, null=True, default=None)
    at = Timestamptz()


class StatusProposal(Table, tablename="provider_status_proposal"):
    """A warning or suspension proposed by the rules from evaluations, for a reviewer to confirm."""

    id: Serial
    operator = ForeignKey(Operator, null=False, index=True)
    proposed_status = Varchar(length=12)
    rule = Varchar(length=60)
    evidence = JSONB(default="{}")
    state = Varchar(length=10, choices=ProposalState, default=ProposalState.open, index=True)
    created_at = Timestamptz()
    decided_by = ForeignKey(User, null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    decision_reason = Text(default="")


class AllianceStatus(str, Enum):
    proposed = "proposed"
    approved = "approved"


class MemberRole(str, Enum):
    integrated = "integrated"  # 综合运营
    specialist = "specialist"  # 专项服务


class Alliance(Table, tablename="provider_alliance"):
    """产业联盟: listed operators under a lead, with a charter, approved by the city."""

    id: Serial
    name = Varchar(length=200, unique=True)
    lead = ForeignKey(Operator, null=False)
    charter_ref = Varchar(length=200)
    status = Varchar(length=10, choices=AllianceStatus, default=AllianceStatus.proposed)
    created_by = ForeignKey(User, null=False)
    created_at = Timestamptz()
    decided_by = ForeignKey(User, null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    reason = Text(default="")


class AllianceMember(Table, tablename="provider_alliance_member"):
    """An operator's place in an alliance over [joined_on, left_on): integrated, or specialist in a category."""

    id: Serial
    alliance = ForeignKey(Alliance, null=False)
    operator = ForeignKey(Operator, null=False)
    role = Varchar(length=12, choices=MemberRole)
    category = Varchar(length=40)
    joined_on = Date()
    left_on = Date(null=True, default=None)
    leave_reason = Text(default="")
