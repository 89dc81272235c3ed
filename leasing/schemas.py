from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import msgspec

from core.schemas import Input, View
from leasing.labels import (
    APPLICATION_STATUS_LABELS,
    DEPOSIT_STATUS_LABELS,
    INVOICE_KIND_LABELS,
    INVOICE_STATUS_LABELS,
    LEASE_STATUS_LABELS,
    LISTING_STATUS_LABELS,
    OWNER_KIND_LABELS,
    PAYMENT_STATUS_LABELS,
    SPACE_STATUS_LABELS,
    TRACK_LABELS,
    USE_LABELS,
)
from leasing.tables import (
    DepositStatus,
    InvoiceKind,
    InvoiceStatus,
    LeaseApplicationStatus,
    LeaseStatus,
    ListingStatus,
    ListingTrack,
    OwnerKind,
    PaymentStatus,
    SpaceStatus,
    SpaceUse,
)

Fen = Annotated[int, msgspec.Meta(ge=0, le=10**12, description="金额（分）")]
Months = Annotated[int, msgspec.Meta(ge=0, le=600)]
Area = Annotated[Decimal, msgspec.Meta(description="面积（平方米）")]
Reason = Annotated[str, msgspec.Meta(max_length=2000)]


class FiguresLevel(str, Enum):
    """The level leasing figures are grouped by."""

    community = "community"
    street = "street"
    district = "district"
    city = "city"


class ReasonInput(Input):
    reason: Reason


class Photo(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    taken_on: date | None = None


class SpaceCreate(Input):
    community_id: int
    owner_kind: OwnerKind
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    area_m2: Area
    allowed_uses: Annotated[list[SpaceUse], msgspec.Meta(min_length=1, max_length=7)]
    floor: Annotated[str, msgspec.Meta(max_length=20)] = ""
    condition: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    photos: Annotated[list[Photo], msgspec.Meta(max_length=20)] = []
    owner_org_id: int | None = None


class SpaceUpdate(Input):
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=300)] | None = None
    area_m2: Area | None = None
    allowed_uses: Annotated[list[SpaceUse], msgspec.Meta(min_length=1, max_length=7)] | None = None
    floor: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    condition: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    photos: Annotated[list[Photo], msgspec.Meta(max_length=20)] | None = None


class SpaceView(View, kw_only=True):
    id: int
    owner_org_id: int
    owner_name: str
    owner_kind: OwnerKind
    owner_kind_label: str = ""
    community_id: int
    community_name: str
    address: str
    area_m2: Decimal
    floor: str
    condition: str
    allowed_uses: list[str]
    allowed_use_labels: list[str] = []
    photos: list[Photo]
    status: SpaceStatus
    status_label: str = ""

    def __post_init__(self) -> None:
        self.owner_kind_label = OWNER_KIND_LABELS[self.owner_kind.value]
        self.allowed_use_labels = [USE_LABELS[u] for u in self.allowed_uses]
        self.status_label = SPACE_STATUS_LABELS[self.status.value]


class SpaceRow(SpaceView, kw_only=True):
    """A space with its place in the org tree, for scope checks."""

    owner_path: str
    community_path: str
    street_id: int
    district_id: int
    created_at: datetime
    updated_at: datetime


class ListingCreate(Input):
    track: ListingTrack
    rent_per_m2_month: Fen
    min_term_months: Annotated[int, msgspec.Meta(ge=1, le=240)]
    max_term_months: Annotated[int, msgspec.Meta(ge=1, le=240)]
    opens_on: date
    closes_on: date
    public_welfare_discount: Decimal = Decimal("0")
    rent_free_months: Annotated[int, msgspec.Meta(ge=0, le=24)] = 0
    deposit_months: Annotated[int, msgspec.Meta(ge=0, le=12)] = 0
    criteria: (
        Annotated[
            dict[str, int],
            msgspec.Meta(
                description="各评分项权重（整数，合计 100）：竞争性租赁 rent（租金报价）、plan（经营方案）；"
                "公益性协议出租 elderly（为老服务）、children（儿童服务）、discounts（居民优惠）"
            ),
        ]
        | None
    ) = None


class ListingView(View, kw_only=True):
    id: int
    space_id: int
    community_id: int
    community_name: str
    address: str
    area_m2: Decimal
    allowed_uses: list[str]
    track: ListingTrack
    track_label: str = ""
    rent_per_m2_month: int
    public_welfare_discount: Decimal
    rent_free_months: int
    min_term_months: int
    max_term_months: int
    deposit_months: int
    opens_on: date
    closes_on: date
    criteria: dict
    status: ListingStatus
    status_label: str = ""

    def __post_init__(self) -> None:
        self.track_label = TRACK_LABELS[self.track.value]
        self.status_label = LISTING_STATUS_LABELS[self.status.value]


