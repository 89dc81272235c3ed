from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, TypeVar

import msgspec

from core.schemas import Input, View
from market.balance import Balance, Thresholds
from market.labels import (
    COMMUNITY_POOL_LABELS,
    COMMUNITY_STATUS_LABELS,
    COMMUNITY_TIER_LABELS,
    COMMUNITY_TYPE_LABELS,
    CONTRACT_KIND_LABELS,
    CONTRACT_STATUS_LABELS,
    CREATION_LEVEL_LABELS,
    DIRECTION_LABELS,
    FUND_DIRECTION_LABELS,
    FUND_MOVEMENT_KIND_LABELS,
    LEDGER_KIND_LABELS,
    NEED_STATUS_LABELS,
    PLAN_LINE_STATE_LABELS,
    PLATFORM_LEVEL_LABELS,
    PRIORITY_LABELS,
)
from market.matching import AllianceOffer, Bundle, MatchScore, Part, explain_bundle
from market.subsidy import AcceptanceLevel
from market.tables import (
    CommunityPool,
    CommunityStatus,
    CommunityTier,
    CommunityType,
    ContractKind,
    ContractStatus,
    CreationLevel,
    FundInKind,
    LedgerKind,
    NeedStatus,
    PlanLineState,
    PlatformLevel,
    RegistryDecision,
)

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Reason = Annotated[str, msgspec.Meta(max_length=2000)]
OptionalReason = Annotated[str, msgspec.Meta(max_length=2000, description="理由；不填时按决定内容记录")]
CategoryCode = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Fen = Annotated[int, msgspec.Meta(ge=0, le=10**13, description="金额（分）")]
PositiveFen = Annotated[int, msgspec.Meta(gt=0, le=10**13, description="金额（分）")]
Priority = Annotated[int, msgspec.Meta(ge=1, le=3, description="优先级：1 高、2 中、3 低")]
Households = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
Share = Annotated[Decimal, msgspec.Meta(description="比例，0 至 1")]
Hectares = Annotated[Decimal, msgspec.Meta(description="面积（公顷）")]
IdList = Annotated[list[int], msgspec.Meta(max_length=100)]

V = TypeVar("V", bound=msgspec.Struct)


def _view(cls: type[V], row: msgspec.Struct, **derived: object) -> V:
    """`cls` filled from the row's fields of the same name, plus the `derived` ones (labels)."""
    return cls(**{name: getattr(row, name) for name in cls.__struct_fields__ if name not in derived}, **derived)


# Communities -----------------------------------------------------------------------------------


class CommunityFields(Input):
    community_type: CommunityType
    tier: CommunityTier
    pool: CommunityPool
    creation_level: CreationLevel = CreationLevel.undecided
    planned_start: date | None = None
    planned_finish: date | None = None
    area_hectares: Hectares = Decimal("0")
    households: Households = 0
    elderly_share: Share = Decimal("0")
    children_share: Share = Decimal("0")
    status: CommunityStatus = CommunityStatus.planning


class CommunityCreate(CommunityFields, kw_only=True):
    name: Name
    street_id: int


class CommunityUpdate(Input):
    community_type: CommunityType | None = None
    tier: CommunityTier | None = None
    pool: CommunityPool | None = None
    creation_level: CreationLevel | None = None
    planned_start: date | None = None
    planned_finish: date | None = None
    area_hectares: Hectares | None = None
    households: Households | None = None
    elderly_share: Share | None = None
    children_share: Share | None = None
    status: CommunityStatus | None = None


class CommunityRow(msgspec.Struct, kw_only=True):
    """A community file with the names of its district and street and its place in the org tree."""

    id: int
    org_id: int
    org_path: str
    name: str
    district_id: int
    district_name: str
    street_id: int
    street_name: str
    community_type: str
    tier: str
    pool: str
    creation_level: str
    planned_start: date | None
    planned_finish: date | None
    area_hectares: Decimal
    households: int
    elderly_share: Decimal
    children_share: Decimal
    status: str
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None = None
    accepted_satisfaction: Decimal | None = None


