"""Demo leasing: 26 idle rooms (存量空间) offered for reuse, 22 of them in eight Fuyang future communities and
one in each of four other districts, registered by 富阳城投 (state-owned), 富春街道, 富阳区 and the city, in
every state:

- idle: seven, one of them after its listing was withdrawn;
- listed: six open listings on both tracks, the demo operator account applying to two of them;
- leased: thirteen, to listed operators, begun 6 to 24 months ago. One was awarded to the demo operator
  account through a preferential listing; the others were agreed directly (those begun before the register
  opened in June 2025 carried over from paper). Three end within 90 days and one was renewed; one more
  lease was terminated early and its room is listed again.

Rent is billed every month up to today. Every invoice already due was paid around its due date, settled
through the payment flow (a payment row, then `settle`) without calling the payment server, so each paid
month reaches the community's ledger once; the exceptions are the arrears: one lessee is three months
behind, and the demo operator account has last month's invoice overdue and this month's still open. Rents run from 3,000
to 30,000 元 a month, small beside the communities' running costs.

Built through the leasing service, dated when each action would have happened. Everything loads in one
transaction, and a second run adds nothing.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum

import msgspec

from core import clock
from core.accounts import repository as accounts_repo
from core.accounts import service as accounts
from core.accounts.principal import Principal, like_patterns
from core.accounts.tables import Role
from core.clock import add_months, month_start
from core.payments import PaymentIntent
from leasing import rent, service
from leasing import repository as repo
from leasing.schemas import ApplicationRow, InvoiceRow, LeaseRow, ListingRow, SpaceRow
from leasing.tables import OwnerKind
from market import repository as market_repo
from market import service as market
from market.schemas import ServingOperator
from providers import repository as providers_repo

FUYANG_CODE = "330111"
REGISTER_OPENED = date(2025, 6, 2)  # the street offices' register of idle rooms; older leases carried over from paper
# The registry category an operator needs for each use.
USE_CATEGORY = {
    "public_service": "integrated",
    "commerce": "commerce",
    "incubation": "incubation",
    "elderly_care": "elderly",
    "childcare": "childcare",
    "culture": "culture",
    "health": "health",
}
# 元 per m² per month before the public-welfare discount; rooms outside Fuyang let for RENT_OUTSIDE_FUYANG times more.
RENT_RANGES = {
    "commerce": (45, 60),
    "incubation": (32, 45),
    "public_service": (30, 40),
    "elderly_care": (30, 38),
    "childcare": (32, 40),
    "culture": (28, 36),
    "health": (35, 45),
}
RENT_OUTSIDE_FUYANG = 1.3
AGREED_DISCOUNT = Decimal("0.3")
COMPETITIVE_DISCOUNT = Decimal("0.3")
PREFERENTIAL_DISCOUNT = Decimal("0.4")
PAYMENT_DAYS = [5, 10, 10, 15, 20, 25]
DEMO_PAYMENT_DAY = 28
YUAN = 100  # fen


class Plan(str, Enum):
    idle = "idle"
    withdrawn = "withdrawn"  # listed once, the listing cancelled
    competitive = "competitive"  # an open listing on the competitive track
    preferential = "preferential"  # an open listing on the preferential track
    awarded = "awarded"  # let to the demo operator account through a preferential listing
    leased = "leased"
    ending = "ending"  # the lease ends within 90 days
    arrears = "arrears"  # the lessee is three months behind
    renewed = "renewed"
    terminated = "terminated"  # the lease ended early; the room is listed again


@dataclass(frozen=True)
class DemoSpace:
    district: str
    community: str
    owner_kind: OwnerKind
    address: str
    floor: str
    area: str
    uses: tuple[str, ...]
    condition: str
    plan: Plan
    use: str = ""  # what it is let for, or what the open listing is mostly offered for
    demo_applies: bool = False


STATE, GOV, COLLECTIVE, INSTITUTION = (
    OwnerKind.state_owned,
    OwnerKind.government,
    OwnerKind.community_collective,
    OwnerKind.institution,
)
SPACES = [
    DemoSpace(
        FUYANG_CODE,
        "江滨社区",
        GOV,
        "江滨社区邻里中心二层 201",
        "2",
        "200",
        ("culture", "public_service"),
        "精装修，配书架与活动桌椅",
        Plan.awarded,
        "culture",
    ),
    DemoSpace(
        FUYANG_CODE,
        "江滨社区",
        STATE,
        "江滨西大道 118 号沿街商铺",
        "1",
        "85",
        ("commerce",),
        "简装，临街双开间",
        Plan.leased,
        "commerce",
    ),
    DemoSpace(
        FUYANG_CODE,
        "江滨社区",
        STATE,
        "江滨社区邻里中心一层 105",
        "1",
        "120",
        ("commerce", "public_service"),
        "毛坯，水电到位",
        Plan.competitive,
        "commerce",
        demo_applies=True,
    ),
    DemoSpace(
        FUYANG_CODE,
        "江滨社区",
        COLLECTIVE,
        "江滨花园 12 幢架空层",
        "1",
        "240",
        ("public_service", "culture", "health"),
        "架空层，需封闭改造",
        Plan.idle,
    ),
    DemoSpace(
        FUYANG_CODE,
        "百合社区",
        GOV,
        "百合社区邻里中心三层 302",
        "3",
        "210",
        ("childcare", "public_service"),
        "精装修，已通过消防验收",
        Plan.leased,
        "childcare",
    ),
    DemoSpace(
        FUYANG_CODE,
        "百合社区",
        COLLECTIVE,
        "百合新村 5 幢底层车库改造用房",
        "1",
        "110",
        ("incubation", "commerce"),
        "简装，层高 3.2 米",
        Plan.leased,
        "incubation",
    ),
    DemoSpace(
        FUYANG_CODE,
        "百合社区",
        GOV,
        "百合社区文化家园二层",
        "2",
        "260",
        ("culture", "public_service"),
        "精装修，含 80 座多功能厅",
        Plan.preferential,
        "culture",
        demo_applies=True,
    ),
    DemoSpace(
        FUYANG_CODE,
        "蒋家桥社区",
        STATE,
        "蒋家桥农贸市场二层",
        "2",
        "480",
        ("commerce", "incubation"),
        "大开间，可分隔",
        Plan.terminated,
        "commerce",
    ),
    DemoSpace(
        FUYANG_CODE,
        "蒋家桥社区",
        GOV,
        "蒋家桥社区服务中心一层 103",
        "1",
        "150",
        ("elderly_care", "health"),
        "已完成适老化改造",
        Plan.ending,
        "elderly_care",
    ),
    DemoSpace(
        FUYANG_CODE,
        "蒋家桥社区",
        COLLECTIVE,
        "蒋家桥路 36 号原村集体仓库",
        "1",
        "580",
        ("incubation", "commerce"),
        "砖混结构，待房屋安全鉴定",
        Plan.withdrawn,
        "incubation",
    ),
    DemoSpace(
        FUYANG_CODE,
        "阳陂湖社区",
        GOV,
        "阳陂湖社区邻里中心二层 203",
        "2",
        "220",
        ("elderly_care", "health", "public_service"),
        "精装修，带助浴间",
        Plan.leased,
        "elderly_care",
    ),
    DemoSpace(FUYANG_CODE, "阳陂湖社区", STATE, "阳陂湖南苑 3 幢一层商铺", "1", "70", ("commerce",), "毛坯", Plan.idle),
    DemoSpace(
        FUYANG_CODE,
        "金家桥社区",
        GOV,
        "金家桥社区综合楼一层",
        "1",
        "300",
        ("childcare", "public_service"),
        "精装修，带户外活动场地",
        Plan.arrears,
        "childcare",
    ),
    DemoSpace(
        FUYANG_CODE,
        "金家桥社区",
        STATE,
        "金家桥社区综合楼二层 201",
        "2",
        "180",
        ("health", "elderly_care"),
        "简装",
        Plan.leased,
        "health",
    ),
    DemoSpace(
        FUYANG_CODE,
        "金家桥社区",
        COLLECTIVE,
        "金家桥安置小区 8 幢地下一层",
        "B1",
        "400",
        ("commerce", "incubation"),
        "地下空间，需加装新风系统",
        Plan.idle,
    ),
    DemoSpace(
        FUYANG_CODE,
        "杭黄社区",
        STATE,
        "杭黄社区邻里中心一层 108",
        "1",
        "260",
        ("childcare", "public_service"),
        "精装修，带独立出入口",
        Plan.preferential,
        "childcare",
    ),
    DemoSpace(
        FUYANG_CODE,
        "杭黄社区",
        STATE,
        "杭黄社区邻里中心二层 206",
        "2",
        "320",
        ("public_service", "culture", "health"),
        "精装修",
        Plan.renewed,
        "public_service",
    ),
    DemoSpace(
        FUYANG_CODE,
        "杭黄社区",
        STATE,
        "杭黄社区商业街 2 号铺",
        "1",
        "140",
        ("commerce",),
        "简装，临街",
        Plan.leased,
        "commerce",
    ),
    DemoSpace(
        FUYANG_CODE,
        "逸城社区",
        STATE,
        "逸城社区邻里中心一层 101",
        "1",
        "200",
        ("elderly_care", "health"),
        "适老化装修，含助餐厨房",
        Plan.ending,
        "elderly_care",
    ),
    DemoSpace(
        FUYANG_CODE,
        "逸城社区",
        INSTITUTION,
        "逸城社区配套用房 4 号楼二层",
        "2",
        "110",
        ("incubation", "commerce", "culture"),
        "简装",
        Plan.idle,
    ),
    DemoSpace(
        FUYANG_CODE,
        "新民社区",
        STATE,
        "新民社区邻里中心（在建）一层",
        "1",
        "350",
        ("commerce", "public_service", "childcare"),
        "交付标准为简装，预计明年交付",
        Plan.competitive,
        "commerce",
    ),
    DemoSpace(
        FUYANG_CODE,
        "新民社区",
        COLLECTIVE,
        "新民社区原老年活动室",
        "1",
        "60",
        ("elderly_care", "culture"),
        "需翻新",
        Plan.idle,
    ),
    DemoSpace(
        "330106",
        "翠苑一区社区",
        INSTITUTION,
        "翠苑一区 27 幢底层",
        "1",
        "130",
        ("health", "elderly_care"),
        "原社区卫生服务站，简装",
        Plan.leased,
        "health",
    ),
    DemoSpace(
        "330105",
        "打铁关社区",
        GOV,
        "打铁关社区邻里中心三层",
        "3",
        "240",
        ("elderly_care", "public_service"),
        "精装修",
        Plan.preferential,
        "elderly_care",
    ),
    DemoSpace(
        "330102",
        "小营巷社区",
        GOV,
        "小营巷社区创业服务站二楼",
        "2",
        "180",
        ("incubation", "commerce"),
        "开放式办公，网络到位",
        Plan.ending,
        "incubation",
    ),
    DemoSpace(
        "330108",
        "槐树社区",
        GOV,
        "槐树路 48 号沿街用房",
        "1",
        "55",
        ("commerce", "culture"),
        "老旧沿街房，需修缮",
        Plan.idle,
    ),
]
LEASE_PLANS = {Plan.awarded, Plan.leased, Plan.ending, Plan.arrears, Plan.renewed, Plan.terminated}
DEMO_PLANS = {
    "culture": "邻里书房与亲子阅读空间：每周开放 6 天，每月公益读书会、非遗手作课不少于 4 场",
    "commerce": "社区便民生活服务站：早餐、代收快递、家电维修，营业至晚 9 点",
}


@dataclass(frozen=True)
class Actors:
    city: Principal
    district: Principal
    street: Principal
    owner: Principal
    operator: Principal


@dataclass
class Billing:
    """How a lease's invoices get paid: not before it was signed, sometimes late, and from `unpaid_from` not
    at all."""

    signed_on: date
    late_payer: bool
    unpaid_from: date | None = None


def _at(day: date) -> datetime:
    return datetime.combine(day, time(10, 0), tzinfo=clock.BUSINESS_TZ).astimezone(UTC)


async def _principal(username: str) -> Principal:
    user_id = await accounts_repo.user_id_by_username(username)
    principal = await accounts.load_principal(user_id) if user_id is not None else None
    if principal is None:
        raise LookupError(f"demo account {username} is missing")
    return principal


async def _actors() -> Actors:
    return Actors(
        city=await _principal("city_admin"),
        district=await _principal("fuyang_district"),
        street=await _principal("fuchun_street"),
        owner=await _principal("owner_demo"),
        operator=await _principal("operator_demo"),
    )


def _official_for(actors: Actors, community: dict) -> Principal:
    """The nearest official account whose scope covers the community."""
    for principal in (actors.street, actors.district):
        if principal.can_write_path(community["org_path"]):
            return principal
    return actors.city


def _manager(actors: Actors, community: dict, spec: DemoSpace) -> Principal:
    """Who registers and lists the room: 富阳城投 its own, the nearest official the others."""
    return actors.owner if spec.owner_kind is STATE else _official_for(actors, community)


async def _communities(actors: Actors) -> dict[tuple[str, str], dict]:
    rows, _ = await market.list_communities(
        actors.city, district_id=None, street_id=None, status=None, pool=None, q=None, limit=1000, offset=0
    )
    districts = {}
    for code in {spec.district for spec in SPACES}:
        district = await accounts_repo.get_org_by_code(code)
        if district is None:
            raise LookupError(f"demo district {code} is missing")
        districts[district.id] = code
    return {(districts[r.district_id], r.name): msgspec.structs.asdict(r) for r in rows if r.district_id in districts}


def _rate(rng: random.Random, use: str, community: dict) -> int:
    """Fen per m² per month."""
    low, high = RENT_RANGES[use]
    factor = 1.0 if community["district_code"] == FUYANG_CODE else RENT_OUTSIDE_FUYANG
    return round(rng.randint(low, high) * factor) * YUAN


def _whole_yuan(fen: int | float) -> int:
    return round(fen / YUAN) * YUAN


# Rooms and listings ----------------------------------------------------------------------------


async def _register(actors: Actors, community: dict, spec: DemoSpace, day: date) -> SpaceRow:
    fields = {
        "community_id": community["id"],
        "owner_kind": spec.owner_kind.value,
        "address": spec.address,
        "area_m2": Decimal(spec.area),
        "floor": spec.floor,
        "condition": spec.condition,
        "allowed_uses": list(spec.uses),
        "photos": [],
    }
    if spec.owner_kind is COLLECTIVE:
        fields["owner_org_id"] = community["org_id"]
    with clock.business_time(_at(day)):
        return await service.register_space(_manager(actors, community, spec), fields)


def _terms(rng: random.Random, community: dict, use: str, track: Plan, opens_on: date, closes_on: date) -> dict:
    preferential = track is Plan.preferential
    return {
        "track": track.value,
        "rent_per_m2_month": _rate(rng, use, community),
        "public_welfare_discount": PREFERENTIAL_DISCOUNT if preferential else COMPETITIVE_DISCOUNT,
        "rent_free_months": rng.randint(1, 3) if preferential else rng.randint(0, 2),
        "min_term_months": 24 if preferential else 12,
        "max_term_months": 60,
        "deposit_months": 1 if preferential else 2,
        "opens_on": opens_on,
        "closes_on": closes_on,
        "criteria": None,
    }


async def _list(
    rng: random.Random,
    actors: Actors,
    community: dict,
    space: SpaceRow,
    spec: DemoSpace,
    track: Plan,
    opens_on: date,
    closes_on: date,
) -> ListingRow:
    with clock.business_time(_at(opens_on)):
        return await service.create_listing(
            _manager(actors, community, spec),
            space.id,
            _terms(rng, community, spec.use or spec.uses[0], track, opens_on, closes_on),
        )


async def _apply_as_demo_operator(
    rng: random.Random, actors: Actors, listing: ListingRow, use: str, day: date
) -> ApplicationRow:
    asking = listing.rent_per_m2_month
    with clock.business_time(_at(day)):
        return await service.apply(
            actors.operator,
            listing.id,
            {
                "proposed_use": use,
                "term_months": 36,
                "plan": DEMO_PLANS[use],
                "proposed_rent_per_m2_month": math.ceil(asking * rng.randint(103, 112) / 100 / YUAN) * YUAN,
            },
        )


async def load_open_listing(
    rng: random.Random, actors: Actors, community: dict, space: SpaceRow, spec: DemoSpace, today: date
) -> None:
    """Open from a few days to three weeks ago, closing in two to six weeks."""
    opens_on = today - timedelta(days=rng.randint(3, 21))
    listing = await _list(
        rng, actors, community, space, spec, spec.plan, opens_on, today + timedelta(days=rng.randint(14, 42))
    )
    if spec.demo_applies:
        applied_on = min(opens_on + timedelta(days=rng.randint(1, 3)), today)
        await _apply_as_demo_operator(rng, actors, listing, spec.use, applied_on)


async def load_withdrawn_listing(
    rng: random.Random, actors: Actors, community: dict, space: SpaceRow, spec: DemoSpace, registered_on: date
) -> None:
    opens_on = registered_on + timedelta(days=20)
    listing = await _list(
        rng, actors, community, space, spec, Plan.competitive, opens_on, opens_on + timedelta(days=30)
    )
    with clock.business_time(_at(opens_on + timedelta(days=12))):
        await service.cancel_listing(
            _manager(actors, community, spec), listing.id, "房屋安全鉴定未通过，加固完成后再行招租"
        )


# Leases ----------------------------------------------------------------------------------------


async def _listed_since(operator_id: int, category: str, today: date) -> date | None:
    """The day the operator's listing for `category` valid today took effect."""
    for row in await providers_repo.listings_for(operator_id):
        if row.category == category and row.valid_from <= today < row.valid_until:
            return row.valid_from
    return None


