"""Benchmark data: a whole city's registry, market and leasing, bulk-written into a freshly migrated database.

    .venv/bin/python -m bench.data --size city                      # a throwaway embedded PostgreSQL
    .venv/bin/python -m bench.data --size province --database-url postgresql://... --manifest out.json

or, from Python, `manifest = await generate(url, SIZES["city"])`. The database is migrated first (the
application's own migrations and reference data), must hold no organisation yet, and is filled as the city
stands on `today`: by default the 1st of this month in Asia/Shanghai, the night every scheduler job runs.
Nothing is flagged yet and this month is not invoiced yet.

What is generated (numbers for the city size):
  - the org tree: Hangzhou (杭州市) and its 13 districts with their division codes, Fuyang's real streets and
    8-16 streets in every other district (more for the larger sizes), 1,250 communities (一社一档) spread
    over them, one state-owned owner (城投) per district;
  - accounts that log in with one password (`Manifest.password`, hashed once with the application's own
    function): a city official, an auditor, one official per district and per street, one user per owner and
    one per operator, each with the role grant the application expects;
  - the registry: 3,000 operators with valid unified social credit codes, each with one approved
    application (its events, category claims and batch entry) published in one of 14 batches; an
    operator × category listing valid 24 months from the batch date: about 5 % expired, about 10 % ending
    within 90 days; warned, suspended and removed operators with the decision that put them there;
    up to 16 quarterly evaluations per operator;
  - the market: about three open needs per community, contracts in every status (never more holding ones
    than an operator's capacity; renewed ones with their successor; a tenth of the active ones ending within
    90 days), and 36 complete months of ledger before this month for every community (several income and
    cost kinds a month, service fees following the contracts; about 230,000 entries);
  - leasing: 10,000 spaces with 30,000 leases. Each space has a chain of consecutive leases (1 to 9, three
    on average) that never overlap: earlier ones ended, renewed by the same lessee or terminated early, and
    the current one active for about 88 % of the spaces; 6 % of the active leases end within 90 days and a
    few today. The rest of the spaces stand empty, most of them listed (an open listing, competitive or
    preferential, with a few applications already in). Leases that were awarded carry their listing and the
    winning and losing applications. Every lease month of the last 36 complete months is invoiced by the
    rules of leasing/rent.py (part months by the day, rent-free months skipped; about 330,000 invoices): paid,
    except a quarter of last month's (still open) and a few older ones (overdue);
  - residents (bench/residents.py, after the rest, in SQL over generate_series): 2,000 confirmed households
    per community (2.5 million), one community grown to 10,000 with twelve polls of 10,000 ballots each, and
    resident accounts in 100 sampled communities with an open and a closed poll each.

Sizes (`SIZES`): test (seconds, for the tests), city, province (5x the city in communities, operators,
spaces and leases, hence also the ledger and invoices), nation (50x the city, operators 10x).

How it is written: one transaction on one connection. The tables' secondary indexes, unique and exclusion
constraints and foreign keys are set aside first and rebuilt from their own definitions at the end, so the
database itself checks every row once (no two leases of a space overlap, every key resolves). Entity rows
are built in Python and written with COPY, the leasing ones in chunks of spaces so memory stays bounded at
any size; the ledger and the invoices are computed by PostgreSQL (INSERT ... SELECT over generate_series,
chunk by chunk) with a hash of the seed for their chances, so a seed always gives the same data. Every
sequence written into is moved past the largest id, and VACUUM ANALYZE runs at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from pathlib import Path

import asyncpg

from bench import residents
from bench.residents import ResidentAccount
from bench.servers import create_database, start_embedded_postgres, stop_embedded_postgres
from core import clock
from core.clock import BUSINESS_TZ, add_months
from leasing import rent
from leasing.award import Criteria
from providers.credit_code import make_credit_code

# Sizes -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    name: str
    communities: int
    operators: int
    spaces: int
    leases: int
    months: int  # complete months of ledger and invoices before today's month
    households_per_community: int = 2_000  # confirmed, each community
    poll_ballots: int = 10_000  # ballots in each poll the close path is measured on
    month_redemptions: int = 10_000  # points redemptions of last month, delivered by the benchmark


SIZES: dict[str, Size] = {
    "test": Size(
        "test",
        communities=25,
        operators=60,
        spaces=100,
        leases=300,
        months=12,
        households_per_community=40,
        poll_ballots=120,
        month_redemptions=60,
    ),
    "city": Size("city", communities=1_250, operators=3_000, spaces=10_000, leases=30_000, months=36),
    "province": Size("province", communities=6_250, operators=15_000, spaces=50_000, leases=150_000, months=36),
    "nation": Size("nation", communities=62_500, operators=30_000, spaces=500_000, leases=1_500_000, months=36),
}


# The manifest: what was generated, and what a load generator needs --------------------------------

APPLY_PATH = "/api/v1/space-listings/{listing_id}/applications"
PASSWORD = "bench-pass-2026"
SAMPLE = 500  # communities with open needs listed in the manifest
OPERATOR_SAMPLE = 2_000
OPEN_LISTING_SAMPLE = 2_000


@dataclass
class Account:
    user_id: int
    username: str
    org_id: int
    org_name: str


@dataclass
class OperatorAccount:
    user_id: int
    username: str
    operator_id: int
    org_id: int


@dataclass
class OpenListing:
    listing_id: int
    path: str  # POST the body here as any operator of the manifest
    body: dict  # proposed_use, term_months, proposed_rent_per_m2_month, plan


@dataclass
class Manifest:
    size: str
    seed: int
    today: str
    password: str  # of every generated account
    counts: dict[str, int]  # rows written per table
    seconds: dict[str, float]  # per table: writing its rows (computing them too, for the ledger and invoices)
    steps: dict[str, float]  # the rest: migrating, building rows in Python, indexes and constraints, VACUUM
    total_seconds: float
    shape: dict[str, dict[str, int]]  # rows by status and the like, read back from the database
    district_ids: list[int]
    communities_with_open_needs: list[int]
    city_official: Account
    district_officials: list[Account]
    street_official: Account
    auditor: Account
    operators: list[OperatorAccount]  # in good standing; none has applied to any listing below
    open_listing_ids: list[int]  # competitive, open for applications today
    open_listings: list[OpenListing]
    tally_poll_ids: list[int] = field(default_factory=list)  # open, each with `tally_ballots` ballots
    tally_ballots: int = 0
    resident_accounts: list[ResidentAccount] = field(default_factory=list)  # each with its ballots' receipts
    points_redemptions: int = 0  # last month's, still to be delivered (bench/residents.py, Points)


# Shapes ----------------------------------------------------------------------------------------

BRANDS = [
    "安康",
    "颐和",
    "乐邻",
    "暖心",
    "智汇",
    "善居",
    "和美",
    "悦享",
    "春晖",
    "众诚",
    "邻里",
    "福寿",
    "康宁",
    "童趣",
    "启明",
    "博雅",
    "青禾",
    "惠民",
    "同心",
    "睿行",
    "向阳",
    "百川",
    "嘉禾",
    "鸿泰",
    "明德",
    "优家",
    "彩虹",
    "新禾",
    "聚力",
    "仁和",
    "长青",
    "锦程",
    "绿源",
    "星辰",
    "红枫",
    "云栖",
    "钱潮",
    "西溪",
    "良渚",
    "天目",
]
BUSINESS_BY_CATEGORY = {
    "integrated": "未来社区运营管理",
    "childcare": "托育服务",
    "elderly": "养老服务",
    "culture": "文化传播",
    "health": "健康管理",
    "education": "教育科技",
    "commerce": "商业管理",
    "property": "物业服务",
    "incubation": "创业孵化",
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN_NAMES = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
STREET_WORDS = sorted(
    set(
        [
            "东新",
            "南星",
            "北山",
            "西兴",
            "中泰",
            "文新",
            "古荡",
            "翠苑",
            "蒋村",
            "转塘",
            "留下",
            "灵隐",
            "湖滨",
            "清波",
            "小营",
            "望江",
            "采荷",
            "凯旋",
            "闸弄口",
            "笕桥",
            "九堡",
            "彭埠",
            "丁兰",
            "四季青",
            "米市巷",
            "湖墅",
            "大关",
            "和睦",
            "祥符",
            "康桥",
            "半山",
            "石桥",
            "长河",
            "浦沿",
            "北干",
            "城厢",
            "新塘",
            "宁围",
            "闻堰",
            "临浦",
            "瓶窑",
            "良渚",
            "仓前",
            "五常",
            "闲林",
            "径山",
            "锦城",
            "玲珑",
            "青山湖",
            "锦南",
            "南苑",
            "东湖",
            "星桥",
            "塘栖",
            "崇贤",
            "白杨",
            "下沙",
            "河庄",
            "义蓬",
            "新湾",
            "城南",
            "旧县",
            "桐君",
            "千岛湖",
            "新安江",
            "洋溪",
            "更楼",
            "梅城",
            "寿昌",
            "乾潭",
            "横村",
            "分水",
            "江南",
            "凤川",
            "富春江",
            "石林",
            "汾口",
            "威坪",
        ]
    )
)
COMMUNITY_WORDS = [
    "和睦",
    "文晖",
    "朝晖",
    "潮鸣",
    "紫阳",
    "杨柳",
    "云城",
    "春风",
    "望月",
    "听涛",
    "桂花",
    "兰亭",
    "芳草",
    "翠柳",
    "锦绣",
    "阳光",
    "幸福",
    "安居",
    "和谐",
    "新苑",
    "明珠",
    "星河",
    "水岸",
    "枫林",
    "梅园",
    "竹苑",
    "松涛",
    "荷塘",
    "湖畔",
    "江景",
    "青山",
    "白塔",
    "古运",
    "丝绸",
    "茶乡",
    "稻香",
    "橘园",
    "樱花",
    "银杏",
    "香樟",
    "玉泉",
    "金沙",
]

# Registry.
REGISTRY_STATUS_WEIGHTS = {"listed": 90, "warned": 5, "suspended": 3, "removed": 2}
STATUS_REASONS = {
    "warned": "连续两个季度评价低于70分，予以警示",
    "suspended": "居民投诉集中且整改不到位，暂停入库资格",
    "removed": "提供虚假材料，移出名录",
}
RECOMMENDED_SHARE = 0.2  # applications recommended by a district rather than self-nominated
LISTING_TERM_MONTHS = 24
# Batches by how many days before today they were published: listings valid now and not ending soon,
# valid and ending within 90 days, and expired; operators are drawn into the three groups by these weights.
RECENT_BATCH_DAYS = [45 + 91 * k for k in range(7)]
ENDING_BATCH_DAYS = [650, 680, 710]
EXPIRED_BATCH_DAYS = [760, 850, 940, 1030]
BATCH_GROUP_WEIGHTS = {"recent": 85, "ending": 10, "expired": 5}
EVALUATIONS_PER_OPERATOR = 16  # at most, one a quarter

# Market.
COMMUNITY_TYPE_WEIGHTS = {"renovation": 65, "new_build": 35}
COMMUNITY_STATUS_WEIGHTS = {"operating": 70, "accepted": 15, "building": 10, "planning": 5}
CONTRACT_STATUS_WEIGHTS = {"active": 60, "expiring": 10, "terminated": 12, "renewed": 10, "draft": 8}
HOLDING_STATES = ("draft", "active", "expiring")
CONTRACT_SHARE = 0.35  # communities with a contract
CONTRACTS_ENDING_SHARE = 0.1  # active contracts ending within 90 days
NEEDS_PER_COMMUNITY = (2, 3, 3, 4)  # drawn from: about three open needs each
# Balance bands: income ÷ cost around which each community's months are drawn.
BALANCE_BANDS = [((1.0, 1.6), 55), ((0.8, 1.0), 20), ((0.4, 0.8), 25)]
# Ledger kinds: (direction, kind, share of the month's cost or income, probability it is posted in a month);
# service_fee is posted every month a contract runs, at a twelfth of its annual fee.
LEDGER_KINDS = [
    ("cost", "staff", 0.45, 1.0),
    ("cost", "utilities", 0.15, 1.0),
    ("cost", "maintenance", 0.15, 0.5),
    ("cost", "service_fee", 0.15, 0.2),
    ("cost", "other_cost", 0.05, 0.15),
    ("income", "rent", 0.5, 1.0),
    ("income", "service_revenue", 0.3, 0.7),
    ("income", "subsidy", 0.15, 0.3),
    ("income", "other_income", 0.05, 0.1),
]

# Leasing.
SPACE_USES = ["public_service", "commerce", "incubation", "elderly_care", "childcare", "culture", "health"]
OWNER_KIND_WEIGHTS = {"state_owned": 60, "institution": 15, "community_collective": 15, "government": 10}
RENT_FREE_MONTHS = (0, 0, 0, 1, 2, 3)
PAYMENT_DAYS = (1, 5, 10, 10, 10, 15, 20, 25)
CURRENT_TERMS_MONTHS = (24, 36, 48, 60)
SHORTEST_TERM_MONTHS = 2  # of an earlier lease
VACANT_SHARE = 0.12  # spaces whose last lease has ended
LISTED_SHARE = 0.7  # of the empty spaces: listed today (the others idle)
COMPETITIVE_SHARE = 0.8  # of the listings (preferential needs a public-service use the space allows)
AWARDED_SHARE = 0.55  # new lessees (not renewals) found through an awarded listing, when the space was empty
CANCELLED_SHARE = 0.1  # empty spells with a listing that was cancelled
CONTIGUOUS_SHARE = 0.65  # a lease follows the previous one without an empty month in between
RENEWAL_SHARE = 0.4  # a lease that follows directly renews the previous one (same lessee)
TERMINATED_SHARE = 0.08  # earlier leases that ended early
LEASES_ENDING_SHARE = 0.06  # active leases ending within 90 days
LEASES_ENDING_TODAY_SHARE = 0.001  # active leases whose term ends today
RENEWAL_DAYS = 90
DECLINE_TEXT = "卡内余额不足（insufficient_funds）"
CRITERIA = json.dumps(asdict(Criteria()))

SPACE_CHUNK = 5_000  # spaces built and written at a time
LEDGER_CHUNK = 2_000  # communities per ledger statement
INVOICE_CHUNK = 20_000  # leases per invoice statement

# Every table written, parents first.
TABLES = [
    "organisation",
    "account_user",
    "role_grant",
    "provider_operator",
    "provider_batch",
    "provider_application",
    "provider_application_event",
    "provider_application_category",
    "provider_batch_entry",
    "provider_listing",
    "provider_status_decision",
    "market_community",
    "market_need",
    "market_contract",
    "provider_evaluation",
    "market_ledger_entry",
    "leasing_space",
    "leasing_listing",
    "leasing_application",
    "leasing_lease",
    "leasing_invoice",
]

COLUMNS = {
    "organisation": ("id", "name", "kind", "parent", "path", "code", "created_at"),
    "account_user": (
        "id",
        "username",
        "password",
        "first_name",
        "last_name",
        "email",
        "active",
        "admin",
        "superuser",
        "display_name",
    ),
    "role_grant": ("id", "user", "role", "org", "created_at"),
    "provider_operator": (
        "id",
        "org",
        "name",
        "credit_code",
        "legal_representative",
        "contact_name",
        "contact_phone",
        "contact_email",
        "founded_on",
        "staff_count",
        "capacity",
        "description",
        "categories",
        "district_ids",
        "registry_status",
        "created_at",
        "updated_at",
    ),
    "provider_batch": (
        "id",
        "title",
        "state",
        "notice_start",
        "objection_deadline",
        "published_on",
        "created_by",
        "published_by",
        "created_at",
    ),
    "provider_application": (
        "id",
        "operator",
        "channel",
        "recommender_org",
        "created_by",
        "categories",
        "statement",
        "attachments",
        "state",
        "submitted_at",
        "decided_at",
        "decided_by",
        "decision_reason",
        "created_at",
        "updated_at",
    ),
    "provider_application_event": ("application", "from_state", "to_state", "actor", "actor_name", "reason", "at"),
    "provider_application_category": ("application", "operator", "category", "is_open"),
    "provider_batch_entry": ("batch", "application", "status"),
    "provider_listing": ("operator", "category", "batch", "application", "valid_from", "valid_until"),
    "provider_status_decision": ("operator", "from_status", "to_status", "reason", "decided_by", "at"),
    "market_community": (
        "id",
        "org",
        "name",
        "district",
        "street",
        "community_type",
        "tier",
        "pool",
        "creation_level",
        "planned_start",
        "planned_finish",
        "area_hectares",
        "households",
        "elderly_share",
        "children_share",
        "status",
        "created_at",
        "updated_at",
    ),
    "market_need": (
        "id",
        "community",
        "category",
        "priority",
        "text",
        "status",
        "created_by",
        "created_at",
        "updated_at",
    ),
    "market_contract": (
        "id",
        "street",
        "community",
        "operator",
        "categories",
        "starts_on",
        "ends_on",
        "annual_fee",
        "revenue_share",
        "kpis",
        "status",
        "renewal_of",
        "need_ids",
        "created_by",
        "signed_by",
        "signed_at",
        "terminated_by",
        "terminated_at",
        "termination_reason",
        "created_at",
        "updated_at",
    ),
    "provider_evaluation": (
        "operator",
        "contract_id",
        "evaluator",
        "evaluator_org",
        "score",
        "satisfaction",
        "complaints",
        "period_start",
        "period_end",
        "comment",
        "created_at",
    ),
    "leasing_space": (
        "id",
        "owner_org",
        "owner_kind",
        "community",
        "address",
        "area_m2",
        "floor",
        "condition",
        "allowed_uses",
        "photos",
        "status",
        "created_by",
        "created_at",
        "updated_at",
    ),
    "leasing_listing": (
        "id",
        "space",
        "track",
        "rent_per_m2_month",
        "public_welfare_discount",
        "rent_free_months",
        "min_term_months",
        "max_term_months",
        "deposit_months",
        "opens_on",
        "closes_on",
        "criteria",
        "status",
        "created_by",
        "created_at",
    ),
    "leasing_application": (
        "id",
        "listing",
        "operator",
        "proposed_use",
        "proposed_rent_per_m2_month",
        "term_months",
        "plan",
        "status",
        "score",
        "decision_reason",
        "created_by",
        "created_at",
    ),
    "leasing_lease": (
        "id",
        "space",
        "lessee",
        "listing",
        "application",
        "use",
        "starts_on",
        "ends_on",
        "agreed_ends_on",
        "monthly_rent",
        "deposit",
        "rent_free_months",
        "payment_day",
        "status",
        "renewal_of",
        "created_by",
        "terminated_by",
        "terminated_at",
        "termination_reason",
        "created_at",
        "updated_at",
    ),
}


# Small helpers ---------------------------------------------------------------------------------


def first_of_this_month() -> date:
    """The 1st of the current month in Asia/Shanghai (by the application's clock): the night every scheduler
    job runs."""
    return clock.today().replace(day=1)


def _at(day: date, hour: int = 9) -> datetime:
    """`day` at `hour` o'clock business time."""
    return datetime.combine(day, clock_time(hour), BUSINESS_TZ)


def _months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def _decimal(value: float, places: int) -> Decimal:
    return Decimal(f"{value:.{places}f}")


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN_NAMES) for _ in range(rng.randint(1, 2)))