class CommunityView(msgspec.Struct, kw_only=True):
    id: int
    org_id: int
    name: str
    district_id: int
    district_name: str
    street_id: int
    street_name: str
    community_type: CommunityType
    community_type_label: str
    tier: CommunityTier
    tier_label: str
    pool: CommunityPool
    pool_label: str
    creation_level: CreationLevel
    creation_level_label: str
    planned_start: date | None
    planned_finish: date | None
    area_hectares: Decimal
    households: int
    elderly_share: Decimal
    children_share: Decimal
    status: CommunityStatus
    status_label: str
    updated_at: datetime
    accepted_at: datetime | None = None  # 验收通过, on a satisfaction rate at or above the setting
    accepted_satisfaction: Decimal | None = None

    @classmethod
    def of(cls, row: CommunityRow) -> CommunityView:
        return _view(
            cls,
            row,
            community_type_label=COMMUNITY_TYPE_LABELS[row.community_type],
            tier_label=COMMUNITY_TIER_LABELS[row.tier],
            pool_label=COMMUNITY_POOL_LABELS[row.pool],
            creation_level_label=CREATION_LEVEL_LABELS[row.creation_level],
            status_label=COMMUNITY_STATUS_LABELS[row.status],
        )


# Needs -----------------------------------------------------------------------------------------


class NeedCreate(Input):
    category: CategoryCode
    priority: Priority = 2
    text: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class NeedRow(msgspec.Struct, kw_only=True):
    id: int
    community_id: int
    community_name: str
    district_id: int
    org_path: str
    category: str
    category_name: str
    priority: int
    text: str
    status: str
    created_at: datetime
    updated_at: datetime
    vote_poll_id: int | None = None
    vote_winner_operator_id: int | None = None
    vote_winner_label: str = ""
    vote_closed_at: datetime | None = None
    vote_quorum_met: bool | None = None
    vote_decision_follows: bool | None = None
    vote_decision_operator_id: int | None = None
    vote_decision_label: str = ""
    vote_decision_reason: str = ""
    vote_decided_at: datetime | None = None

    @property
    def binding_winner(self) -> int | None:
        """The operator residents chose in a quorate vote: allocation and signing follow it unless an official
        writes why not. A package winning, a tie or a vote short of its quorum binds no operator."""
        return self.vote_winner_operator_id if self.vote_quorum_met else None


class NeedVote(msgspec.Struct, kw_only=True):
    """The residents' vote on a need, as shown with the need: binding only when the quorum was met."""

    poll_id: int
    closed_at: datetime
    quorum_met: bool
    winner_operator_id: int | None
    winner_label: str
    binding: bool
    decision_follows: bool | None
    decision_operator_id: int | None
    decision_label: str
    decision_reason: str
    decided_at: datetime | None

    @classmethod
    def of(cls, row: NeedRow) -> NeedVote | None:
        if row.vote_poll_id is None or row.vote_closed_at is None:
            return None
        return cls(
            poll_id=row.vote_poll_id,
            closed_at=row.vote_closed_at,
            quorum_met=bool(row.vote_quorum_met),
            winner_operator_id=row.vote_winner_operator_id,
            winner_label=row.vote_winner_label,
            binding=row.binding_winner is not None,
            decision_follows=row.vote_decision_follows,
            decision_operator_id=row.vote_decision_operator_id,
            decision_label=row.vote_decision_label,
            decision_reason=row.vote_decision_reason,
            decided_at=row.vote_decided_at,
        )


class NeedView(msgspec.Struct, kw_only=True):
    id: int
    community_id: int
    community_name: str
    category: str
    category_name: str
    priority: int
    priority_label: str
    text: str
    status: NeedStatus
    status_label: str
    created_at: datetime
    vote: NeedVote | None = None

    @classmethod
    def of(cls, row: NeedRow) -> NeedView:
        return _view(
            cls,
            row,
            priority_label=PRIORITY_LABELS[row.priority],
            status_label=NEED_STATUS_LABELS[row.status],
            vote=NeedVote.of(row),
        )