async def _lessee(
    rng: random.Random, community: dict, use: str, wanted_on: date, today: date, taken: Counter, excluded: int
) -> tuple[ServingOperator, date] | None:
    """A listed operator serving the district for the use, the least busy of those listed by `wanted_on`, and
    the day it could sign (later than `wanted_on` only when nobody was listed by then)."""
    category = USE_CATEGORY[use]
    serving = []
    for operator in await market_repo.operators_serving(category, community["district_id"], today):
        since = await _listed_since(operator.id, category, today)
        if operator.id != excluded and since is not None:
            serving.append((operator, since))
    if not serving:
        return None
    ready = [(o, since) for o, since in serving if since <= wanted_on] or [min(serving, key=lambda s: (s[1], s[0].id))]
    fewest = min(taken[o.id] for o, _ in ready)
    operator, since = rng.choice([(o, since) for o, since in ready if taken[o.id] == fewest])
    taken[operator.id] += 1
    return operator, max(wanted_on, since)


def _lease_term(rng: random.Random, plan: Plan, this_month: date) -> tuple[date, date]:
    if plan is Plan.ending:
        return add_months(this_month, -rng.randint(13, 23)), add_months(this_month, rng.randint(1, 2))
    if plan is Plan.renewed:
        starts_on = add_months(this_month, -rng.randint(20, 23))
        return starts_on, add_months(starts_on, 12)
    if plan is Plan.terminated:
        starts_on = add_months(this_month, -rng.randint(14, 18))
        return starts_on, add_months(starts_on, 60)
    starts_on = add_months(this_month, -rng.randint(6, 24))
    if rng.random() < 0.25:
        starts_on += timedelta(days=15)
    return starts_on, add_months(month_start(starts_on), rng.choice([36, 48, 60]))


