"""Communities, their needs, service contracts and the operating ledger."""

from __future__ import annotations

from enum import Enum

from piccolo.columns import (
    JSONB,
    Array,
    BigInt,
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
from piccolo.table import Table

from core.accounts.tables import Organisation, User
from providers.tables import Alliance, Operator, StatusDecision


class CommunityType(str, Enum):
    renovation = "renovation"  # 旧改类
    new_build = "new_build"  # 新建类


class CommunityTier(str, Enum):
    inclusive = "inclusive"  # 普惠型
    leading = "leading"  # 引领型


class CommunityPool(str, Enum):
    creation = "creation"  # 创建型
    reserve = "reserve"  # 储备型
    basic = "basic"  # 基础型


class CreationLevel(str, Enum):
    province = "province"  # 省级
    city = "city"  # 市级
    joint = "joint"  # 省市联创
    undecided = "undecided"  # 待定


class CommunityStatus(str, Enum):
    planning = "planning"
    building = "building"
    accepted = "accepted"
    operating = "operating"


class LedgerKind(str, Enum):
    rent = "rent"
    service_revenue = "service_revenue"
    subsidy = "subsidy"
    other_income = "other_income"
    staff = "staff"
    utilities = "utilities"
    maintenance = "maintenance"
    service_fee = "service_fee"
    other_cost = "other_cost"


class NeedStatus(str, Enum):
    open = "open"
    matched = "matched"
    closed = "closed"


class ContractStatus(str, Enum):
    draft = "draft"
    active = "active"
    expiring = "expiring"
    renewed = "renewed"
    terminated = "terminated"


class ContractKind(str, Enum):
    service = "service"  # 服务合同
    franchise = "franchise"  # 特许经营


class EntryDirection(str, Enum):
    income = "income"
    cost = "cost"


class PlanLineState(str, Enum):
    proposed = "proposed"
    accepted = "accepted"
    rejected = "rejected"


class Community(Table, tablename="market_community"):
    """一社一档: the file of one future community. `org` is its node in the org tree (kind community)."""

    id: Serial
    org = ForeignKey(Organisation, null=False, unique=True)
    name = Varchar(length=200, index=True)
    district = ForeignKey(Organisation, null=False, index=True)
    street = ForeignKey(Organisation, null=False, index=True)
    community_type = Varchar(length=12, choices=CommunityType)
    tier = Varchar(length=12, choices=CommunityTier)
    pool = Varchar(length=12, choices=CommunityPool)
    creation_level = Varchar(length=12, choices=CreationLevel, default=CreationLevel.undecided)
    planned_start = Date(null=True, default=None)
    planned_finish = Date(null=True, default=None)
    area_hectares = Numeric(digits=(10, 2))
    households = Integer(default=0)
    elderly_share = Numeric(digits=(5, 4))
    children_share = Numeric(digits=(5, 4))
    status = Varchar(length=12, choices=CommunityStatus, default=CommunityStatus.planning, index=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    # 验收通过: marked by an official once the residents' satisfaction rate reached the setting (residents/).
    accepted_at = Timestamptz(null=True, default=None)
    accepted_by = ForeignKey(User, null=True, default=None)
    accepted_satisfaction = Numeric(digits=(5, 2), null=True, default=None)


class Need(Table, tablename="market_need"):
    id: Serial
    community = ForeignKey(Community, null=False, index=True)
    category = Varchar(length=40)
    priority = Integer(default=2)  # 1 high, 2 normal, 3 low
    text = Text(default="")
    status = Varchar(length=10, choices=NeedStatus, default=NeedStatus.open, index=True)
    created_by = ForeignKey(User, null=False)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    # The residents' vote on this need (the latest poll closed on it), written by the poll's closing job,
    # and the street's decision to follow its winner or not. Allocation and signing read them here.
    vote_poll_id = Integer(null=True, default=None)
    vote_winner_operator_id = ForeignKey(Operator, null=True, default=None)
    vote_winner_label = Varchar(length=200, default="")
    vote_closed_at = Timestamptz(null=True, default=None)
    vote_quorum_met = Boolean(null=True, default=None)
    vote_decision_follows = Boolean(null=True, default=None)
    vote_decision_operator_id = ForeignKey(Operator, null=True, default=None)
    vote_decision_label = Varchar(length=200, default="")
    vote_decision_reason = Text(default="")
    vote_decided_by = ForeignKey(User, null=True, default=None)
    vote_decided_at = Timestamptz(null=True, default=None)


class ServiceContract(Table, tablename="market_contract"):
    """Community (or street) × operator over [starts_on, ends_on). A draft already holds a unit of the
    operator's capacity, so what officials agree to can always be signed."""

    id: Serial
    street = ForeignKey(Organisation, null=False, index=True)
    community = ForeignKey(Community, null=True, default=None, index=True)
    operator = ForeignKey(Operator, null=False, index=True)
    categories = Array(base_column=Varchar(length=40))
    starts_on = Date()
    ends_on = Date()
    annual_fee = BigInt(default=0)  # fen, paid to the operator
    revenue_share = Numeric(digits=(5, 4), null=True, default=None)  # share of service revenue paid back
    kpis = Text(default="")
    status = Varchar(length=12, choices=ContractStatus, default=ContractStatus.draft, index=True)
    renewal_of: ForeignKey = ForeignKey("self", null=True, default=None)
    need_ids = Array(base_column=Integer())
    kind = Varchar(length=10, choices=ContractKind, default=ContractKind.service)
    scope = Varchar(length=200, default="")  # a franchise's exclusive scope in its community
    franchise_fee = BigInt(default=0)  # fen a year, paid by a franchisee to the community
    renewal_terms = Text(default="")
    termination_terms = Text(default="")  # early termination
    master_contract = Integer(null=True, default=None)  # a state-owned platform's master contract (FK in SQL)
    alliance = Integer(null=True, default=None)  # a consortium contract's industry alliance (FK in SQL)
    created_by = ForeignKey(User, null=False)
    signed_by = ForeignKey(User, null=True, default=None)
    signed_at = Timestamptz(null=True, default=None)
    terminated_by = ForeignKey(User, null=True, default=None)
    terminated_at = Timestamptz(null=True, default=None)
    termination_reason = Text(default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class LedgerEntry(Table, tablename="market_ledger_entry"):
    """Income or cost of one community in one month. `source` names where the money came from and is
    unique, so nothing is ever posted twice."""

    id: Serial
    community = ForeignKey(Community, null=False)
    month = Date()  # first day of the month, Asia/Shanghai
    direction = Varchar(length=6, choices=EntryDirection)
    kind = Varchar(length=20)
    amount = BigInt()  # fen, > 0
    source = Varchar(length=200, unique=True)
    contract = ForeignKey(ServiceContract, null=True, default=None)
    note = Text(default="")
    posted_by = ForeignKey(User, null=True, default=None)
    posted_by_org = ForeignKey(Organisation, null=True, default=None)
    created_at = Timestamptz()


class AllocationPlan(Table, tablename="market_allocation_plan"):
    id: Serial
    scope_org = ForeignKey(Organisation, null=False)
    created_by = ForeignKey(User, null=False)
    total_score = Numeric(digits=(12, 1))
    greedy_score = Numeric(digits=(12, 1))
    need_count = Integer()
    weights = JSONB(default="{}")
    created_at = Timestamptz()


class AllocationLine(Table, tablename="market_allocation_line"):
    id: Serial
    plan = ForeignKey(AllocationPlan, null=False, index=True)
    need = ForeignKey(Need, null=False)
    operator = ForeignKey(Operator, null=True, default=None)  # null: no operator could take it
    score = Numeric(digits=(6, 1), null=True, default=None)
    state = Varchar(length=10, choices=PlanLineState, default=PlanLineState.proposed)
    contract = ForeignKey(ServiceContract, null=True, default=None)
    decided_by = ForeignKey(User, null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    reason = Text(default="")
    alliance = ForeignKey(Alliance, null=True, default=None)  # the community's needs go to this alliance together
    explanation = Text(default="")


class Complaint(Table, tablename="market_complaint"):
    """A resident's complaint about a contract's service, recorded by the official who received it."""

    id: Serial
    contract = ForeignKey(ServiceContract, null=False, index=True)
    received_on = Date()
    text = Text()
    filed_by = ForeignKey(User, null=False)
    filed_by_org = ForeignKey(Organisation, null=False)
    created_at = Timestamptz()


class RegistryDecision(str, Enum):
    continue_ = "continue"  # to the end of the term
    terminate = "terminate"


class ContractRegistryDecision(Table, tablename="market_contract_registry_decision"):
    """A street's decision on a contract whose operator the registry suspended or removed."""

    id: Serial
    contract = ForeignKey(ServiceContract, null=False)
    status_decision = ForeignKey(StatusDecision, null=False)
    decision = Varchar(length=10, choices=RegistryDecision)
    reason = Text()
    decided_by = ForeignKey(User, null=False)
    decided_at = Timestamptz()


class FundMovementKind(str, Enum):
    donation = "donation"  # 捐赠
    subsidy = "subsidy"  # 补助
    grant = "grant"  # 资助居民自治和公益活动
    points_payout = "points_payout"  # 居民积分兑付运营商


class FundInKind(str, Enum):
    donation = "donation"
    subsidy = "subsidy"


class Fund(Table, tablename="market_fund"):
    """社区基金: one account per community. `balance` never goes below zero (a CHECK in the database)."""

    id: Serial
    community = ForeignKey(Community, null=False, unique=True)
    name = Varchar(length=200)
    charter = Text(default="")
    balance = BigInt(default=0)  # fen
    opened_by = ForeignKey(User, null=False)
    opened_at = Timestamptz()
    updated_at = Timestamptz()


class FundMovement(Table, tablename="market_fund_movement"):
    """Money into or out of a fund, unique by its source; in and out movements also sit on the community's
    ledger (`ledger_entry`), except points payouts, whose cost the paying service posts itself."""

    id: Serial
    fund = ForeignKey(Fund, null=False, index=True)
    direction = Varchar(length=3)  # in | out
    kind = Varchar(length=16, choices=FundMovementKind)
    amount = BigInt()  # fen, > 0
    balance_after = BigInt()
    source = Varchar(length=200, unique=True)
    counterparty = Varchar(length=200, default="")
    purpose = Text(default="")
    reference = Varchar(length=100, default="")  # receipt or voucher number
    approved_by = ForeignKey(User, null=True, default=None)
    ledger_entry = ForeignKey(LedgerEntry, null=True, default=None)
    created_at = Timestamptz()


class FranchiseInvoice(Table, tablename="market_franchise_invoice"):
    """One month of what a franchisee owes its community: a twelfth of the yearly fee plus its share of the
    month's revenue, posted to the community's ledger as it is invoiced."""

    id: Serial
    contract = ForeignKey(ServiceContract, null=False)
    month = Date()
    revenue = BigInt()
    fee_amount = BigInt()
    share_amount = BigInt()
    amount = BigInt()
    ledger_entry = ForeignKey(LedgerEntry, null=False)
    invoiced_by = ForeignKey(User, null=False)
    created_at = Timestamptz()


class PlatformLevel(str, Enum):
    city = "city"  # 市级国企平台
    district = "district"  # 区级国企平台


class Platform(Table, tablename="market_platform"):
    """国企平台: a state-owned company the city designated to run old-renovation communities together."""

    id: Serial
    org = ForeignKey(Organisation, null=False, unique=True)
    level = Varchar(length=10, choices=PlatformLevel)
    district = ForeignKey(Organisation, null=True, default=None)  # a district-level platform's district
    reason = Text()
    designated_by = ForeignKey(User, null=False)
    designated_at = Timestamptz()


class PlatformAssignment(Table, tablename="market_platform_assignment"):
    """A community under a platform over [starts_on, ends_on); the database keeps one platform at a time."""

    id: Serial
    platform = ForeignKey(Platform, null=False)
    community = ForeignKey(Community, null=False)
    starts_on = Date()
    ends_on = Date(null=True, default=None)
    reason = Text()
    assigned_by = ForeignKey(User, null=False)
    created_at = Timestamptz()


class PlatformContract(Table, tablename="market_platform_contract"):
    """The master contract of a platform, covering the communities assigned to it; one in force at a time."""

    id: Serial
    platform = ForeignKey(Platform, null=False)
    starts_on = Date()
    ends_on = Date()
    annual_fee = BigInt(default=0)
    terms = Text(default="")
    status = Varchar(length=12, default="active")
    signed_by = ForeignKey(User, null=False)
    signed_at = Timestamptz()


class ContractLine(Table, tablename="market_contract_line"):
    """A consortium contract's line: the member of the alliance serving one category, and its fee share."""

    id: Serial
    contract = ForeignKey(ServiceContract, null=False)
    operator = ForeignKey(Operator, null=False)
    category = Varchar(length=40)
    fee_share = Numeric(digits=(5, 4))
