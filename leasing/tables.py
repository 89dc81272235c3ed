"""Idle rooms brought back into use (存量转增量): spaces, listings, applications, leases, rent and payments."""

from __future__ import annotations

from enum import Enum

from piccolo.columns import (
    JSONB,
    Array,
    BigInt,
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
from market.tables import Community
from providers.tables import Operator


class OwnerKind(str, Enum):
    state_owned = "state_owned"  # 国有企业
    institution = "institution"  # 事业单位
    community_collective = "community_collective"  # 社区集体
    government = "government"  # 政府部门


class SpaceUse(str, Enum):
    public_service = "public_service"  # 公共服务
    commerce = "commerce"  # 商业
    incubation = "incubation"  # 创业孵化
    elderly_care = "elderly_care"  # 养老
    childcare = "childcare"  # 托育
    culture = "culture"  # 文化
    health = "health"  # 健康


class SpaceStatus(str, Enum):
    idle = "idle"
    listed = "listed"
    leased = "leased"


class ListingTrack(str, Enum):
    competitive = "competitive"  # 竞争性租赁：按公布的评分规则择优
    preferential = "preferential"  # 公益性优先：协议方式出租给在库运营商


class ListingStatus(str, Enum):
    open = "open"
    awarded = "awarded"
    cancelled = "cancelled"


class LeaseApplicationStatus(str, Enum):
    submitted = "submitted"
    awarded = "awarded"
    not_awarded = "not_awarded"
    withdrawn = "withdrawn"


class LeaseStatus(str, Enum):
    active = "active"
    expiring = "expiring"
    renewed = "renewed"
    terminated = "terminated"
    ended = "ended"


class InvoiceStatus(str, Enum):
    open = "open"
    paid = "paid"
    overdue = "overdue"
    void = "void"


class InvoiceKind(str, Enum):
    rent = "rent"
    deposit = "deposit"
    late_fee = "late_fee"


class DepositStatus(str, Enum):
    pending = "pending"  # the refund was asked for and its answer is not known yet
    refunded = "refunded"
    retained = "retained"  # kept in whole, nothing to refund
    failed = "failed"


class PaymentStatus(str, Enum):
    pending = "pending"  # written before the call to the payment server
    succeeded = "succeeded"
    failed = "failed"


class Space(Table, tablename="leasing_space"):
    id: Serial
    owner_org = ForeignKey(Organisation, null=False, index=True)
    owner_kind = Varchar(length=24, choices=OwnerKind)
    community = ForeignKey(Community, null=False, index=True)
    address = Varchar(length=300)
    area_m2 = Numeric(digits=(10, 2))
    floor = Varchar(length=20, default="")
    condition = Text(default="")
    allowed_uses = Array(base_column=Varchar(length=20))
    photos = JSONB(default="[]")
    status = Varchar(length=8, choices=SpaceStatus, default=SpaceStatus.idle, index=True)
    created_by = ForeignKey(User, null=False)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class SpaceListing(Table, tablename="leasing_listing"):
    """Terms on which a space is offered, and the window [opens_on, closes_on) for applications."""

    id: Serial
    space = ForeignKey(Space, null=False, index=True)
    track = Varchar(length=12, choices=ListingTrack)
    rent_per_m2_month = BigInt()  # fen
    public_welfare_discount = Numeric(digits=(5, 4))  # share off the rent for public-service uses
    rent_free_months = SmallInt(default=0)
    min_term_months = SmallInt()
    max_term_months = SmallInt()
    deposit_months = SmallInt(default=0)
    opens_on = Date()
    closes_on = Date()
    criteria = JSONB(default="{}")  # published weight of each criterion of the track, summing to 100
    status = Varchar(length=10, choices=ListingStatus, default=ListingStatus.open, index=True)
    created_by = ForeignKey(User, null=False)
    created_at = Timestamptz()
    override_reason = Text(default="")  # why the street did not award the first-ranked application
    awarded_at = Timestamptz(null=True, default=None)


class LeaseApplication(Table, tablename="leasing_application"):
    id: Serial
    listing = ForeignKey(SpaceListing, null=False, index=True)
    operator = ForeignKey(Operator, null=False, index=True)
    proposed_use = Varchar(length=20, choices=SpaceUse)
    proposed_rent_per_m2_month = BigInt()  # fen
    term_months = SmallInt()
    plan = Text(default="")
    status = Varchar(length=12, choices=LeaseApplicationStatus, default=LeaseApplicationStatus.submitted)
    score = Numeric(digits=(6, 2), null=True, default=None)
    decision_reason = Text(default="")
    created_by = ForeignKey(User, null=False)
    created_at = Timestamptz()
    rank = SmallInt(null=True, default=None)  # the final place, kept when the listing is awarded


class PanelScore(Table, tablename="leasing_panel_score"):
    """One panel member's scores of one application, criterion by criterion, with a comment."""

    id: Serial
    application = ForeignKey(LeaseApplication, null=False)
    member = ForeignKey(User, null=False)
    scores = JSONB()
    comment = Text()
    created_at = Timestamptz()


class Lease(Table, tablename="leasing_lease"):
    """A space let to an operator over [starts_on, ends_on). The database refuses two leases of one space
    whose periods overlap (an exclusion constraint); early termination moves ends_on forward."""

    id: Serial
    space = ForeignKey(Space, null=False, index=True)
    lessee = ForeignKey(Operator, null=False, index=True)
    listing = ForeignKey(SpaceListing, null=True, default=None)
    application = ForeignKey(LeaseApplication, null=True, default=None)
    use = Varchar(length=20, choices=SpaceUse)
    starts_on = Date()
    ends_on = Date()
    agreed_ends_on = Date()  # the end in the signed lease, kept when terminated early
    monthly_rent = BigInt()  # fen, after the public-welfare discount
    deposit = BigInt(default=0)  # fen
    rent_free_months = SmallInt(default=0)  # the first months of the term are free
    payment_day = SmallInt(default=10)  # day of the month rent falls due
    late_fee_bp_per_day = Integer(default=0)  # late-payment interest per day, basis points of the rent
    status = Varchar(length=10, choices=LeaseStatus, default=LeaseStatus.active, index=True)
    renewal_of: ForeignKey[Lease] = ForeignKey("self", null=True, default=None)
    created_by = ForeignKey(User, null=False)
    terminated_by = ForeignKey(User, null=True, default=None)
    terminated_at = Timestamptz(null=True, default=None)
    termination_reason = Text(default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class RentInvoice(Table, tablename="leasing_invoice"):
    id: Serial
    lease = ForeignKey(Lease, null=False)
    month = Date()  # first day of the month billed
    amount = BigInt()  # fen
    due_on = Date()
    status = Varchar(length=8, choices=InvoiceStatus, default=InvoiceStatus.open, index=True)
    last_decline = Text(default="")  # why the last payment attempt failed, shown to the operator
    paid_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    kind = Varchar(length=10, choices=InvoiceKind, default=InvoiceKind.rent)
    charge_for: ForeignKey[RentInvoice] = ForeignKey("self", null=True, default=None)  # a late fee's rent invoice


class DepositSettlement(Table, tablename="leasing_deposit_settlement"):
    """What becomes of a lease's deposit at its end: refunded through the payment server, retained in part
    with a reason, or both. One per lease, written before the refund is asked for."""

    id: Serial
    lease = ForeignKey(Lease, null=False, unique=True)
    invoice = ForeignKey(RentInvoice, null=False)
    refund_amount = BigInt()  # fen
    retained_amount = BigInt()  # fen
    reason = Text(default="")
    status = Varchar(length=10, choices=DepositStatus)
    idempotency_key = Varchar(length=100, unique=True)
    refund_ref = Varchar(length=100, null=True, default=None)
    error_message = Text(default="")
    created_by = ForeignKey(User, null=True, default=None)
    created_at = Timestamptz()
    settled_at = Timestamptz(null=True, default=None)


class PaymentCustomer(Table, tablename="leasing_payment_customer"):
    """The payment server's customer for an operator."""

    id: Serial
    operator = ForeignKey(Operator, null=False, unique=True)
    customer_ref = Varchar(length=100)
    created_at = Timestamptz()


class Payment(Table, tablename="leasing_payment"):
    """One attempt to pay one invoice. Written (pending) before the payment server is called, with a key
    that is also the Idempotency-Key, so a lost response is settled later and never paid twice."""

    id: Serial
    invoice = ForeignKey(RentInvoice, null=False, index=True)
    attempt = SmallInt()
    idempotency_key = Varchar(length=100, unique=True)
    amount = BigInt()
    status = Varchar(length=10, choices=PaymentStatus, default=PaymentStatus.pending, index=True)
    intent_ref = Varchar(length=100, null=True, default=None, index=True)
    decline_code = Varchar(length=60, default="")
    error_message = Text(default="")
    created_by = ForeignKey(User, null=True, default=None)
    created_at = Timestamptz()
    settled_at = Timestamptz(null=True, default=None)


class WebhookEvent(Table, tablename="leasing_webhook_event"):
    """Every payment-server event id seen, so a replayed event is ignored."""

    id: Serial
    event_ref = Varchar(length=100, unique=True)
    event_type = Varchar(length=100)
    received_at = Timestamptz()