async def load_agreed_lease(
    rng: random.Random,
    actors: Actors,
    community: dict,
    space: SpaceRow,
    spec: DemoSpace,
    term: tuple[date, date],
    lessee: ServingOperator,
    signed_on: date,
) -> LeaseRow:
    """A lease agreed directly by the official over the community, at the public-welfare discount for a
    public-service use."""
    starts_on, ends_on = term
    monthly = _whole_yuan(rent.monthly_rent(_rate(rng, spec.use, community), space.area_m2, spec.use, AGREED_DISCOUNT))
    fields = {
        "space_id": space.id,
        "lessee_id": lessee.id,
        "use": spec.use,
        "starts_on": starts_on,
        "ends_on": ends_on,
        "monthly_rent": monthly,
        "deposit": 2 * monthly,
        "rent_free_months": rng.choice([0, 0, 1, 2]) if signed_on <= starts_on else 0,
        "payment_day": rng.choice(PAYMENT_DAYS),
    }
    with clock.business_time(_at(signed_on)):
        return await service.create_lease(_official_for(actors, community), fields)


async def load_awarded_lease(
    rng: random.Random, actors: Actors, community: dict, space: SpaceRow, spec: DemoSpace, this_month: date
) -> LeaseRow:
    """A preferential listing a month long; the demo operator account applies in its first week and the
    street awards it four days after it closes, the lease starting the next month."""
    opens_on = add_months(this_month, -15) + timedelta(days=4)
    closes_on = opens_on + timedelta(days=30)
    listing = await _list(rng, actors, community, space, spec, Plan.preferential, opens_on, closes_on)
    application = await _apply_as_demo_operator(rng, actors, listing, spec.use, opens_on + timedelta(days=6))
    official = _official_for(actors, community)
    if official is actors.street:  # the street's panel scores it the day after the window closes
        with clock.business_time(_at(closes_on + timedelta(days=1))):
            await service.score_application(
                official,
                listing.id,
                application.id,
                {"elderly": 62, "children": 88, "discounts": 75},
                "亲子阅读与公益课程安排具体，居民优惠明确；为老服务内容偏少",
            )
    with clock.business_time(_at(closes_on + timedelta(days=4))):
        return await service.award_listing(
            _official_for(actors, community),
            listing.id,
            application.id,
            reason="名录内运营商，公益性文化用途，方案完整，符合协议出租条件",
            starts_on=None,
            payment_day=DEMO_PAYMENT_DAY,
        )