def _years_later(day: date, years: int) -> date:
    """The same day `years` later (earlier when negative); 29 February becomes the 28th."""
    return day.replace(year=day.year + years, day=min(day.day, 28) if day.month == 2 else day.day)


def _uniform(key: str, salt: int) -> str:
    """SQL for a number in [0, 1) drawn from `key` (a bigint expression) and the seed ($3 in every derived
    statement): the same for the same seed, whatever plan PostgreSQL picks."""
    return f"((hashint8extended(({key})::bigint, $3::bigint + {salt}) & 9007199254740991)::float8 / 9007199254740992.0)"


# The city in memory (small tables; leasing is built in chunks) ---------------------------------


@dataclass
class City:
    size: Size
    today: date
    this_month: date
    first_month: date  # first month of the ledger and invoice history
    setup_at: datetime  # when the org tree, accounts and operators were entered: before the history
    categories: list[str]
    organisations: list[tuple] = field(default_factory=list)
    users: list[tuple] = field(default_factory=list)
    grants: list[tuple] = field(default_factory=list)
    districts: dict[int, tuple[str, str]] = field(default_factory=dict)  # org id → (name, division code)
    streets: list[dict] = field(default_factory=list)
    communities: list[dict] = field(default_factory=list)
    owner_of: dict[int, int] = field(default_factory=dict)  # district org id → owner org id
    operators: list[dict] = field(default_factory=list)
    listings: list[tuple] = field(default_factory=list)
    batches: list[tuple] = field(default_factory=list)
    applications: list[tuple] = field(default_factory=list)
    application_events: list[tuple] = field(default_factory=list)
    application_categories: list[tuple] = field(default_factory=list)
    batch_entries: list[tuple] = field(default_factory=list)
    status_decisions: list[tuple] = field(default_factory=list)
    needs: list[tuple] = field(default_factory=list)
    contracts: list[dict] = field(default_factory=list)
    evaluations: list[tuple] = field(default_factory=list)
    # Accounts.
    city_user: Account | None = None
    auditor: Account | None = None
    district_users: dict[int, Account] = field(default_factory=dict)  # district org id → its official
    street_users: dict[int, Account] = field(default_factory=dict)  # street org id → its official
    owner_users: dict[int, int] = field(default_factory=dict)  # owner org id → user id
    operator_users: dict[int, OperatorAccount] = field(default_factory=dict)  # operator id → its account
    listed_on: dict[int, list[str]] = field(default_factory=dict)  # operator id → categories listed today