class ServingOperator(msgspec.Struct, kw_only=True):
    """An operator told by email when a community publishes a need it could serve."""

    id: int
    name: str
    contact_email: str


class ReasonInput(Input):
    reason: Reason


class OptionalReasonInput(Input):
    reason: OptionalReason = ""


# Matching and allocation -----------------------------------------------------------------------


class MatchView(msgspec.Struct, kw_only=True):
    operator_id: int
    operator_name: str
    total: float
    covered: list[str]
    covered_names: list[str]
    parts: list[Part]
    voted_for: list[str] = []  # names of the categories whose quorate residents' vote chose this operator

    @classmethod
    def of(cls, scored: MatchScore, names: dict[str, str], voted: list[str] | None = None) -> MatchView:
        covered = sorted(scored.covered)
        return cls(
            operator_id=scored.operator_id,
            operator_name=scored.name,
            total=scored.total,
            covered=covered,
            covered_names=[names.get(c, c) for c in covered],
            parts=list(scored.parts),
            voted_for=[names.get(c, c) for c in sorted(voted or [])],
        )


class BundleView(msgspec.Struct, kw_only=True):
    integrated: MatchView | None
    specialists: dict[str, MatchView]
    uncovered: list[str]
    explanation: str


class AllianceOfferView(msgspec.Struct, kw_only=True):
    """An industry alliance offered as one candidate for the community's needs, explained like a bundle."""

    alliance_id: int
    alliance_name: str
    total: float
    bundle: BundleView

    @classmethod
    def of(cls, offer: AllianceOffer, names: dict[str, str]) -> AllianceOfferView:
        inner = offer.bundle
        return cls(
            alliance_id=offer.alliance_id,
            alliance_name=offer.name,
            total=offer.total,
            bundle=BundleView(
                integrated=MatchView.of(inner.integrated, names) if inner.integrated else None,
                specialists={c: MatchView.of(s, names) for c, s in inner.specialists.items()},
                uncovered=sorted(inner.uncovered),
                explanation=f"产业联盟{offer.name}：" + explain_bundle(inner, names),
            ),
        )


class Shortlist(msgspec.Struct, kw_only=True):
    """What matching found for one community's open needs, before it is shown."""

    community: CommunityRow
    open_needs: list[str]
    weights: dict[str, float]
    candidates: int
    shortlist: list[MatchScore]
    bundle: Bundle
    category_names: dict[str, str]
    vote_winners: dict[int, list[str]] = {}  # operator → categories whose quorate residents' vote it won
    alliances: list[AllianceOffer] = []


class MatchResult(msgspec.Struct, kw_only=True):
    community_id: int
    community_name: str
    open_needs: list[str]
    weights: dict[str, float]
    candidates: int
    shortlist: list[MatchView]
    bundle: BundleView
    alliances: list[AllianceOfferView]

    @classmethod
    def of(cls, found: Shortlist) -> MatchResult:
        names, offer = found.category_names, found.bundle
        return cls(
            community_id=found.community.id,
            community_name=found.community.name,
            open_needs=found.open_needs,
            weights=found.weights,
            candidates=found.candidates,
            shortlist=[MatchView.of(s, names, found.vote_winners.get(s.operator_id)) for s in found.shortlist],
            bundle=BundleView(
                integrated=MatchView.of(offer.integrated, names) if offer.integrated else None,
                specialists={c: MatchView.of(s, names) for c, s in offer.specialists.items()},
                uncovered=sorted(offer.uncovered),
                explanation=explain_bundle(offer, names) if found.open_needs else "社区暂无待对接需求",
            ),
            alliances=[AllianceOfferView.of(a, names) for a in found.alliances],
        )