async def load_lease_history(
    rng: random.Random,
    actors: Actors,
    community: dict,
    space: SpaceRow,
    spec: DemoSpace,
    lease: LeaseRow,
    today: date,
    billing: dict[int, Billing],
) -> None:
    """What happens after signing: a renewal a few weeks before the end, or an early termination (the room
    then listed again)."""
    this_month = month_start(today)
    official = _official_for(actors, community)
    if spec.plan is Plan.renewed:
        decided_on = lease.ends_on - timedelta(days=25)
        with clock.business_time(_at(decided_on)):
            successor = await service.renew_lease(
                official,
                lease.id,
                ends_on=add_months(lease.ends_on, 36),
                monthly_rent=_whole_yuan(lease.monthly_rent * 1.05),
                reason="承租方按时缴租、运营良好，续租三年，租金上调5%",
            )
        billing[successor.id] = Billing(decided_on, billing[lease.id].late_payer)
    elif spec.plan is Plan.terminated:
        effective_on = add_months(this_month, -5)
        with clock.business_time(_at(effective_on - timedelta(days=20))):
            await service.terminate_lease(
                official, lease.id, reason="承租方经营调整，双方协商提前解除租约", effective_on=effective_on
            )
        with clock.business_time(_at(effective_on)):
            await service.end_leases()  # what the nightly job did that day
        opens_on = today - timedelta(days=rng.randint(5, 15))
        await _list(
            rng, actors, community, space, spec, Plan.competitive, opens_on, today + timedelta(days=rng.randint(20, 40))
        )