def _org(city: City, org_id: int, name: str, kind: str, parent: int | None, path: str, code: str | None) -> None:
    city.organisations.append((org_id, name, kind, parent, path, code, city.setup_at))


def _org_tree(rng: random.Random, city: City) -> None:
    """Hangzhou (org 1), its 13 districts (2-14), their streets, the communities, one owner per district.
    Operators' orgs follow, added with the operators."""
    from core.demo import CITY, DISTRICTS, FUYANG_STREETS

    _org(city, 1, CITY[0], "city", None, "/1/", CITY[1])
    for org_id, (name, code) in enumerate(DISTRICTS, start=2):
        city.districts[org_id] = (name, code)
        _org(city, org_id, name, "district", 1, f"/1/{org_id}/", code)
    scale = max(1, round(city.size.communities / SIZES["city"].communities))
    next_id = len(city.organisations) + 1
    for district_id, (district_name, code) in city.districts.items():
        wanted = rng.randint(8, 16) * scale
        if district_name == "富阳区":
            names = list(FUYANG_STREETS) + _street_names(
                rng, max(0, wanted - len(FUYANG_STREETS)), taken=set(FUYANG_STREETS)
            )
        else:
            names = _street_names(rng, wanted, taken=set())
        for name in names:
            street = dict(id=next_id, name=name, district=district_id, path=f"/1/{district_id}/{next_id}/")
            city.streets.append(street)
            _org(city, next_id, name, "street", district_id, street["path"], f"{code}-{name}")
            next_id += 1
    _community_rows(rng, city, next_id)
    next_id += len(city.communities)
    for district_id, (district_name, code) in city.districts.items():
        city.owner_of[district_id] = next_id
        _org(
            city,
            next_id,
            f"{district_name}城市建设投资集团有限公司",
            "owner",
            district_id,
            f"/1/{district_id}/{next_id}/",
            f"owner-{code}",
        )
        next_id += 1