class ScopedNeed(msgspec.Struct, kw_only=True):
    """An open need with the community facts that allocation groups it by."""

    id: int
    category: str
    priority: int
    community_id: int
    community_name: str
    district_id: int
    community_type: str
    vote_winner_operator_id: int | None = None  # the winner of a quorate residents' vote on the need


class CandidateRow(msgspec.Struct, kw_only=True):
    """An operator in good standing with what scoring needs (see repository.match_candidates)."""

    id: int
    name: str
    registry_status: str
    capacity: int
    district_ids: list[int]
    categories: list[str]
    contracts: int
    renovation_experience: int
    new_build_experience: int
    evaluation_ends: list[date]
    evaluation_scores: list[int]


class AllocationRequest(Input):
    district_id: int | None = None


class PlanLineRow(msgspec.Struct, kw_only=True):
    id: int
    plan_id: int
    need_id: int
    category: str
    category_name: str
    community_id: int
    community_name: str
    community_path: str
    operator_id: int | None
    operator_name: str
    score: Decimal | None
    state: str
    contract_id: int | None
    reason: str
    alliance_id: int | None = None  # the line gives the community's needs to this alliance together
    alliance_name: str = ""
    alliance_lead_id: int | None = None
    explanation: str = ""
    street_id: int = 0


class AllocationLineView(msgspec.Struct, kw_only=True):
    id: int
    need_id: int
    category: str
    category_name: str
    community_id: int
    community_name: str
    operator_id: int | None
    operator_name: str
    score: Decimal | None
    state: PlanLineState
    state_label: str
    contract_id: int | None
    reason: str
    alliance_id: int | None
    alliance_name: str
    explanation: str

    @classmethod
    def of(cls, row: PlanLineRow) -> AllocationLineView:
        return _view(cls, row, state_label=PLAN_LINE_STATE_LABELS[row.state])


class PlanRow(msgspec.Struct, kw_only=True):
    id: int
    scope_org_id: int
    scope_name: str
    scope_path: str
    total_score: Decimal
    greedy_score: Decimal
    need_count: int
    weights: dict[str, float]
    created_at: datetime


class AllocationPlanView(msgspec.Struct, kw_only=True):
    id: int
    scope_org_id: int
    scope_name: str
    need_count: int
    assigned: int
    total_score: Decimal
    greedy_score: Decimal
    weights: dict[str, float]
    created_at: datetime
    lines: list[AllocationLineView]

    @classmethod
    def of(cls, plan: PlanRow, lines: list[PlanLineRow]) -> AllocationPlanView:
        return _view(
            cls,
            plan,
            assigned=sum(1 for line in lines if line.operator_id is not None),
            lines=[AllocationLineView.of(line) for line in lines],
        )


class PlanLineAccept(Input):
    starts_on: date | None = None
    ends_on: date | None = None
    annual_fee: Fen | None = None
    kpis: Annotated[str, msgspec.Meta(max_length=5000)] | None = None
    reason: OptionalReason = ""


# Contracts -------------------------------------------------------------------------------------


class ContractLineInput(Input):
    operator_id: int
    category: CategoryCode
    fee_share: Annotated[Decimal, msgspec.Meta(description="该成员在合同费用中的分成比例，各行合计为 1")]


class ContractLineRow(msgspec.Struct, kw_only=True):
    id: int
    operator_id: int
    operator_name: str
    category: str
    fee_share: Decimal


class ContractLineView(View):
    id: int
    operator_id: int
    operator_name: str
    category: str
    fee_share: Decimal


class FeePaymentInput(Input):
    month: date
    amount: PositiveFen