async def load_spaces(rng: random.Random, actors: Actors, today: date) -> dict[int, Billing]:
    """Every room, then what happened to it; returns how each lease's invoices are paid, by lease."""
    communities = await _communities(actors)
    this_month = month_start(today)
    demo_operator = await providers_repo.operator_for_org(actors.operator.org_ids(Role.operator)[0])
    assert demo_operator is not None
    demo_operator_id = demo_operator.id
    taken: Counter = Counter()
    billing: dict[int, Billing] = {}
    for spec in SPACES:
        community = {**communities[(spec.district, spec.community)], "district_code": spec.district}
        if spec.plan is Plan.awarded:
            registered_on = REGISTER_OPENED + timedelta(days=rng.randint(0, 10))
            space = await _register(actors, community, spec, registered_on)
            lease = await load_awarded_lease(rng, actors, community, space, spec, this_month)
            billing[lease.id] = Billing(clock.business_date(lease.created_at), False, add_months(this_month, -1))
        elif spec.plan in LEASE_PLANS:
            term = _lease_term(rng, spec.plan, this_month)
            registered_on = max(
                REGISTER_OPENED + timedelta(days=rng.randint(0, 20)), term[0] - timedelta(days=rng.randint(40, 70))
            )
            wanted_on = max(term[0] - timedelta(days=rng.randint(10, 20)), registered_on + timedelta(days=3))
            found = await _lessee(rng, community, spec.use, wanted_on, today, taken, demo_operator_id)
            space = await _register(actors, community, spec, registered_on)
            if found is None:
                continue
            lessee, signed_on = found
            lease = await load_agreed_lease(rng, actors, community, space, spec, term, lessee, signed_on)
            unpaid_from = add_months(this_month, -2) if spec.plan is Plan.arrears else None
            billing[lease.id] = Billing(signed_on, rng.random() < 0.3, unpaid_from)
            await load_lease_history(rng, actors, community, space, spec, lease, today, billing)
        else:
            registered_on = REGISTER_OPENED + timedelta(days=rng.randint(0, 240))
            space = await _register(actors, community, spec, registered_on)
            if spec.plan is Plan.withdrawn:
                await load_withdrawn_listing(rng, actors, community, space, spec, registered_on)
            elif spec.plan in (Plan.competitive, Plan.preferential):
                await load_open_listing(rng, actors, community, space, spec, today)
    return billing