class ListingRow(ListingView, kw_only=True):
    """A listing with its space's owner, community path and street, for scope checks and the panel."""

    community_path: str
    owner_org_id: int
    street_id: int
    created_at: datetime
    override_reason: str
    awarded_at: datetime | None


class LeaseApplicationCreate(Input):
    proposed_use: SpaceUse
    term_months: Annotated[int, msgspec.Meta(ge=1, le=240)]
    proposed_rent_per_m2_month: Fen = 0
    plan: Annotated[str, msgspec.Meta(max_length=5000)] = ""


class LeaseApplicationView(View, kw_only=True):
    id: int
    listing_id: int
    operator_id: int
    operator_name: str
    proposed_use: SpaceUse
    proposed_use_label: str = ""
    proposed_rent_per_m2_month: int
    term_months: int
    plan: str
    status: LeaseApplicationStatus
    status_label: str = ""
    score: Decimal | float | None = None
    rank: int | None = None
    reasons: list[str] = []
    decision_reason: str = ""

    def __post_init__(self) -> None:
        self.proposed_use_label = USE_LABELS[self.proposed_use.value]
        self.status_label = APPLICATION_STATUS_LABELS[self.status.value]


class ApplicationRow(LeaseApplicationView, kw_only=True):
    """An application with the applicant's standing and contact, for ranking and notices."""

    operator_org_id: int
    registry_status: str
    contact_email: str
    created_at: datetime
    evaluation_average: Decimal | None = None


class PanelScoreCreate(Input):
    scores: Annotated[
        dict[str, int],
        msgspec.Meta(description="各评分项得分（0–100）：竞争性租赁 plan；公益性协议出租 elderly、children、discounts"),
    ]
    comment: Annotated[str, msgspec.Meta(min_length=1, max_length=2000, description="评分意见")]


class PanelScoreView(msgspec.Struct, kw_only=True):
    id: int
    application_id: int
    member_id: int
    scores: dict[str, int]
    comment: str
    created_at: datetime


class ResultEntry(msgspec.Struct, kw_only=True):
    rank: int
    application_id: int
    operator_name: str
    score: Decimal
    criteria: dict[str, Decimal]
    panel_size: int
    awarded: bool


class ListingResult(msgspec.Struct, kw_only=True):
    """The public result of an awarded listing: the ranking, the winner and the street's reason when it did
    not award the first. Operator names only: no personal data."""

    listing_id: int
    community_name: str
    address: str
    area_m2: Decimal
    track: ListingTrack
    track_label: str
    rent_per_m2_month: int
    criteria: dict[str, int]
    closes_on: date
    awarded_at: datetime | None
    winner: str
    override_reason: str
    ranking: list[ResultEntry]


LateFeeRate = Annotated[
    int, msgspec.Meta(ge=0, le=100, description="逾期违约金日利率（基点，即万分之一；按租金本金计，不计复利）")
]


class AwardInput(Input):
    application_id: int
    reason: Reason
    starts_on: date | None = None
    payment_day: Annotated[int, msgspec.Meta(ge=1, le=28)] = 10
    late_fee_bp_per_day: LateFeeRate = 0


class LeaseCreate(Input):
    space_id: int
    lessee_id: int
    use: SpaceUse
    starts_on: date
    ends_on: date
    monthly_rent: Fen
    deposit: Fen = 0
    rent_free_months: Months = 0
    payment_day: Annotated[int, msgspec.Meta(ge=1, le=28)] = 10
    late_fee_bp_per_day: LateFeeRate = 0


class LeaseRenewal(Input):
    ends_on: date
    reason: Reason
    monthly_rent: Fen | None = None


class LeaseTermination(Input):
    reason: Reason
    effective_on: date | None = None


class LeaseView(View, kw_only=True):
    id: int
    space_id: int
    address: str
    area_m2: Decimal
    community_id: int
    community_name: str
    lessee_id: int
    lessee_name: str
    use: SpaceUse
    use_label: str = ""
    starts_on: date
    ends_on: date
    agreed_ends_on: date
    monthly_rent: int
    deposit: int
    rent_free_months: int
    payment_day: int
    status: LeaseStatus
    status_label: str = ""
    renewal_of: int | None
    termination_reason: str
    late_fee_bp_per_day: int = 0

    def __post_init__(self) -> None:
        self.use_label = USE_LABELS[self.use.value]
        self.status_label = LEASE_STATUS_LABELS[self.status.value]