class ContractCreate(Input):
    operator_id: int
    categories: Annotated[list[CategoryCode], msgspec.Meta(min_length=1, max_length=20)]
    starts_on: date
    ends_on: date
    community_id: int | None = None
    street_id: int | None = None
    annual_fee: Fen = 0
    revenue_share: Share | None = None
    kpis: Annotated[str, msgspec.Meta(max_length=5000)] = ""
    need_ids: IdList = []
    reason: OptionalReason = ""
    kind: ContractKind = ContractKind.service
    scope: Annotated[str, msgspec.Meta(max_length=200, description="特许经营的独占经营范围，如“社区综合能源供应”")] = ""
    franchise_fee: Annotated[Fen, msgspec.Meta(description="特许经营者每年向社区缴纳的特许经营费（分）")] = 0
    renewal_terms: Annotated[str, msgspec.Meta(max_length=5000, description="续约条款")] = ""
    termination_terms: Annotated[str, msgspec.Meta(max_length=5000, description="提前终止条款")] = ""
    master_contract_id: Annotated[
        int | None, msgspec.Meta(description="国企平台总运营合同下的分包合同：总合同编号")
    ] = None
    alliance_id: Annotated[int | None, msgspec.Meta(description="联合体合同：产业联盟编号（与牵头运营商签订）")] = None
    lines: Annotated[list[ContractLineInput], msgspec.Meta(max_length=30)] = []


class ContractUpdate(Input):
    categories: Annotated[list[CategoryCode], msgspec.Meta(min_length=1, max_length=20)] | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    annual_fee: Fen | None = None
    revenue_share: Share | None = None
    kpis: Annotated[str, msgspec.Meta(max_length=5000)] | None = None


class ContractRenewal(Input):
    ends_on: date
    reason: Reason
    annual_fee: Fen | None = None
    revenue_share: Share | None = None
    kpis: Annotated[str, msgspec.Meta(max_length=5000)] | None = None


class ContractRow(msgspec.Struct, kw_only=True):
    id: int
    street_id: int
    street_name: str
    street_path: str
    community_id: int | None
    community_name: str | None
    operator_id: int
    operator_name: str
    operator_org_id: int
    categories: list[str]
    starts_on: date
    ends_on: date
    annual_fee: int
    revenue_share: Decimal | None
    kpis: str
    status: str
    renewal_of: int | None
    need_ids: list[int]
    signed_at: datetime | None
    terminated_at: datetime | None
    termination_reason: str
    created_at: datetime
    kind: str = "service"
    scope: str = ""
    franchise_fee: int = 0
    renewal_terms: str = ""
    termination_terms: str = ""
    master_contract_id: int | None = None
    alliance_id: int | None = None


class ContractView(msgspec.Struct, kw_only=True):
    id: int
    street_id: int
    street_name: str
    community_id: int | None
    community_name: str | None
    operator_id: int
    operator_name: str
    categories: list[str]
    starts_on: date
    ends_on: date
    annual_fee: int
    revenue_share: Decimal | None
    kpis: str
    status: ContractStatus
    status_label: str
    renewal_of: int | None
    need_ids: list[int]
    signed_at: datetime | None
    terminated_at: datetime | None
    termination_reason: str
    kind: ContractKind
    kind_label: str
    scope: str
    franchise_fee: int
    renewal_terms: str
    termination_terms: str
    master_contract_id: int | None
    alliance_id: int | None

    @classmethod
    def of(cls, row: ContractRow) -> ContractView:
        return _view(
            cls, row, status_label=CONTRACT_STATUS_LABELS[row.status], kind_label=CONTRACT_KIND_LABELS[row.kind]
        )


# Ledger and balance ----------------------------------------------------------------------------


class LedgerPost(Input):
    month: date
    kind: LedgerKind
    amount: PositiveFen
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=100, description="凭证号或其他唯一来源编号")]
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class OperatorCosts(Input):
    staff: Fen = 0
    utilities: Fen = 0
    maintenance: Fen = 0
    other_cost: Fen = 0


class OperatorMonthlyReport(Input):
    month: date
    service_revenue: Fen = 0
    costs: OperatorCosts = msgspec.field(default_factory=OperatorCosts)


class LedgerEntryRow(msgspec.Struct, kw_only=True):
    """An entry as written; a listed entry also carries when and by which organisation."""

    id: int
    community_id: int | None = None
    month: date
    direction: str
    kind: str
    amount: int
    source: str
    contract_id: int | None = None
    note: str
    created_at: datetime | None = None
    posted_by_org_name: str = ""