# Rent ------------------------------------------------------------------------------------------


def _paid_on(rng: random.Random, invoice: InvoiceRow, billing: Billing, today: date) -> date:
    if billing.late_payer and rng.random() < 0.35:
        day = invoice.due_on + timedelta(days=rng.randint(3, 20))
    else:
        day = invoice.due_on - timedelta(days=rng.randint(0, 8))
    return min(max(day, billing.signed_on), today - timedelta(days=1))


async def _pay_offline(invoice: InvoiceRow, paid_by: int | None, day: date) -> None:
    """A payment recorded before settling, as `pay_invoice` does, and settled with the succeeded intent a
    payment server would have answered."""
    with clock.business_time(_at(day)):
        key = f"rent-invoice-{invoice.id}-attempt-1-offline"
        payment = await repo.insert_payment(invoice.id, 1, key, invoice.amount, created_by=paid_by, now=clock.now())
        intent = PaymentIntent(
            id=f"pi_offline_{invoice.id}",
            status="succeeded",
            amount=invoice.amount,
            currency="cny",
            customer=None,
            payment_method=None,
            latest_charge=None,
            created=clock.now(),
            metadata={"payment_key": key, "invoice_id": str(invoice.id)},
        )
        await service.settle(payment.id, intent)


async def load_rent(rng: random.Random, actors: Actors, billing: dict[int, Billing], today: date) -> None:
    """Bill every month up to today, pay what was due except the arrears, and mark those overdue."""
    await service.generate_invoices(through=today)
    invoices, _ = await repo.list_invoices(
        patterns=like_patterns(actors.city.read_paths()),
        org_ids=[],
        lease_id=None,
        status="open",
        limit=100_000,
        offset=0,
    )
    demo_orgs = actors.operator.org_ids(Role.operator)
    for invoice in sorted(invoices, key=lambda i: (i.due_on, i.id)):
        lease = billing[invoice.lease_id]
        if invoice.due_on >= today or (lease.unpaid_from and invoice.month >= lease.unpaid_from):
            continue
        paid_by = actors.operator.user_id if invoice.lessee_org_id in demo_orgs else None
        await _pay_offline(invoice, paid_by, _paid_on(rng, invoice, lease, today))
    await service.mark_overdue_invoices()