class LeaseRow(LeaseView, kw_only=True):
    """A lease with the parties' organisations and the community path, for scope checks."""

    community_path: str
    owner_org_id: int
    lessee_org_id: int
    listing_id: int | None
    application_id: int | None
    terminated_at: datetime | None
    created_at: datetime


class InvoiceView(View, kw_only=True):
    id: int
    lease_id: int
    lessee_name: str
    community_name: str
    address: str
    month: date
    amount: int
    due_on: date
    status: InvoiceStatus
    status_label: str = ""
    last_decline: str
    paid_at: datetime | None
    kind: InvoiceKind = InvoiceKind.rent
    kind_label: str = ""
    charge_for: int | None = None

    def __post_init__(self) -> None:
        self.status_label = INVOICE_STATUS_LABELS[self.status.value]
        self.kind_label = INVOICE_KIND_LABELS[self.kind.value]


class InvoiceRow(InvoiceView, kw_only=True):
    """An invoice with its lease's parties and community, for scope checks and ledger posting."""

    lessee_id: int
    lessee_org_id: int
    community_id: int
    community_path: str
    owner_org_id: int
    created_at: datetime


class PaymentView(View, kw_only=True):
    id: int
    invoice_id: int
    attempt: int
    amount: int
    status: PaymentStatus
    status_label: str = ""
    decline_code: str
    error_message: str
    client_secret: str | None = None
    next_action: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.status_label = PAYMENT_STATUS_LABELS[self.status.value]


class PaymentRow(PaymentView, kw_only=True):
    """A payment attempt with the key and intent it is reconciled by."""

    idempotency_key: str
    intent_ref: str | None
    created_at: datetime
    settled_at: datetime | None


class DepositSettlementCreate(Input):
    retained_amount: Annotated[int, msgspec.Meta(ge=0, le=10**12, description="扣留金额（分），其余退还")] = 0
    reason: Annotated[str, msgspec.Meta(max_length=2000, description="扣留理由（扣留时必填）")] = ""


class DepositSettlementView(View, kw_only=True):
    id: int
    lease_id: int
    invoice_id: int
    refund_amount: int
    retained_amount: int
    reason: str
    status: DepositStatus
    status_label: str = ""
    error_message: str
    created_at: datetime
    settled_at: datetime | None

    def __post_init__(self) -> None:
        self.status_label = DEPOSIT_STATUS_LABELS[self.status.value]


class DepositSettlementRow(DepositSettlementView, kw_only=True):
    idempotency_key: str
    refund_ref: str | None


class PaymentCreate(Input):
    payment_method: Annotated[
        str, msgspec.Meta(min_length=3, max_length=100, description="支付方式标识，如 pm_card_visa")
    ]


class WebhookAck(msgspec.Struct, kw_only=True):
    status: str


class FiguresRow(msgspec.Struct, kw_only=True):
    id: int
    name: str
    spaces: int
    idle_area: Decimal
    listed_area: Decimal
    leased_area: Decimal
    invoiced: int
    collected: int
    arrears: int


class CommunityFigures(msgspec.Struct, kw_only=True):
    """One community's row of the figures statement."""

    community_id: int
    community_name: str
    street_id: int
    street_name: str
    district_id: int
    district_name: str
    spaces: int
    idle_area: Decimal
    listed_area: Decimal
    leased_area: Decimal
    invoiced: int
    collected: int
    arrears: int


class FiguresView(msgspec.Struct, kw_only=True):
    level: str
    start: date
    end: date
    items: list[FiguresRow]
    total: FiguresRow


# Rows the nightly jobs and the ledger read -------------------------------------------------------


class LeaseToBill(msgspec.Struct, kw_only=True):
    id: int
    starts_on: date
    ends_on: date
    monthly_rent: int
    rent_free_months: int
    payment_day: int
    deposit: int
    last_month: date | None


class OverdueInvoice(msgspec.Struct, kw_only=True):
    id: int
    month: date
    amount: int
    due_on: date
    community_path: str
    community_name: str
    operator_name: str


class RentCommitment(msgspec.Struct, kw_only=True):
    community_id: int
    starts_on: date
    ends_on: date
    monthly_rent: int
    rent_free_months: int


class LeaseAtRisk(msgspec.Struct, kw_only=True):
    """An active lease whose lessee is no longer in good standing in the registry."""

    id: int
    address: str
    community_name: str
    community_path: str
    lessee_id: int
    lessee_name: str
    registry_status: str
    ends_on: date


class OverdueRent(msgspec.Struct, kw_only=True):
    """An unpaid rent invoice past due on a lease that charges late-payment interest."""

    id: int
    lease_id: int
    month: date
    amount: int
    due_on: date
    late_fee_bp_per_day: int