class PostedVoucher(msgspec.Struct, kw_only=True):
    """Who already posted a voucher: what a second posting of it is told."""

    id: int
    posted_by_org_id: int | None
    posted_by_org_name: str | None


class LedgerEntryView(msgspec.Struct, kw_only=True):
    id: int
    month: date
    direction: str
    direction_label: str
    kind: str
    kind_label: str
    amount: int
    source: str
    note: str

    @classmethod
    def of(cls, row: LedgerEntryRow) -> LedgerEntryView:
        return _view(cls, row, direction_label=DIRECTION_LABELS[row.direction], kind_label=LEDGER_KIND_LABELS[row.kind])


class BalanceFigures(msgspec.Struct, kw_only=True):
    income: int
    cost: int
    ratio: Decimal | None
    status: str
    status_label: str

    @classmethod
    def of(cls, result: Balance) -> BalanceFigures:
        ratio = result.ratio.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP) if result.ratio is not None else None
        return cls(
            income=result.income, cost=result.cost, ratio=ratio, status=result.status.value, status_label=result.label
        )


class MonthFigures(msgspec.Struct, kw_only=True):
    month: date
    income: int
    cost: int


class KindFigures(msgspec.Struct, kw_only=True):
    direction: str
    kind: str
    label: str
    amount: int


class KindTotal(msgspec.Struct, kw_only=True):
    direction: str
    kind: str
    amount: int


class CommunityBalance(msgspec.Struct, kw_only=True):
    community: CommunityRow
    start: date
    end: date
    balance: Balance
    monthly: list[MonthFigures]
    by_kind: list[KindFigures]
    forecast: list[MonthFigures]


class CommunityBalanceView(msgspec.Struct, kw_only=True):
    community_id: int
    community_name: str
    start: date
    end: date
    balance: BalanceFigures
    monthly: list[MonthFigures]
    by_kind: list[KindFigures]
    forecast: list[MonthFigures]

    @classmethod
    def of(cls, result: CommunityBalance) -> CommunityBalanceView:
        return _view(
            cls,
            result,
            community_id=result.community.id,
            community_name=result.community.name,
            balance=BalanceFigures.of(result.balance),
        )


class CommunityReport(msgspec.Struct, kw_only=True):
    """Everything the one-click report of one community shows; `sections` come from other domains."""

    community: CommunityRow
    needs: list[NeedRow]
    contracts: list[ContractRow]
    balance: CommunityBalance
    sections: list[Any]
    generated_at: datetime
    category_names: dict[str, str]  # service category code → its Chinese name, for the contracts' categories


class CommunityTotals(msgspec.Struct, kw_only=True):
    """A community with its income and cost over a window."""

    id: int
    name: str
    org_path: str
    district_id: int
    district_name: str
    street_id: int
    street_name: str
    status: str
    community_type: str
    income: int
    cost: int


class CommunityBalanceRow(msgspec.Struct, kw_only=True):
    community: CommunityTotals
    balance: Balance


class Overview(msgspec.Struct, kw_only=True):
    """One page of communities in scope, worst balance first, with the figures of the whole scope."""

    start: date
    end: date
    thresholds: Thresholds
    communities: int
    counts: dict[str, int]
    total: Balance
    items: list[CommunityBalanceRow]
    matching: int


class OverviewItem(msgspec.Struct, kw_only=True):
    community_id: int
    community_name: str
    district_id: int
    district_name: str
    street_name: str
    community_status: str
    balance: BalanceFigures

    @classmethod
    def of(cls, row: CommunityBalanceRow) -> OverviewItem:
        community = row.community
        return cls(
            community_id=community.id,
            community_name=community.name,
            district_id=community.district_id,
            district_name=community.district_name,
            street_name=community.street_name,
            community_status=community.status,
            balance=BalanceFigures.of(row.balance),
        )