# Loading ---------------------------------------------------------------------------------------


async def load_deposit_refunds(actors: Actors) -> None:
    """The deposit of each lease ended early, paid, is settled: refunded in full, as the payment server would
    have answered, and posted to the ledger."""
    leases, _ = await repo.list_leases(
        patterns=like_patterns(actors.city.read_paths()),
        org_ids=[],
        space_id=None,
        status="terminated",
        limit=100_000,
        offset=0,
    )
    for lease in leases:
        deposit = await repo.deposit_invoice(lease.id)
        if deposit is None or deposit[1] != "paid":
            continue
        invoice_id, _, amount = deposit
        day = lease.ends_on + timedelta(days=7)
        with clock.business_time(_at(day)):
            key = f"deposit-refund-lease-{lease.id}-offline"
            settlement = await repo.insert_settlement(
                lease.id,
                invoice_id,
                refund=amount,
                retained=0,
                reason="",
                status="pending",
                key=key,
                created_by=actors.street.user_id,
                now=clock.now(),
            )
            await repo.finish_settlement(
                settlement.id, status="refunded", refund_ref=f"re_offline_{lease.id}", error_message="", now=clock.now()
            )
            await market.post_system_income(
                lease.community_id,
                month=day,
                kind="other_cost",
                amount=amount,
                source=f"deposit-refund:{settlement.id}",
                note=f"{lease.lessee_name} 押金退还（{lease.address}）",
            )


async def load() -> None:
    if await repo.any_space():
        return
    rng = random.Random(2026)
    today = clock.today()
    async with service.transaction():
        actors = await _actors()
        billing = await load_spaces(rng, actors, today)
        await load_rent(rng, actors, billing, today)
        await load_deposit_refunds(actors)
        await service.end_leases()