def _street_names(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    """Street names not in `taken`: one word while they last, then pairs of words."""
    pool = [f"{word}街道" for word in STREET_WORDS if f"{word}街道" not in taken]
    if count <= len(pool):
        return rng.sample(pool, count)
    names: list[str] = []
    seen = set(taken)
    while len(names) < count:
        name = f"{rng.choice(STREET_WORDS)}{rng.choice(STREET_WORDS)}街道"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _community_rows(rng: random.Random, city: City, first_org: int) -> None:
    names_by_street: dict[int, set[str]] = {}
    for community_id in range(1, city.size.communities + 1):
        street = rng.choice(city.streets)
        taken = names_by_street.setdefault(street["id"], set())
        name = f"{rng.choice(COMMUNITY_WORDS)}{rng.choice(COMMUNITY_WORDS)}社区"
        while name in taken:
            name = f"{rng.choice(COMMUNITY_WORDS)}{rng.choice(COMMUNITY_WORDS)}社区"
        taken.add(name)
        org_id = first_org + community_id - 1
        _org(city, org_id, name, "community", street["id"], f"{street['path']}{org_id}/", None)
        planned_start = date(rng.randint(2021, 2024), rng.randint(1, 12), 1)
        city.communities.append(
            dict(
                id=community_id,
                org=org_id,
                name=name,
                district=street["district"],
                street=street["id"],
                community_type=_weighted(rng, COMMUNITY_TYPE_WEIGHTS),
                tier=rng.choice(["inclusive"] * 4 + ["leading"]),
                pool=_weighted(rng, {"creation": 50, "reserve": 30, "basic": 20}),
                creation_level=rng.choice(["province", "city", "joint", "undecided"]),
                planned_start=planned_start,
                planned_finish=planned_start.replace(year=planned_start.year + 2),
                area_hectares=_decimal(rng.uniform(5, 120), 2),
                households=rng.randint(800, 12000),
                elderly_share=_decimal(rng.uniform(0.08, 0.35), 4),
                children_share=_decimal(rng.uniform(0.05, 0.2), 4),
                status=_weighted(rng, COMMUNITY_STATUS_WEIGHTS),
                created_at=city.setup_at,
                updated_at=city.setup_at,
            )
        )


def _accounts(city: City, password_hash: str) -> None:
    """A city official (user 1), the auditor, an official per district and per street, a user per owner.
    Operators' users are added with the operators."""

    def user(username: str, display_name: str, role: str, org_id: int, *, admin: bool = False) -> int:
        user_id = len(city.users) + 1
        city.users.append(
            (user_id, username, password_hash, "", "", f"{username}@example.org", True, admin, admin, display_name)
        )
        city.grants.append((len(city.grants) + 1, user_id, role, org_id, city.setup_at))
        return user_id

    city.city_user = Account(user("bench_city", "市建委（基准测试）", "city", 1, admin=True), "bench_city", 1, "杭州市")
    city.auditor = Account(user("bench_auditor", "市审计（基准测试）", "auditor", 1), "bench_auditor", 1, "杭州市")
    for district_id, (name, code) in city.districts.items():
        username = f"bench_district_{code}"
        city.district_users[district_id] = Account(
            user(username, f"{name}住建局", "district", district_id), username, district_id, name
        )
    for street in city.streets:
        username = f"bench_street_{street['id']}"
        city.street_users[street["id"]] = Account(
            user(username, f"{street['name']}办", "street", street["id"]), username, street["id"], street["name"]
        )
    for district_id, owner_id in city.owner_of.items():
        city.owner_users[owner_id] = user(
            f"bench_owner_{city.districts[district_id][1]}", f"{city.districts[district_id][0]}城投", "owner", owner_id
        )


# Registry --------------------------------------------------------------------------------------


def _batches(city: City) -> dict[str, list[tuple[int, date]]]:
    """Published batches, oldest first; returns (id, published_on) by group."""
    admin = city.city_user.user_id
    dated = sorted(
        [
            (days, group)
            for group, days_list in (
                ("recent", RECENT_BATCH_DAYS),
                ("ending", ENDING_BATCH_DAYS),
                ("expired", EXPIRED_BATCH_DAYS),
            )
            for days in days_list
        ],
        reverse=True,
    )
    groups: dict[str, list[tuple[int, date]]] = {"recent": [], "ending": [], "expired": []}
    for batch_id, (days, group) in enumerate(dated, start=1):
        published_on = city.today - timedelta(days=days)
        notice_start = published_on - timedelta(days=14)
        city.batches.append(
            (
                batch_id,
                f"优秀服务商名录第{batch_id}批",
                "notice",  # published once its entries are in: see PUBLISH_BATCHES
                notice_start,
                published_on - timedelta(days=7),
                published_on,
                admin,
                admin,
                _at(notice_start - timedelta(days=7)),
            )
        )
        groups[group].append((batch_id, published_on))
    return groups


def _registry(rng: random.Random, city: City, password_hash: str) -> None:
    """Operators with their org, user, approved application (events, category claims, batch entry) and
    listings; the status decisions of the warned, suspended and removed ones."""
    batches = _batches(city)
    district_ids = list(city.districts)
    places = [name[:-1] for name, _ in city.districts.values()]
    admin = city.city_user
    names: set[str] = set()
    credit_codes: set[str] = set()
    first_org = len(city.organisations) + 1
    for operator_id in range(1, city.size.operators + 1):
        org_id = first_org + operator_id - 1
        own_categories = sorted(rng.sample(city.categories, rng.randint(1, 3)))
        own_districts = sorted(rng.sample(district_ids, rng.randint(1, 4)))
        business = BUSINESS_BY_CATEGORY.get(own_categories[0], "社区服务")
        name = f"杭州{rng.choice(places)}{rng.choice(BRANDS)}{business}有限公司"
        while name in names:
            name = f"杭州{rng.choice(places)}{rng.choice(BRANDS)}{business}有限公司{rng.randint(1, 99)}分公司"
        names.add(name)
        region = city.districts[own_districts[0]][1]
        credit_code = make_credit_code(rng, region=region)
        while credit_code in credit_codes:
            credit_code = make_credit_code(rng, region=region)
        credit_codes.add(credit_code)
        _org(city, org_id, name, "operator", 1, f"/1/{org_id}/", f"operator-{operator_id}")
        status = _weighted(rng, REGISTRY_STATUS_WEIGHTS)

        username = f"bench_operator_{operator_id}"
        user_id = len(city.users) + 1
        display_name = name[:100]
        city.users.append(
            (user_id, username, password_hash, "", "", f"{username}@example.org", True, False, False, display_name)
        )
        city.grants.append((len(city.grants) + 1, user_id, "operator", org_id, city.setup_at))
        city.operator_users[operator_id] = OperatorAccount(user_id, username, operator_id, org_id)

        batch_id, published_on = rng.choice(batches[_weighted(rng, BATCH_GROUP_WEIGHTS)])
        submitted_at = _at(published_on - timedelta(days=40))
        decided_at = _at(published_on - timedelta(days=21), 15)
        recommender = city.district_users[own_districts[0]] if rng.random() < RECOMMENDED_SHARE else None
        applicant = (recommender.user_id, f"{recommender.org_name}住建局") if recommender else (user_id, display_name)
        created_at = submitted_at - timedelta(days=rng.randint(1, 10))
        city.applications.append(
            (
                operator_id,
                operator_id,
                "recommended" if recommender else "self",
                recommender.org_id if recommender else None,
                applicant[0],
                own_categories,
                "",
                "[]",
                "approved",
                submitted_at,
                decided_at,
                admin.user_id,
                "材料齐全，符合入库条件",
                created_at,
                decided_at,
            )
        )
        city.application_events += [
            (operator_id, None, "draft", applicant[0], applicant[1], "", created_at),
            (operator_id, "draft", "submitted", applicant[0], applicant[1], "", submitted_at),
            (
                operator_id,
                "submitted",
                "under_review",
                admin.user_id,
                "市建委（基准测试）",
                "",
                submitted_at + timedelta(days=3),
            ),
            (
                operator_id,
                "under_review",
                "approved",
                admin.user_id,
                "市建委（基准测试）",
                "材料齐全，符合入库条件",
                decided_at,
            ),
        ]
        city.application_categories += [(operator_id, operator_id, c, False) for c in own_categories]
        city.batch_entries.append((batch_id, operator_id, "included"))
        valid_until = add_months(published_on, LISTING_TERM_MONTHS)
        for category in own_categories:
            city.listings.append((operator_id, category, batch_id, operator_id, published_on, valid_until))
        if published_on <= city.today < valid_until and status in ("listed", "warned"):
            city.listed_on[operator_id] = own_categories
        updated_at = decided_at
        if status != "listed":  # decided after the listing was published
            days_listed = (city.today - published_on).days
            updated_at = _at(published_on + timedelta(days=rng.randint(1, max(1, days_listed - 1))), 10)
            city.status_decisions.append(
                (operator_id, "listed", status, STATUS_REASONS[status], admin.user_id, updated_at)
            )
        city.operators.append(
            dict(
                id=operator_id,
                org=org_id,
                name=name,
                credit_code=credit_code,
                legal_representative=_person(rng),
                contact_name=_person(rng),
                contact_phone=f"13{rng.randrange(10**9):09d}",
                contact_email=f"contact{operator_id}@example.org",
                founded_on=date(rng.randint(2000, 2022), rng.randint(1, 12), rng.randint(1, 28)),
                staff_count=rng.randint(5, 300),
                capacity=rng.randint(1, 15),
                categories=own_categories,
                district_ids=own_districts,
                registry_status=status,
                created_at=created_at,
                updated_at=updated_at,
            )
        )


def _operator_rows(city: City) -> list[tuple]:
    return [
        (
            o["id"],
            o["org"],
            o["name"],
            o["credit_code"],
            o["legal_representative"],
            o["contact_name"],
            o["contact_phone"],
            o["contact_email"],
            o["founded_on"],
            o["staff_count"],
            o["capacity"],
            "",
            o["categories"],
            o["district_ids"],
            o["registry_status"],
            o["created_at"],
            o["updated_at"],
        )
        for o in city.operators
    ]


# Market ----------------------------------------------------------------------------------------


def _need(city: City, community: dict, category: str, status: str, priority: int, at: datetime) -> int:
    need_id = len(city.needs) + 1
    official = city.street_users[community["street"]].user_id
    city.needs.append((need_id, community["id"], category, priority, "", status, official, at, at))
    return need_id


def _contracts(rng: random.Random, city: City) -> None:  # noqa: C901 -- one pass over the city keeps the draws in order
    """At most one contract per community (two when renewed: the renewed one and its successor), with an
    operator listed today for its category and serving its district where one exists; contracts holding
    capacity never exceed an operator's capacity."""
    listed: dict[str, list[dict]] = {}  # category → operators listed for it today
    serving: dict[tuple[str, int], list[dict]] = {}  # (category, district) → those of them serving the district
    for operator in city.operators:
        for category in city.listed_on.get(operator["id"], []):
            listed.setdefault(category, []).append(operator)
            for district in operator["district_ids"]:
                serving.setdefault((category, district), []).append(operator)
    holding = {o["id"]: 0 for o in city.operators}

    def pick(pool: list[dict], holds: int) -> dict | None:
        """A random operator of `pool` with room for `holds` more contracts; full ones leave the pool."""
        while pool:
            index = rng.randrange(len(pool))
            if holding[pool[index]["id"]] + holds <= pool[index]["capacity"]:
                return pool[index]
            pool[index] = pool[-1]
            pool.pop()
        return None

    this_month = city.this_month
    for community in city.communities:
        if rng.random() >= CONTRACT_SHARE:
            continue
        category = rng.choice(city.categories)
        status = _weighted(rng, CONTRACT_STATUS_WEIGHTS)
        holds = 1 if status in HOLDING_STATES or status == "renewed" else 0  # a renewed one has a successor
        operator = pick(serving.get((category, community["district"]), []), holds) or pick(
            listed.get(category, []), holds
        )
        if operator is None:
            continue
        holding[operator["id"]] += holds
        if status == "active":
            starts_on = add_months(this_month, -rng.randint(1, 30))
            ends_on = _years_later(starts_on, 3)
            if rng.random() < CONTRACTS_ENDING_SHARE:  # still active: the scheduler has not marked it yet
                ends_on = city.today + timedelta(days=rng.randint(5, RENEWAL_DAYS))
                starts_on = _years_later(ends_on, -3)
        elif status == "expiring":
            ends_on = city.today + timedelta(days=rng.randint(10, 85))
            starts_on = _years_later(ends_on, -3)
        elif status == "draft":
            starts_on = add_months(this_month, 1)
            ends_on = _years_later(starts_on, 3)
        elif status == "renewed":
            ends_on = city.today - timedelta(days=rng.randint(1, 200))
            starts_on = _years_later(ends_on, -3)
        else:
            starts_on = add_months(this_month, -rng.randint(6, 30))
            ends_on = _years_later(starts_on, 3)
        need_ids = []
        if status != "draft":
            need_status = "closed" if status == "terminated" else "matched"
            need_ids = [_need(city, community, category, need_status, 2, _at(starts_on - timedelta(days=60)))]
        contract = _contract(rng, city, community, operator, category, status, starts_on, ends_on, need_ids)
        if status == "renewed":
            successor = _contract(
                rng, city, community, operator, category, "active", ends_on, _years_later(ends_on, 3), need_ids
            )
            successor["renewal_of"] = contract["id"]
            successor["annual_fee"] = contract["annual_fee"]


def _contract(
    rng: random.Random,
    city: City,
    community: dict,
    operator: dict,
    category: str,
    status: str,
    starts_on: date,
    ends_on: date,
    need_ids: list[int],
) -> dict:
    official = city.street_users[community["street"]].user_id
    signed = status != "draft"
    terminated = status == "terminated"
    created_at = _at(starts_on - timedelta(days=rng.randint(10, 40)))
    terminated_at = (
        _at(min(city.today - timedelta(days=1), starts_on + timedelta(days=rng.randint(90, 600))), 10)
        if terminated
        else None
    )
    contract = dict(
        id=len(city.contracts) + 1,
        street=community["street"],
        community=community["id"],
        operator=operator["id"],
        categories=[category],
        starts_on=starts_on,
        ends_on=ends_on,
        annual_fee=rng.randint(50, 300) * 10_000 * 100,
        revenue_share=_decimal(rng.choice([0.05, 0.1, 0.15]), 4) if rng.random() < 0.5 else None,
        kpis="",
        status=status,
        renewal_of=None,
        need_ids=need_ids,
        created_by=official,
        signed_by=official if signed else None,
        signed_at=created_at + timedelta(days=7) if signed else None,
        terminated_by=official if terminated else None,
        terminated_at=terminated_at,
        termination_reason="合同双方协商终止" if terminated else "",
        created_at=created_at,
        updated_at=terminated_at or created_at,
    )
    city.contracts.append(contract)
    return contract


def _contract_rows(city: City) -> list[tuple]:
    return [tuple(c[column] for column in COLUMNS["market_contract"]) for c in city.contracts]


def _open_needs(rng: random.Random, city: City) -> None:
    for community in city.communities:
        for category in rng.sample(city.categories, rng.choice(NEEDS_PER_COMMUNITY)):
            _need(
                city,
                community,
                category,
                "open",
                rng.randint(1, 3),
                _at(city.today - timedelta(days=rng.randint(1, 300))),
            )


def _evaluations(rng: random.Random, city: City) -> None:
    """Up to 16 quarterly evaluations per operator by a district it serves; a fifth of the operators have none."""
    contract_of: dict[int, int] = {}
    for contract in city.contracts:
        if contract["status"] != "draft":
            contract_of.setdefault(contract["operator"], contract["id"])
    quarter_start = date(city.today.year, (city.today.month - 1) // 3 * 3 + 1, 1)
    for operator in city.operators:
        if rng.random() < 0.2:
            continue
        evaluator = city.district_users[rng.choice(operator["district_ids"])]
        quality = rng.randint(60, 95)
        for quarter in range(rng.randint(1, EVALUATIONS_PER_OPERATOR)):
            period_end = add_months(quarter_start, -3 * quarter) - timedelta(days=1)
            city.evaluations.append(
                (
                    operator["id"],
                    contract_of.get(operator["id"]),
                    evaluator.user_id,
                    evaluator.org_id,
                    max(0, min(100, quality + rng.randint(-12, 12))),
                    _decimal(max(0.0, min(100.0, quality + rng.uniform(-10, 10))), 2),
                    rng.randint(0, 6),
                    add_months(period_end + timedelta(days=1), -3),
                    period_end,
                    "",
                    _at(period_end + timedelta(days=rng.randint(5, 20))),
                )
            )


def _ledger_plans(rng: random.Random, city: City) -> tuple[list[tuple], list[tuple]]:
    """Per community: its street, the street official who posts, the income ÷ cost ratio its months are
    drawn around and its monthly cost (in proportion to households); and the months each signed contract
    bills its service fee (a terminated one until it was terminated)."""
    communities = []
    for community in city.communities:
        low, high = rng.choices([band for band, _ in BALANCE_BANDS], [w for _, w in BALANCE_BANDS])[0]
        communities.append(
            (
                community["id"],
                community["street"],
                city.street_users[community["street"]].user_id,
                rng.uniform(low, high),
                community["households"] * rng.uniform(15, 40) * 100,
            )
        )
    contracts = []
    for c in city.contracts:
        if c["status"] == "draft":
            continue
        ends_on = c["terminated_at"].date() if c["terminated_at"] else c["ends_on"]
        contracts.append((c["community"], c["id"], c["annual_fee"] // 12, c["starts_on"], ends_on))
    return communities, contracts


def _month_number(day: date) -> int:
    """Months since year 0: the integer the derived statements count months in."""
    return day.year * 12 + day.month - 1


def _month_of(number: str) -> str:
    """SQL: the first day of month `number`."""
    return f"make_date(({number}) / 12, ({number}) % 12 + 1, 1)"


def _instant(day: str, hour: str) -> str:
    """SQL: `day` (a date) at `hour` o'clock in Asia/Shanghai (UTC+8 all year) as a timestamptz."""
    return f"to_timestamp((({day}) - date '1970-01-01') * 86400.0 + (({hour}) - 8) * 3600)"


# $1 first month number, $2 months, $3 seed, $4 and $5 the communities written by one statement.
LEDGER_SQL = f"""
INSERT INTO market_ledger_entry (community, month, direction, kind, amount, source, contract, note, posted_by,
                                 posted_by_org, created_at)
SELECT m.community, m.month, k.direction, k.kind,
       CASE WHEN k.kind = 'service_fee' AND m.fee IS NOT NULL THEN m.fee
            ELSE greatest(1, floor(CASE WHEN k.direction = 'cost' THEN m.cost ELSE m.income END
                                   * k.share * (0.8 + 0.4 * {_uniform("m.key * 16 + k.slot", 4)})))::bigint
       END,
       m.source || k.kind,
       CASE WHEN k.kind = 'service_fee' THEN m.contract END,
       '', m.poster, m.street, {_instant("m.next_month - 1", "18")}
FROM (
    SELECT p.community, p.street, p.poster, mm.month, mm.next AS next_month, mm.key,
           'bench:' || p.community || ':' || to_char(mm.month, 'YYYY-MM') || ':' AS source,
           c.cost, c.cost * p.ratio * (0.9 + 0.2 * {_uniform("mm.key", 2)}) AS income,
           fee.contract, fee.monthly_fee AS fee
    FROM bench_ledger_community p
    CROSS JOIN generate_series(0, $2::int - 1) AS i
    CROSS JOIN LATERAL (SELECT {_month_of("$1::int + i")} AS month, {_month_of("$1::int + i + 1")} AS next,
                               p.community::bigint * 1024 + i AS key) mm
    CROSS JOIN LATERAL (SELECT p.monthly_cost * (0.85 + 0.3 * {_uniform("mm.key", 1)}) AS cost) c
    LEFT JOIN LATERAL (
        SELECT f.contract, f.monthly_fee FROM bench_ledger_contract f
        WHERE f.community = p.community AND f.starts_on <= mm.month AND mm.month < f.ends_on
        ORDER BY f.starts_on DESC LIMIT 1
    ) fee ON true
    WHERE p.community BETWEEN $4 AND $5
    OFFSET 0
) m
CROSS JOIN (VALUES {
    ", ".join(f"({slot}, '{d}', '{k}', {s}::float8, {p}::float8)" for slot, (d, k, s, p) in enumerate(LEDGER_KINDS))
})
    AS k(slot, direction, kind, share, probability)
WHERE (k.kind = 'service_fee' AND m.fee IS NOT NULL) OR {_uniform("m.key * 16 + k.slot", 3)} < k.probability
"""


# Leasing ---------------------------------------------------------------------------------------


@dataclass
class LeasingChunk:
    spaces: list[tuple] = field(default_factory=list)
    listings: list[tuple] = field(default_factory=list)
    applications: list[tuple] = field(default_factory=list)
    leases: list[tuple] = field(default_factory=list)


class Leasing:
    """Spaces and what happened to each: its chain of leases over the history, the listings that found its
    lessees (with their applications), and today's state (leased, listed or idle). Built chunk by chunk."""

    def __init__(self, rng: random.Random, city: City, sample_operators: list[OperatorAccount]) -> None:
        self.rng = rng
        self.city = city
        self.today = city.today
        self.horizon = city.today + timedelta(days=RENEWAL_DAYS)
        self.lessees = [o["id"] for o in city.operators if o["registry_status"] in ("listed", "warned")]
        sampled = {o.operator_id for o in sample_operators}
        # Applications already in on today's open listings come from operators outside the manifest's sample,
        # so every (sampled operator, open listing) pair is still a valid application.
        self.earlier_applicants = [o for o in self.lessees if o not in sampled]
        self.counts = _lease_counts(rng, city.size.spaces, city.size.leases, max(1, city.size.months // 4))
        self.lead_months = min(3, city.size.months // 6)
        self.space_id = self.listing_id = self.application_id = self.lease_id = 0
        self.open_listings: list[OpenListing] = []
        self.open_competitive = 0
        self.sample_rng = random.Random(rng.random())

    def chunks(self) -> Iterator[LeasingChunk]:
        total = self.city.size.spaces
        for start in range(0, total, SPACE_CHUNK):
            chunk = LeasingChunk()
            for index in range(start, min(total, start + SPACE_CHUNK)):
                self._space(chunk, self.counts[index])
            yield chunk

    # One space ------------------------------------------------------------------------------

    def _space(self, chunk: LeasingChunk, lease_count: int) -> None:
        rng, city = self.rng, self.city
        self.space_id += 1
        communities = city.communities
        community = communities[self.space_id - 1] if self.space_id <= len(communities) else rng.choice(communities)
        owner = city.owner_of[community["district"]]
        space = dict(
            id=self.space_id,
            area=_decimal(rng.uniform(20, 600), 2),
            uses=sorted(rng.sample(SPACE_USES, rng.randint(1, 3))),
            official=city.street_users[community["street"]].user_id,
        )

        terms, current, ending = self._timeline(lease_count)
        previous: dict | None = None
        for position, (starts_on, months) in enumerate(terms):
            is_current = current and position == len(terms) - 1
            if is_current:
                months = self._current_term(starts_on, ending)
            follows = previous is not None and starts_on == previous["ends_on"]
            if follows and previous["status"] == "ended" and rng.random() < RENEWAL_SHARE:
                lease = self._renewal(previous, starts_on, months)
                previous["status"] = "renewed"
            elif previous is None or not follows:
                empty_since = previous["ends_on"] if previous else starts_on - timedelta(days=rng.randint(60, 120))
                lease = self._new_lease(chunk, space, starts_on, months, empty_since)
            else:
                lease = self._agreed_lease(space, starts_on, months)
            if is_current:
                lease["status"] = "active"
            elif rng.random() < TERMINATED_SHARE and months >= 2:
                lease["ends_on"] -= timedelta(days=rng.randint(1, 20))  # left early; agreed_ends_on stays
                lease["status"] = "terminated"
            else:
                lease["status"] = "ended"
            if previous is not None:
                chunk.leases.append(self._lease_row(previous, space))
            previous = lease
        if previous is not None:
            chunk.leases.append(self._lease_row(previous, space))

        status = "leased" if current else "idle"
        if not current and rng.random() < LISTED_SHARE:
            status = "listed"
            self._open_listing(chunk, space, previous["ends_on"] if previous else None)
        created_at = (
            _at(min(terms[0][0] - timedelta(days=130), self.today - timedelta(days=30))) if terms else city.setup_at
        )
        chunk.spaces.append(
            (
                space["id"],
                owner,
                _weighted(rng, OWNER_KIND_WEIGHTS),
                community["id"],
                f"{community['name']}{rng.randint(1, 40)}幢{rng.randint(1, 3)}0{rng.randint(1, 9)}室",
                space["area"],
                str(rng.randint(1, 3)),
                "",
                space["uses"],
                "[]",
                status,
                city.owner_users[owner],
                created_at,
                created_at,
            )
        )

    def _timeline(self, count: int) -> tuple[list[tuple[date, int]], bool, str]:
        """(start, months) of `count` consecutive leases of one space, whether the last one runs past today
        (its months are then decided by how it ends: 'today', 'soon', within 90 days, or 'later').

        All start on the same day of the month: the first in the first months of the history, each one when
        the previous ends or after an empty month or two. A current lease starts by last month; when the last
        lease has ended, the space has stood empty for a month or more."""
        rng, today = self.rng, self.today
        if count == 0:
            return [], False, "later"
        current = rng.random() >= VACANT_SHARE
        draw = rng.random()
        ending = "later"
        if current and draw < LEASES_ENDING_TODAY_SHARE + LEASES_ENDING_SHARE:
            ending = "today" if draw < LEASES_ENDING_TODAY_SHARE and today.day <= 28 else "soon"
        day = today.day if ending == "today" else rng.randint(1, 28)
        first = add_months(self.city.first_month, rng.randint(0, self.lead_months)).replace(day=day)
        span = _months_between(first, self.city.this_month)  # months from the first start to this month
        past = count - 1 if current else count
        gaps = [0] + [0 if rng.random() < CONTIGUOUS_SHARE else rng.randint(1, 2) for _ in range(count - 1)]
        counted = range(1, past + 1) if current else range(1, past)  # empty spells before the last start/end
        weights = [rng.uniform(0.6, 1.4) for _ in range(count)]
        # With a current lease, the earlier leases' share of the months before the current one starts.
        room = math.floor((span - 1) * sum(weights[:past]) / sum(weights)) if current else span - rng.randint(1, 6)
        room = min(span - 1, max(room, past * SHORTEST_TERM_MONTHS))
        while past * SHORTEST_TERM_MONTHS + sum(gaps[i] for i in counted) > room:
            gaps[max(counted, key=lambda i: gaps[i])] -= 1
        free = room - sum(gaps[i] for i in counted)
        months = [max(SHORTEST_TERM_MONTHS, math.floor(free * w / sum(weights[:past]))) for w in weights[:past]]
        while sum(months) > free:
            months[months.index(max(months))] -= 1
        terms, offset = [], 0
        for position in range(count):
            offset += gaps[position]
            length = months[position] if position < past else 0
            terms.append((add_months(first, offset), length))
            offset += length
        return terms, current, ending

    def _current_term(self, starts_on: date, ending: str) -> int:
        """Months of the lease running today: it ends today, within 90 days, or later than that."""
        rng, today = self.rng, self.today
        reached = _months_between(starts_on, today)  # the first whole-month term ending after today
        if add_months(starts_on, reached) <= today:
            reached += 1
        if ending == "today" and add_months(starts_on, reached - 1) == today:
            return reached - 1
        if ending != "later":
            return rng.choice(
                [m for m in (reached, reached + 1, reached + 2) if add_months(starts_on, m) <= self.horizon]
            )
        term = rng.choice(CURRENT_TERMS_MONTHS)
        while add_months(starts_on, term) <= self.horizon:
            term += 12
        return term

    # Leases ----------------------------------------------------------------------------------

    def _lease(
        self,
        lessee: int,
        use: str,
        starts_on: date,
        months: int,
        monthly_rent: int,
        deposit: int,
        rent_free: int,
        listing: int | None,
        application: int | None,
        created_at: datetime,
    ) -> dict:
        self.lease_id += 1
        ends_on = add_months(starts_on, months)
        return dict(
            id=self.lease_id,
            lessee=lessee,
            use=use,
            starts_on=starts_on,
            ends_on=ends_on,
            agreed_ends_on=ends_on,
            monthly_rent=monthly_rent,
            deposit=deposit,
            rent_free=rent_free,
            payment_day=self.rng.choice(PAYMENT_DAYS),
            listing=listing,
            application=application,
            renewal_of=None,
            created_at=created_at,
            status="",
        )

    def _agreed_lease(self, space: dict, starts_on: date, months: int) -> dict:
        """A lease by agreement (no listing), on the rate and discount the rules of leasing/rent.py give."""
        rng = self.rng
        use = rng.choice(space["uses"])
        monthly = rent.monthly_rent(
            rng.randint(15, 90) * 100, space["area"], use, Decimal(rng.choice(["0.3000", "0.5000"]))
        )
        return self._lease(
            rng.choice(self.lessees),
            use,
            starts_on,
            months,
            monthly,
            monthly * rng.randint(0, 3),
            rng.choice(RENT_FREE_MONTHS),
            None,
            None,
            _at(starts_on - timedelta(days=rng.randint(3, 20)), 10),
        )

    def _renewal(self, previous: dict, starts_on: date, months: int) -> dict:
        """The same lessee, use, rent and payment day from the day the previous lease ends (as renew_lease)."""
        lease = self._lease(
            previous["lessee"],
            previous["use"],
            starts_on,
            months,
            previous["monthly_rent"],
            previous["deposit"],
            0,
            previous["listing"],
            previous["application"],
            _at(starts_on - timedelta(days=self.rng.randint(10, 40)), 10),
        )
        lease["payment_day"] = previous["payment_day"]
        lease["renewal_of"] = previous["id"]
        return lease

    def _new_lease(self, chunk: LeasingChunk, space: dict, starts_on: date, months: int, empty_since: date) -> dict:
        """A new lessee after the space stood empty: through a listing awarded to the best application, or by
        agreement; some empty spells also saw a listing cancelled."""
        rng = self.rng
        window_opens = max(empty_since, starts_on - timedelta(days=75))
        if rng.random() < CANCELLED_SHARE and (starts_on - window_opens).days > 60:
            cancelled_opens = window_opens
            window_opens += timedelta(days=30)
            self._listing(
                chunk,
                space,
                "competitive",
                cancelled_opens,
                window_opens - timedelta(days=5),
                "cancelled",
                min(12, months),
                max(60, months),
            )
        if rng.random() >= AWARDED_SHARE or (starts_on - window_opens).days < 4:
            return self._agreed_lease(space, starts_on, months)
        public_uses = [u for u in space["uses"] if u in rent.PUBLIC_SERVICE_USES]
        track = "preferential" if public_uses and rng.random() >= COMPETITIVE_SHARE else "competitive"
        days = (starts_on - window_opens).days
        closes_on = window_opens + timedelta(days=rng.randint(days // 2, days - 1))
        listing = self._listing(
            chunk, space, track, window_opens, closes_on, "awarded", min(12, months), max(60, months)
        )
        use = rng.choice(public_uses if track == "preferential" else space["uses"])
        lessee = rng.choice(self.lessees)
        asking = listing["rent"]
        offered = asking if track == "preferential" else asking + rng.randint(0, asking // 200) * 100
        applied_at = _at(window_opens + timedelta(days=rng.randint(0, (closes_on - window_opens).days - 1)), 11)
        winner = self._application(
            chunk,
            listing,
            lessee,
            use,
            offered,
            months,
            "awarded",
            _decimal(rng.uniform(75, 95), 2),
            "综合评分最高，予以中选",
            applied_at,
        )
        for other in rng.sample(self.lessees, min(len(self.lessees), rng.randint(0, 3))):
            if other == lessee:
                continue
            other_use = rng.choice(public_uses if track == "preferential" else space["uses"])
            self._application(
                chunk,
                listing,
                other,
                other_use,
                asking,
                months,
                "not_awarded",
                _decimal(rng.uniform(50, 74), 2),
                "综合评分未居首位",
                applied_at,
            )
        monthly = rent.monthly_rent(offered, space["area"], use, listing["discount"])
        return self._lease(
            lessee,
            use,
            starts_on,
            months,
            monthly,
            monthly * listing["deposit_months"],
            listing["rent_free"],
            listing["id"],
            winner,
            _at(closes_on + timedelta(days=rng.randint(1, 3)), 10),
        )

    def _listing(
        self,
        chunk: LeasingChunk,
        space: dict,
        track: str,
        opens_on: date,
        closes_on: date,
        status: str,
        min_term: int,
        max_term: int,
    ) -> dict:
        rng = self.rng
        self.listing_id += 1
        listing = dict(
            id=self.listing_id,
            rent=rng.randint(15, 90) * 100,
            discount=Decimal(rng.choice(["0.3000", "0.5000"])),
            rent_free=rng.choice(RENT_FREE_MONTHS),
            min_term=min_term,
            max_term=max_term,
            deposit_months=rng.randint(0, 3),
        )
        chunk.listings.append(
            (
                listing["id"],
                space["id"],
                track,
                listing["rent"],
                listing["discount"],
                listing["rent_free"],
                listing["min_term"],
                listing["max_term"],
                listing["deposit_months"],
                opens_on,
                closes_on,
                CRITERIA,
                status,
                space["official"],
                _at(opens_on - timedelta(days=1), 16),
            )
        )
        return listing

    def _application(
        self,
        chunk: LeasingChunk,
        listing: dict,
        operator: int,
        use: str,
        offered: int,
        months: int,
        status: str,
        score: Decimal | None,
        reason: str,
        at: datetime,
    ) -> int:
        self.application_id += 1
        chunk.applications.append(
            (
                self.application_id,
                listing["id"],
                operator,
                use,
                offered,
                months,
                "",
                status,
                score,
                reason,
                self.city.operator_users[operator].user_id,
                at,
            )
        )
        return self.application_id

    def _open_listing(self, chunk: LeasingChunk, space: dict, empty_since: date | None) -> None:
        """Today's listing of an empty space, open for applications for another five weeks at least, with a
        few applications already in."""
        rng, today = self.rng, self.today
        opens_on = today - timedelta(days=rng.randint(0, 30))
        if empty_since is not None:
            opens_on = max(opens_on, min(empty_since, today))
        public_uses = [u for u in space["uses"] if u in rent.PUBLIC_SERVICE_USES]
        track = "preferential" if public_uses and rng.random() >= COMPETITIVE_SHARE else "competitive"
        listing = self._listing(
            chunk,
            space,
            track,
            opens_on,
            today + timedelta(days=rng.randint(35, 75)),
            "open",
            rng.choice((6, 12, 24)),
            rng.choice((36, 60)),
        )
        already = rng.randint(0, 3) if opens_on < today else 0
        for operator in rng.sample(self.earlier_applicants, min(len(self.earlier_applicants), already)):
            use = rng.choice(public_uses if track == "preferential" else space["uses"])
            offered = listing["rent"] if track == "preferential" else listing["rent"] + rng.randint(0, 10) * 100
            self._application(
                chunk,
                listing,
                operator,
                use,
                offered,
                listing["min_term"],
                "submitted",
                None,
                "",
                _at(opens_on + timedelta(days=rng.randint(0, (today - opens_on).days - 1)), 11),
            )
        if track == "competitive":
            self.open_competitive += 1
            entry = OpenListing(
                listing["id"],
                APPLY_PATH.format(listing_id=listing["id"]),
                {
                    "proposed_use": space["uses"][0],
                    "term_months": listing["min_term"],
                    "proposed_rent_per_m2_month": listing["rent"],
                    "plan": "基准测试：社区服务运营方案",
                },
            )
            if len(self.open_listings) < OPEN_LISTING_SAMPLE:
                self.open_listings.append(entry)
            else:  # a uniform sample of every competitive open listing
                slot = self.sample_rng.randrange(self.open_competitive)
                if slot < OPEN_LISTING_SAMPLE:
                    self.open_listings[slot] = entry

    def _lease_row(self, lease: dict, space: dict) -> tuple:
        status = lease["status"]
        terminated = status == "terminated"
        ended_at = _at(lease["ends_on"] - timedelta(days=self.rng.randint(0, 30)), 10) if terminated else None
        updated_at = lease["created_at"] if status == "active" else _at(lease["ends_on"], 2)
        return (
            lease["id"],
            space["id"],
            lease["lessee"],
            lease["listing"],
            lease["application"],
            lease["use"],
            lease["starts_on"],
            lease["ends_on"],
            lease["agreed_ends_on"],
            lease["monthly_rent"],
            lease["deposit"],
            lease["rent_free"],
            lease["payment_day"],
            status,
            lease["renewal_of"],
            space["official"],
            space["official"] if terminated else None,
            max(ended_at, lease["created_at"]) if terminated else None,
            "承租方申请提前退租" if terminated else "",
            lease["created_at"],
            updated_at,
        )


def _lease_counts(rng: random.Random, spaces: int, leases: int, most: int) -> list[int]:
    """Leases per space summing to `leases`: one each, the rest spread at random (at most `most` each)."""
    if leases > spaces * most:
        raise ValueError(f"{leases} leases do not fit on {spaces} spaces: at most {most} each over this history")
    if leases <= spaces:
        counts = [0] * spaces
        for index in rng.sample(range(spaces), leases):
            counts[index] = 1
        return counts
    counts = [1] * spaces
    open_slots = list(range(spaces))
    for _ in range(leases - spaces):
        pick = rng.randrange(len(open_slots))
        index = open_slots[pick]
        counts[index] += 1
        if counts[index] == most:
            open_slots[pick] = open_slots[-1]
            open_slots.pop()
    return counts


# $1 first and $2 last month number of the history, $3 seed, $4 and $5 the leases written by one statement,
# $6 today. A month is billed from the lease's first month after its rent-free ones to the month of its last
# day, within the history; a part month by the day (rounded half up), as leasing/rent.py bills it.
INVOICE_SQL = f"""
INSERT INTO leasing_invoice (lease, month, amount, due_on, status, last_decline, paid_at, created_at)
SELECT b.lease, b.month, b.amount, b.due_on,
       CASE WHEN NOT b.unpaid THEN 'paid' WHEN b.n = $2::int THEN 'open' ELSE 'overdue' END,
       CASE WHEN b.unpaid AND {_uniform("b.key", 13)} < 0.2 THEN '{DECLINE_TEXT}' ELSE '' END,
       CASE WHEN NOT b.unpaid THEN {
    _instant(
        f"least($6::date - 1, greatest(b.month, CASE WHEN {_uniform('b.key', 14)} < 0.1 "
        f"THEN b.due_on + 1 + floor(15 * {_uniform('b.key', 15)})::int "
        f"ELSE b.due_on - floor(6 * {_uniform('b.key', 15)})::int END))",
        f"8 + floor(12 * {_uniform('b.key', 16)})",
    )
} END,
       {_instant("b.month", "1")}
FROM (
    SELECT l.id AS lease, n, m.month, m.month + l.payment_day - 1 AS due_on,
           CASE WHEN m.days = m.month_days THEN l.monthly_rent
                ELSE round(l.monthly_rent::numeric * m.days / m.month_days)::bigint END AS amount,
           l.id::bigint * 1024 + (n - $1::int) AS key,
           {_uniform("l.id::bigint * 1024 + (n - $1::int)", 12)}
               < CASE WHEN n = $2::int THEN 0.25 WHEN n = $2::int - 1 THEN 0.08 ELSE 0.02 END AS unpaid
    FROM (SELECT id, starts_on, ends_on, monthly_rent, payment_day,
                 extract(year FROM starts_on)::int * 12 + extract(month FROM starts_on)::int - 1 + rent_free_months
                     AS first_billed,
                 extract(year FROM ends_on - 1)::int * 12 + extract(month FROM ends_on - 1)::int - 1 AS last_billed
          FROM leasing_lease WHERE id BETWEEN $4 AND $5) l
    CROSS JOIN LATERAL generate_series(greatest(l.first_billed, $1::int), least(l.last_billed, $2::int)) AS n
    CROSS JOIN LATERAL (SELECT {_month_of("n")} AS month, {_month_of("n + 1")} AS next) mm
    CROSS JOIN LATERAL (SELECT mm.month, least(mm.next, l.ends_on) - greatest(mm.month, l.starts_on) AS days,
                               mm.next - mm.month AS month_days) m
) b
WHERE b.amount > 0
"""


# Writing ---------------------------------------------------------------------------------------


class Writer:
    """Writes rows on one connection, counting and timing them by table; with a progress bar, a line per
    table from its first rows to its last (`finished`), and one per step."""

    def __init__(self, progress, totals: dict[str, int]) -> None:
        self.connection: asyncpg.Connection | None = None
        self.progress = progress
        self.totals = totals  # rows expected, where known beforehand
        self.counts: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self.steps: dict[str, float] = {}
        self.tasks: dict[str, int] = {}

    @contextlib.contextmanager
    def timing(self, label: str, *, step: bool = False) -> Iterator[None]:
        into = self.steps if step else self.seconds
        started = time.perf_counter()
        try:
            yield
        finally:
            into[label] = into.get(label, 0.0) + time.perf_counter() - started

    @contextlib.asynccontextmanager
    async def step(self, label: str):
        task = self.progress.add_task(label, total=None, rows="") if self.progress is not None else None
        with self.timing(label, step=True):
            yield
        if task is not None:
            self.progress.update(task, total=1, completed=1)

    async def copy(self, table: str, records: list[tuple], *, last: bool = True) -> None:
        """COPY `records` (tuples in the order of COLUMNS[table]); `last=False` when more follow."""
        self._started(table)
        if records:
            with self.timing(table):
                await self.connection.copy_records_to_table(table, columns=list(COLUMNS[table]), records=records)
            self._advance(table, len(records))
        if last:
            self.finished(table)

    async def insert(self, table: str, sql: str, *args) -> None:
        """One INSERT ... SELECT into `table`; call `finished` after the last one."""
        self._started(table)
        with self.timing(table):
            status = await self.connection.execute(sql, *args)
        self._advance(table, int(status.split()[-1]))

    def finished(self, table: str) -> None:
        if self.progress is not None:
            self.progress.update(self.tasks[table], total=self.counts[table], completed=self.counts[table])

    def _started(self, table: str) -> None:
        if table not in self.counts:
            self.counts[table] = 0
            if self.progress is not None:
                self.tasks[table] = self.progress.add_task(table, total=self.totals.get(table), rows="0 rows")

    def _advance(self, table: str, rows: int) -> None:
        self.counts[table] += rows
        if self.progress is not None:
            self.progress.update(self.tasks[table], advance=rows, rows=f"{self.counts[table]:,} rows")


async def _set_aside_constraints(connection: asyncpg.Connection, tables: list[str]) -> list[str]:
    """Drop the secondary indexes, unique and exclusion constraints and foreign keys of `tables` (primary keys
    and checks stay, and so does anything another table's foreign key relies on); returns the statements that
    rebuild them from their own definitions, indexes and unique constraints before foreign keys."""
    constraints = await connection.fetch(
        """
        SELECT c.conrelid::regclass::text AS table_name, c.conname AS name, c.contype AS kind,
               pg_get_constraintdef(c.oid) AS definition
        FROM pg_constraint c
        WHERE c.conrelid = ANY($1::regclass[]) AND c.contype IN ('f', 'u', 'x')
          AND (c.contype = 'f' OR NOT EXISTS (SELECT 1 FROM pg_constraint r
                                              WHERE r.contype = 'f' AND r.conindid = c.conindid))
        ORDER BY c.contype = 'f', c.oid
        """,
        tables,
    )
    indexes = await connection.fetch(
        """
        SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
        FROM pg_index i
        WHERE i.indrelid = ANY($1::regclass[]) AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY i.indexrelid
        """,
        tables,
    )
    for c in sorted(constraints, key=lambda c: c["kind"] != "f"):  # foreign keys go first
        await connection.execute(f'ALTER TABLE {c["table_name"]} DROP CONSTRAINT "{c["name"]}"')
    for index in indexes:
        await connection.execute(f"DROP INDEX {index['name']}")
    return [index["definition"] for index in indexes] + [
        f'ALTER TABLE {c["table_name"]} ADD CONSTRAINT "{c["name"]}" {c["definition"]}' for c in constraints
    ]


async def _reset_sequences(connection: asyncpg.Connection, tables: list[str]) -> None:
    """Each table's next id follows the largest one written."""
    for table in tables:
        await connection.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) FROM {table}"
        )


async def _shape(connection: asyncpg.Connection, today: date) -> dict[str, dict[str, int]]:
    """What the data looks like, read back: rows by status, and what ends soon."""
    horizon = today + timedelta(days=RENEWAL_DAYS)

    async def by(sql: str, *args) -> dict[str, int]:
        return {str(r[0]): r[1] for r in await connection.fetch(sql, *args)}

    return {
        "provider_operator.registry_status": await by(
            "SELECT registry_status, count(*) FROM provider_operator GROUP BY 1 ORDER BY 1"
        ),
        "provider_listing": await by(
            "SELECT CASE WHEN valid_until <= $1 THEN 'expired' WHEN valid_until <= $2 THEN 'ending within 90 days' "
            "ELSE 'valid' END, count(*) FROM provider_listing GROUP BY 1 ORDER BY 1",
            today,
            horizon,
        ),
        "market_contract.status": await by("SELECT status, count(*) FROM market_contract GROUP BY 1 ORDER BY 1"),
        "market_need.status": await by("SELECT status, count(*) FROM market_need GROUP BY 1 ORDER BY 1"),
        "leasing_space.status": await by("SELECT status, count(*) FROM leasing_space GROUP BY 1 ORDER BY 1"),
        "leasing_listing.status": await by(
            "SELECT status || ' ' || track, count(*) FROM leasing_listing GROUP BY 1 ORDER BY 1"
        ),
        "leasing_application.status": await by(
            "SELECT status, count(*) FROM leasing_application GROUP BY 1 ORDER BY 1"
        ),
        "leasing_lease.status": await by("SELECT status, count(*) FROM leasing_lease GROUP BY 1 ORDER BY 1"),
        "leasing_lease.active": await by(
            "SELECT CASE WHEN ends_on = $1 THEN 'ending today' WHEN ends_on <= $2 THEN 'ending within 90 days' "
            "ELSE 'later' END, count(*) FROM leasing_lease WHERE status = 'active' GROUP BY 1 ORDER BY 1",
            today,
            horizon,
        ),
        "leasing_invoice.status": await by("SELECT status, count(*) FROM leasing_invoice GROUP BY 1 ORDER BY 1"),
        "leasing_invoice.months": await by(
            "SELECT 'first ' || to_char(min(month), 'YYYY-MM'), 1 FROM leasing_invoice UNION ALL "
            "SELECT 'last ' || to_char(max(month), 'YYYY-MM'), 1 FROM leasing_invoice"
        ),
    }


# Generate --------------------------------------------------------------------------------------


def _use_database(url: str) -> None:
    """Migrations and reference data go through the project's own engine, which reads DATABASE_URL once:
    point it at `url` before it is first loaded (or check that it already is)."""
    if "app.piccolo_conf" in sys.modules:
        from piccolo.engine import engine_finder

        dsn = engine_finder().config.get("dsn")
        if dsn != url:
            raise ValueError(f"this process's engine already uses {dsn}; generate() was given {url}")
        return
    os.environ["DATABASE_URL"] = os.environ["MIGRATION_DATABASE_URL"] = url
    from core.settings import get_settings

    get_settings.cache_clear()


@contextlib.contextmanager
def _progress_bar(enabled: bool):
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description:<32}"),
        BarColumn(bar_width=30),
        TextColumn("{task.fields[rows]:>18}"),
        TimeElapsedColumn(),
    ) as progress:
        yield progress


async def generate(
    url: str, size: Size, *, seed: int = 2026, today: date | None = None, progress: bool = True
) -> Manifest:
    """Migrate the empty database at `url` and fill it with a city of `size` as it stands on `today`."""
    started = time.perf_counter()
    today = today or first_of_this_month()
    this_month = today.replace(day=1)
    _use_database(url)
    rng = random.Random(seed)

    with _progress_bar(progress) as bar:
        writer = Writer(
            bar,
            {
                "market_community": size.communities,
                "provider_operator": size.operators,
                "leasing_space": size.spaces,
                "leasing_lease": size.leases,
            },
        )
        async with writer.step("migrate"):
            from core.migrate import migrate
            from core.reference import load_reference_data

            await migrate()
            await load_reference_data()
        # The owner's connection: loading drops and restores constraints.
        from core.db import resolve_migration_database_url

        connection = writer.connection = await asyncpg.connect(resolve_migration_database_url())
        try:
            if await connection.fetchval("SELECT EXISTS (SELECT 1 FROM organisation)"):
                raise RuntimeError("the database already holds organisations: generate() fills an empty one")
            await connection.execute("SET maintenance_work_mem = '512MB'")
            await connection.execute("SET synchronous_commit = off")
            from core.accounts.service import hash_password

            password_hash = await hash_password(PASSWORD)
            categories = [
                r["code"]
                for r in await connection.fetch(
                    "SELECT code FROM provider_category WHERE active ORDER BY sort_order, code"
                )
            ]
            first_month = add_months(this_month, -size.months)
            city = City(
                size=size,
                today=today,
                this_month=this_month,
                first_month=first_month,
                setup_at=_at(first_month - timedelta(days=120)),
                categories=categories,
            )
            async with connection.transaction():
                async with writer.step("set aside indexes and constraints"):
                    rebuild = await _set_aside_constraints(connection, TABLES)
                manifest_parts = await _fill(connection, writer, rng, city, password_hash, seed)
                async with writer.step("rebuild indexes and constraints"):
                    # Deferred triggers (the data versions bumped at commit) fire now: a table with pending
                    # trigger events cannot be altered.
                    await connection.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    for statement in rebuild:
                        await connection.execute(statement)
                    await _reset_sequences(connection, TABLES)
            async with connection.transaction():
                seeded = await residents.seed(
                    connection,
                    writer.insert,
                    households_per_community=size.households_per_community,
                    poll_ballots=size.poll_ballots,
                    communities=manifest_parts["communities_with_open_needs"],
                    city_user_id=manifest_parts["city_official"].user_id,
                    password_hash=password_hash,
                    today=_at(today),
                    month_redemptions=size.month_redemptions,
                )
                for table in (
                    "resident_household",
                    "account_user",
                    "role_grant",
                    "resident",
                    "resident_ballot",
                    "points_service",
                    "points_account",
                    "points_posting",
                    "points_redemption",
                ):
                    if table in writer.counts:
                        writer.finished(table)
            async with writer.step("VACUUM ANALYZE"):
                await connection.execute("VACUUM ANALYZE")
            shape = await _shape(connection, today)
        finally:
            await connection.close()

    return Manifest(
        size=size.name,
        seed=seed,
        today=today.isoformat(),
        password=PASSWORD,
        counts=writer.counts,
        seconds={k: round(v, 3) for k, v in writer.seconds.items()},
        steps={k: round(v, 3) for k, v in writer.steps.items()},
        total_seconds=round(time.perf_counter() - started, 3),
        shape=shape,
        **manifest_parts,
        tally_poll_ids=seeded.tally_poll_ids,
        tally_ballots=seeded.tally_ballots,
        resident_accounts=seeded.resident_accounts,
        points_redemptions=seeded.points_redemptions,
    )


# A published batch takes no new entries (a trigger refuses them), so the batches arrive on notice and, their
# entries written, are published and numbered per year in one statement, as publication does.
PUBLISH_BATCHES = """
WITH numbered AS (
    SELECT id, extract(year FROM published_on)::int AS year,
           row_number() OVER (PARTITION BY extract(year FROM published_on) ORDER BY published_on, id)::int AS seq
    FROM provider_batch WHERE state = 'notice' AND published_on IS NOT NULL
)
UPDATE provider_batch b SET state = 'published', number_year = n.year, number_seq = n.seq
FROM numbered n WHERE b.id = n.id;
INSERT INTO provider_batch_counter (year, last_seq)
SELECT number_year, max(number_seq) FROM provider_batch WHERE number_seq IS NOT NULL GROUP BY number_year
ON CONFLICT (year) DO UPDATE SET last_seq = excluded.last_seq;
"""


async def _fill(
    connection: asyncpg.Connection, writer: Writer, rng: random.Random, city: City, password_hash: str, seed: int
) -> dict:
    """Every row, parents before children; returns the manifest's samples."""
    with writer.timing("build registry rows in Python", step=True):
        _org_tree(rng, city)
        _accounts(city, password_hash)
        _registry(rng, city, password_hash)
    await writer.copy("organisation", city.organisations)
    await writer.copy("account_user", city.users)
    await writer.copy("role_grant", city.grants)
    await writer.copy("provider_operator", _operator_rows(city))
    await writer.copy("provider_batch", city.batches)
    await writer.copy("provider_application", city.applications)
    await writer.copy("provider_application_event", city.application_events)
    await writer.copy("provider_application_category", city.application_categories)
    await writer.copy("provider_batch_entry", city.batch_entries)
    await connection.execute(PUBLISH_BATCHES)
    await writer.copy("provider_listing", city.listings)
    await writer.copy("provider_status_decision", city.status_decisions)

    with writer.timing("build market rows in Python", step=True):
        _contracts(rng, city)
        _open_needs(rng, city)
        _evaluations(rng, city)
        plans, fees = _ledger_plans(rng, city)
    await writer.copy("market_community", [tuple(c[k] for k in COLUMNS["market_community"]) for c in city.communities])
    await writer.copy("market_need", city.needs)
    await writer.copy("market_contract", _contract_rows(city))
    await writer.copy("provider_evaluation", city.evaluations)

    with writer.timing("market_ledger_entry"):  # the plans per community, for the statements below
        await connection.execute(
            "CREATE TEMP TABLE bench_ledger_community (community int PRIMARY KEY, street int, poster int, "
            "ratio float8, monthly_cost float8) ON COMMIT DROP"
        )
        await connection.execute(
            "CREATE TEMP TABLE bench_ledger_contract (community int, contract int, monthly_fee bigint, "
            "starts_on date, ends_on date) ON COMMIT DROP"
        )
        await connection.copy_records_to_table("bench_ledger_community", records=plans)
        await connection.copy_records_to_table("bench_ledger_contract", records=fees)
        await connection.execute("CREATE INDEX ON bench_ledger_contract (community)")
        await connection.execute("ANALYZE bench_ledger_community; ANALYZE bench_ledger_contract")
    for low in range(1, len(city.communities) + 1, LEDGER_CHUNK):
        await writer.insert(
            "market_ledger_entry",
            LEDGER_SQL,
            _month_number(city.first_month),
            city.size.months,
            seed,
            low,
            low + LEDGER_CHUNK - 1,
        )
    writer.finished("market_ledger_entry")

    good = [o for o in city.operators if o["registry_status"] in ("listed", "warned")]
    sampled = random.Random(seed + 1).sample(good, min(OPERATOR_SAMPLE, len(good) - len(good) // 4))
    sample_operators = [city.operator_users[o["id"]] for o in sorted(sampled, key=lambda o: o["id"])]
    leasing = Leasing(rng, city, sample_operators)
    chunks = leasing.chunks()
    while True:
        with writer.timing("build leasing rows in Python", step=True):
            chunk = next(chunks, None)
        if chunk is None:
            break
        await writer.copy("leasing_space", chunk.spaces, last=False)
        await writer.copy("leasing_listing", chunk.listings, last=False)
        await writer.copy("leasing_application", chunk.applications, last=False)
        await writer.copy("leasing_lease", chunk.leases, last=False)
    for table in ("leasing_space", "leasing_listing", "leasing_application", "leasing_lease"):
        writer.finished(table)

    await connection.execute("ANALYZE leasing_lease")
    for low in range(1, leasing.lease_id + 1, INVOICE_CHUNK):
        await writer.insert(
            "leasing_invoice",
            INVOICE_SQL,
            _month_number(city.first_month),
            _month_number(city.this_month) - 1,
            seed,
            low,
            low + INVOICE_CHUNK - 1,
            city.today,
        )
    writer.finished("leasing_invoice")

    with_needs = sorted({n[1] for n in city.needs if n[5] == "open"})
    street = city.street_users[min(city.street_users)]
    fuchun = [s for s in city.streets if s["name"] == "富春街道"]
    if fuchun:
        street = city.street_users[fuchun[0]["id"]]
    return dict(
        district_ids=sorted(city.districts),
        communities_with_open_needs=sorted(random.Random(seed + 2).sample(with_needs, min(SAMPLE, len(with_needs)))),
        city_official=city.city_user,
        district_officials=[city.district_users[d] for d in sorted(city.districts)],
        street_official=street,
        auditor=city.auditor,
        operators=sample_operators,
        open_listing_ids=sorted(o.listing_id for o in leasing.open_listings),
        open_listings=sorted(leasing.open_listings, key=lambda o: o.listing_id),
    )


# Command line ----------------------------------------------------------------------------------


def _print_summary(manifest: Manifest) -> None:
    print(f"\n{manifest.size}: today {manifest.today}, seed {manifest.seed}, {manifest.total_seconds:.1f} s in all")
    width = max(len(t) for t in [*manifest.counts, *manifest.steps])
    for table, rows in manifest.counts.items():
        print(f"  {table:<{width}}  {rows:>12,} rows  {manifest.seconds.get(table, 0.0):8.2f} s")
    for step, seconds in manifest.steps.items():
        print(f"  {step:<{width}}  {'':>17}  {seconds:8.2f} s")
    for label, values in manifest.shape.items():
        print(f"  {label}: " + ", ".join(f"{k} {v:,}" for k, v in values.items()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.data", description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=list(SIZES), default="city")
    parser.add_argument("--database-url", help="an empty database (default: a throwaway embedded PostgreSQL)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--today", type=date.fromisoformat, help="YYYY-MM-DD (default: the 1st of this month)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--manifest", type=Path, help="write the manifest here as JSON")
    args = parser.parse_args(argv)

    folder = None
    try:
        url = args.database_url
        if url is None:
            folder = Path(tempfile.mkdtemp(prefix="fcom-bench-data-"))
            url = create_database(start_embedded_postgres(folder / "data"), "fcom_bench")
        manifest = asyncio.run(
            generate(url, SIZES[args.size], seed=args.seed, today=args.today, progress=not args.quiet)
        )
        if args.manifest:
            args.manifest.write_text(
                json.dumps(asdict(manifest), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
            )
        _print_summary(manifest)
    finally:
        if folder is not None:
            stop_embedded_postgres(folder / "data")
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