class BalanceOverview(msgspec.Struct, kw_only=True):
    start: date
    end: date
    balanced_at: Decimal
    warning_at: Decimal
    communities: int
    counts: dict[str, int]
    total: BalanceFigures
    matching: int
    limit: int
    offset: int
    items: list[OverviewItem]

    @classmethod
    def of(cls, found: Overview, limit: int, offset: int) -> BalanceOverview:
        return _view(
            cls,
            found,
            balanced_at=found.thresholds.balanced_at,
            warning_at=found.thresholds.warning_at,
            total=BalanceFigures.of(found.total),
            limit=limit,
            offset=offset,
            items=[OverviewItem.of(row) for row in found.items],
        )


# Subsidies -------------------------------------------------------------------------------------


class HangzhouSubsidyInput(Input):
    total_cost: Fen
    area_m2: Annotated[Decimal, msgspec.Meta(description="改造面积（平方米）")]
    share: Share


class HangzhouSubsidyView(msgspec.Struct, kw_only=True):
    subsidy: int
    cost_per_m2_counted: int
    explanation: str


class FuyangAwardInput(Input):
    spend: Fen
    target_level: AcceptanceLevel
    levels_passed: Annotated[list[AcceptanceLevel], msgspec.Meta(max_length=5)] = []
    target_met: bool = True


class FuyangAwardView(msgspec.Struct, kw_only=True):
    cap: int
    award: int
    saving_reward: int
    street_own_share: int
    paid_now: int
    paid_after_acceptance: int
    total: int
    explanation: str


class ComplaintInput(Input):
    received_on: date  # the day the resident complained
    text: Annotated[str, msgspec.Meta(max_length=2000)]


class ComplaintView(msgspec.Struct, kw_only=True):
    id: int
    contract_id: int
    received_on: date
    text: str
    filed_by_org_id: int
    created_at: datetime


class RegistryDecisionInput(Input):
    decision: RegistryDecision
    reason: Reason


class RegistryDecisionView(msgspec.Struct, kw_only=True):
    contract_id: int
    status_decision_id: int
    decision: str
    reason: str
    contract_status: str


# Community fund --------------------------------------------------------------------------------


class FundOpen(Input):
    name: Name
    charter: Annotated[str, msgspec.Meta(max_length=5000, description="基金章程或设立文件编号")] = ""


class FundContribution(Input):
    kind: FundInKind
    amount: PositiveFen
    counterparty: Annotated[str, msgspec.Meta(max_length=200, description="捐赠人或拨款单位")]
    reference: Annotated[str, msgspec.Meta(max_length=100, description="收款凭证号")]
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class FundGrant(Input):
    amount: PositiveFen
    purpose: Annotated[str, msgspec.Meta(max_length=2000, description="资助用途（居民自治或公益活动）")]
    counterparty: Annotated[str, msgspec.Meta(max_length=200, description="受资助的居民组织或活动")]
    reference: Annotated[str, msgspec.Meta(max_length=100, description="支出票据号")]


class FundRow(msgspec.Struct, kw_only=True):
    id: int
    community_id: int
    community_name: str
    org_path: str
    name: str
    charter: str
    balance: int
    opened_at: datetime


class FundView(msgspec.Struct, kw_only=True):
    id: int
    community_id: int
    community_name: str
    name: str
    charter: str
    balance: int
    opened_at: datetime

    @classmethod
    def of(cls, row: FundRow) -> FundView:
        return _view(cls, row)


class FundMovementRow(msgspec.Struct, kw_only=True):
    id: int
    fund_id: int
    direction: str
    kind: str
    amount: int
    balance_after: int
    source: str
    counterparty: str
    purpose: str
    reference: str
    approved_by_name: str | None = None
    ledger_entry_id: int | None = None
    created_at: datetime


class FundMovementView(msgspec.Struct, kw_only=True):
    id: int
    direction: str
    direction_label: str
    kind: str
    kind_label: str
    amount: int
    balance_after: int
    source: str
    counterparty: str
    purpose: str
    reference: str
    approved_by_name: str | None
    ledger_entry_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, row: FundMovementRow) -> FundMovementView:
        return _view(
            cls,
            row,
            direction_label=FUND_DIRECTION_LABELS[row.direction],
            kind_label=FUND_MOVEMENT_KIND_LABELS[row.kind],
        )


# Franchises ------------------------------------------------------------------------------------


class FranchiseInvoiceInput(Input):
    month: date
    revenue: Annotated[Fen, msgspec.Meta(description="特许经营者当月经营收入（分），按分成比例计费")] = 0


class FranchiseInvoiceRow(msgspec.Struct, kw_only=True):
    id: int
    contract_id: int
    month: date
    revenue: int
    fee_amount: int
    share_amount: int
    amount: int
    ledger_entry_id: int
    created_at: datetime


class FranchiseInvoiceView(View):
    id: int
    contract_id: int
    month: date
    revenue: int
    fee_amount: int
    share_amount: int
    amount: int
    ledger_entry_id: int


# State-owned platforms -------------------------------------------------------------------------


class PlatformDesignate(Input):
    org_id: int
    level: PlatformLevel
    reason: Reason
    district_id: int | None = None


class PlatformRow(msgspec.Struct, kw_only=True):
    id: int
    org_id: int
    org_name: str
    org_path: str
    level: str
    district_id: int | None
    district_name: str | None
    reason: str
    designated_at: datetime


class PlatformView(msgspec.Struct, kw_only=True):
    id: int
    org_id: int
    org_name: str
    level: PlatformLevel
    level_label: str
    district_id: int | None
    district_name: str | None
    reason: str
    designated_at: datetime

    @classmethod
    def of(cls, row: PlatformRow) -> PlatformView:
        return _view(cls, row, level_label=PLATFORM_LEVEL_LABELS[row.level])


class AssignmentInput(Input):
    community_id: int
    starts_on: date
    reason: Reason


class AssignmentRow(msgspec.Struct, kw_only=True):
    id: int
    platform_id: int
    community_id: int
    community_name: str
    community_type: str
    district_name: str
    street_name: str
    starts_on: date
    ends_on: date | None
    reason: str


class AssignmentView(View):
    id: int
    platform_id: int
    community_id: int
    community_name: str
    district_name: str
    street_name: str
    starts_on: date
    ends_on: date | None
    reason: str


class MasterContractInput(Input):
    starts_on: date
    ends_on: date
    reason: Reason
    annual_fee: Fen = 0
    terms: Annotated[str, msgspec.Meta(max_length=5000, description="总运营合同主要条款")] = ""


class MasterContractRow(msgspec.Struct, kw_only=True):
    id: int
    platform_id: int
    starts_on: date
    ends_on: date
    annual_fee: int
    terms: str
    status: str
    signed_at: datetime


class MasterContractView(View):
    id: int
    platform_id: int
    starts_on: date
    ends_on: date
    annual_fee: int
    terms: str
    status: str
    signed_at: datetime


class PlatformDetail(msgspec.Struct, kw_only=True):
    platform: PlatformView
    communities: list[AssignmentView]
    master_contract: MasterContractView | None
    sub_contracts: int


class PortfolioLine(msgspec.Struct, kw_only=True):
    community_id: int
    community_name: str
    income: int
    cost: int
    net: int
    ratio: Decimal | None


class PortfolioView(msgspec.Struct, kw_only=True):
    platform_id: int
    start: date
    end: date
    communities: list[PortfolioLine]
    income: int
    cost: int
    net: int
    ratio: Decimal | None
    surplus: int
    deficit: int
    cross_subsidy: int
    explanation: str


class AllianceCommunity(msgspec.Struct, kw_only=True):
    """A community an alliance serves under a consortium contract, with its balance over the window."""

    community_id: int
    community_name: str
    contract_id: int
    income: int
    cost: int
    net: int
    ratio: Decimal | None
    satisfaction: Decimal | None = None  # filled once residents' surveys exist
