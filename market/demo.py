"""Demo market: a community file for each of Fuyang's 17 future communities and for about three communities
in every other district of Hangzhou, open needs in most of them, service contracts with listed operators
(one held by the demo operator account, a few ending within 90 days), and 24 complete months of ledger for
every operating community, tuned so the trailing year shows about 60% 平衡, 25% 预警 and 15% 失衡; and the
last complete quarter's computed performance evaluation of each contract.

Built through the market service, so audit rows, need emails and matched needs are what real use leaves
behind. Actions are dated when they would have happened. Everything loads in one transaction: a run either
leaves the whole demo or nothing, and a second run adds nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import msgspec

from core import clock
from core.accounts import repository as accounts_repo
from core.accounts import service as accounts
from core.accounts.principal import Principal
from core.accounts.schemas import OrgRow
from core.accounts.tables import OrgKind
from core.clock import add_months, month_start
from core.demo import fuyang_projects
from market import repository as repo
from market import service
from market.errors import CapacityExceeded, OperatorNotListed
from market.schemas import CandidateRow, CommunityRow, ContractRow
from market.tables import CommunityPool, CommunityStatus, CommunityTier, CommunityType, CreationLevel
from providers import repository as providers_repo
from providers import service as providers_service
from providers.reference import DEFAULT_CATEGORIES

HISTORY_MONTHS = 24
FUYANG_CODE = "330111"
FUYANG_OPERATING_BY = date(2024, 1, 1)
POOLS = {"创建型": CommunityPool.creation, "储备型": CommunityPool.reserve}
LEVELS = {"省级": CreationLevel.province, "省市联创": CreationLevel.joint, "待定": CreationLevel.undecided}
FUYANG_NEW_BUILDS = {"杭黄社区", "逸城社区"}
FUYANG_LEADING = {"杭黄社区", "江滨社区", "逸城社区"}
FUYANG_IMBALANCED = {"登云社区", "金家桥社区"}
DEMO_OPERATOR_COMMUNITY = "江滨社区"
DEMO_OPERATOR_CATEGORIES = ["integrated", "commerce"]

# Other districts: (district code, street, community, type). Streets are created under their district.
OTHER_COMMUNITIES = [
    ("330102", "湖滨街道", "东坡路社区", CommunityType.renovation),
    ("330102", "小营街道", "小营巷社区", CommunityType.renovation),
    ("330102", "彭埠街道", "杨柳郡社区", CommunityType.new_build),
    ("330105", "米市巷街道", "打铁关社区", CommunityType.renovation),
    ("330105", "祥符街道", "瓜山社区", CommunityType.renovation),
    ("330105", "和睦街道", "和睦社区", CommunityType.renovation),
    ("330106", "文新街道", "德加社区", CommunityType.renovation),
    ("330106", "文新街道", "益乐社区", CommunityType.renovation),
    ("330106", "翠苑街道", "翠苑一区社区", CommunityType.renovation),
    ("330108", "长河街道", "江一社区", CommunityType.renovation),
    ("330108", "长河街道", "槐树社区", CommunityType.renovation),
    ("330108", "浦沿街道", "冠山社区", CommunityType.new_build),
    ("330109", "城厢街道", "湘湖社区", CommunityType.renovation),
    ("330109", "城厢街道", "回澜社区", CommunityType.renovation),
    ("330109", "瓜沥镇", "七彩社区", CommunityType.renovation),
    ("330110", "五常街道", "友谊社区", CommunityType.renovation),
    ("330110", "五常街道", "五常社区", CommunityType.renovation),
    ("330110", "良渚街道", "良渚文化村社区", CommunityType.new_build),
    ("330112", "锦城街道", "石镜社区", CommunityType.renovation),
    ("330112", "锦城街道", "城中社区", CommunityType.renovation),
    ("330112", "玲珑街道", "玲珑社区", CommunityType.renovation),
    ("330113", "南苑街道", "邱山社区", CommunityType.renovation),
    ("330113", "南苑街道", "藕花洲社区", CommunityType.renovation),
    ("330113", "东湖街道", "星河社区", CommunityType.new_build),
    ("330114", "白杨街道", "云帆社区", CommunityType.new_build),
    ("330114", "白杨街道", "文海社区", CommunityType.renovation),
    ("330114", "下沙街道", "江湾社区", CommunityType.renovation),
    ("330122", "桐君街道", "金东社区", CommunityType.renovation),
    ("330122", "桐君街道", "学圣社区", CommunityType.renovation),
    ("330122", "城南街道", "迎春社区", CommunityType.renovation),
    ("330127", "千岛湖镇", "排岭社区", CommunityType.renovation),
    ("330127", "千岛湖镇", "睦州社区", CommunityType.renovation),
    ("330127", "千岛湖镇", "梦姑塘社区", CommunityType.renovation),
    ("330182", "新安江街道", "府东社区", CommunityType.renovation),
    ("330182", "新安江街道", "白沙社区", CommunityType.renovation),
    ("330182", "洋溪街道", "洋安社区", CommunityType.renovation),
]
# Statuses of the other communities, in turn: mostly operating, some accepted, building or planned.
STATUS_CYCLE = [
    CommunityStatus.operating,
    CommunityStatus.operating,
    CommunityStatus.accepted,
    CommunityStatus.operating,
    CommunityStatus.building,
    CommunityStatus.operating,
    CommunityStatus.operating,
    CommunityStatus.planning,
    CommunityStatus.operating,
    CommunityStatus.accepted,
    CommunityStatus.operating,
    CommunityStatus.building,
]
NEED_STATUSES = {CommunityStatus.operating, CommunityStatus.accepted, CommunityStatus.building}

NEED_TEXTS = {
    "integrated": [
        "邻里中心及公共空间整体运营，含日常值守、活动策划和场馆预约管理",
        "社区综合运营：统筹商业、文化、养老等业态，提高空间使用率和运营收入",
    ],
    "childcare": [
        "普惠托育点运营，招收2至3岁幼儿约40名，需具备托育机构备案资质",
        "社区“宝宝屋”临时托管及亲子早教活动，每周开放不少于5天",
    ],
    "elderly": ["居家养老服务照料中心运营，提供助餐、助浴和日间照料", "老年食堂运营，日均供餐约200份，兼顾送餐上门"],
    "culture": [
        "社区文化家园运营，组织文艺团队、读书会和节庆活动",
        "邻里书房与共享展厅运营，每月举办不少于4场公益活动",
    ],
    "health": ["社区健康小屋运营，提供慢病监测、健康咨询和中医理疗", "全民健身中心及运动场地运营管理"],
    "education": ["四点半课堂及青少年素质拓展课程", "社区老年学堂和居民技能培训课程运营"],
    "commerce": ["邻里商业街区招商与运营，补齐便民商业业态", "社区集市及共享厨房运营"],
    "property": ["老旧小区物业服务提升，含公共区域保洁、绿化养护和设施维修", "智慧停车及非机动车充电设施运营维护"],
    "incubation": [
        "社区创业孵化空间运营，引入青年创业团队和共享办公",
        "“15分钟就业圈”服务站运营，提供就业指导和技能对接",
    ],
}
NEED_CATEGORY_WEIGHTS = {
    "integrated": 4,
    "elderly": 4,
    "childcare": 3,
    "culture": 2,
    "health": 2,
    "education": 2,
    "commerce": 2,
    "property": 2,
    "incubation": 1,
}
CONTRACT_KPIS = "居民满意度不低于90%；投诉按期办结率100%；每月开展公益活动不少于4场；按月报送运营收支"
COST_NOTES = {"staff": "运营人员工资及社保", "utilities": "公共空间水电能耗", "maintenance": "设施设备维护维修"}
SEASONAL_UTILITIES = {1: 1.2, 2: 1.15, 6: 1.1, 7: 1.3, 8: 1.3, 12: 1.15}  # air conditioning and heating
YUAN = 100  # fen
WAN = 10_000 * YUAN


@dataclass(frozen=True)
class Actors:
    city: Principal
    district: Principal
    street: Principal
    operator: Principal


@dataclass
class Books:
    """What one operating community earns and spends over the demo history."""

    community: CommunityRow
    ratios: tuple[float, float]  # income ÷ cost: the earlier year, the trailing year
    subsidy_share: float
    revenue_share: float
    contract: ContractRow | None = None
    costs: list[dict[str, int]] = field(default_factory=list)
    incomes: list[dict[str, int]] = field(default_factory=list)


def _at(day: date) -> datetime:
    return datetime.combine(day, time(10, 0), tzinfo=clock.BUSINESS_TZ).astimezone(UTC)


def _month_label(month: date) -> str:
    return f"{month:%Y-%m}"


def _decimal(value: float, places: int) -> Decimal:
    return Decimal(f"{value:.{places}f}")


async def _principal(username: str) -> Principal:
    user_id = await accounts_repo.user_id_by_username(username)
    principal = await accounts.load_principal(user_id) if user_id is not None else None
    if principal is None:
        raise LookupError(f"demo account {username} is missing")
    return principal


async def _org(code: str) -> OrgRow:
    org = await accounts_repo.get_org_by_code(code)
    if org is None:
        raise LookupError(f"organisation {code} is missing from the demo tree")
    return org


async def _actors() -> Actors:
    return Actors(
        city=await _principal("city_admin"),
        district=await _principal("fuyang_district"),
        street=await _principal("fuchun_street"),
        operator=await _principal("operator_demo"),
    )


def _official_for(actors: Actors, community: CommunityRow) -> Principal:
    """The nearest official account whose scope covers the community."""
    for principal in (actors.street, actors.district):
        if principal.can_write_path(community.org_path):
            return principal
    return actors.city


# Communities -----------------------------------------------------------------------------------


def _sizes(rng: random.Random) -> dict:
    return {
        "area_hectares": _decimal(rng.uniform(8, 60), 2),
        "households": rng.randint(8, 60) * 100,
        "elderly_share": _decimal(rng.uniform(0.12, 0.30), 4),
        "children_share": _decimal(rng.uniform(0.05, 0.15), 4),
    }


def _month(text: str) -> date | None:
    return date.fromisoformat(f"{text}-01") if text else None


def _fuyang_status(pool: CommunityPool, start: date | None, finish: date | None) -> CommunityStatus:
    if pool is CommunityPool.reserve:
        return CommunityStatus.building if start and start <= date(2022, 6, 1) else CommunityStatus.planning
    return CommunityStatus.operating if finish and finish < FUYANG_OPERATING_BY else CommunityStatus.building


def _fuyang_fields(rng: random.Random, row: dict, street: OrgRow) -> dict:
    pool = POOLS[row["pool"]]
    start, finish = _month(row["start_month"]), _month(row["finish_month"])
    name = row["community"]
    return {
        "name": name,
        "street_id": street.id,
        "community_type": (CommunityType.new_build if name in FUYANG_NEW_BUILDS else CommunityType.renovation).value,
        "tier": (CommunityTier.leading if name in FUYANG_LEADING else CommunityTier.inclusive).value,
        "pool": pool.value,
        "creation_level": LEVELS[row["level"]].value,
        "planned_start": start,
        "planned_finish": finish,
        "status": _fuyang_status(pool, start, finish).value,
        **_sizes(rng),
    }


async def load_fuyang_communities(rng: random.Random) -> list[CommunityRow]:
    """Files for the 17 Fuyang projects, attached to the community nodes the org tree already has."""
    communities = []
    with clock.business_time(_at(date(2021, 6, 15))):
        for row in fuyang_projects():
            street = await _org(f"{FUYANG_CODE}-{row['responsible_unit']}")
            org = await _org(f"{street.code}-{row['community']}")
            communities.append(await service.create_community(None, _fuyang_fields(rng, row, street), existing_org=org))
    return communities


async def _street(district_code: str, name: str) -> OrgRow:
    code = f"{district_code}-{name}"
    existing = await accounts_repo.get_org_by_code(code)
    if existing:
        return existing
    district = await _org(district_code)
    return await accounts.create_org(None, name=name, kind=OrgKind.street, parent_id=district.id, code=code)


def _planned_dates(rng: random.Random, status: CommunityStatus, today: date) -> tuple[date, date]:
    this_month = month_start(today)
    if status is CommunityStatus.operating:
        finish = add_months(this_month, -rng.randint(28, 48))
    elif status is CommunityStatus.accepted:
        finish = add_months(this_month, -rng.randint(1, 5))
    elif status is CommunityStatus.building:
        finish = add_months(this_month, rng.randint(3, 18))
    else:
        start = add_months(this_month, rng.randint(2, 10))
        return start, add_months(start, rng.randint(18, 30))
    return add_months(finish, -rng.randint(15, 30)), finish


def _other_fields(
    rng: random.Random, name: str, street: OrgRow, community_type: CommunityType, status: CommunityStatus, today: date
) -> dict:
    start, finish = _planned_dates(rng, status, today)
    in_creation = status in (CommunityStatus.operating, CommunityStatus.accepted)
    pool = CommunityPool.creation if in_creation else rng.choice([CommunityPool.reserve, CommunityPool.basic])
    level = (
        rng.choice([CreationLevel.province, CreationLevel.city, CreationLevel.joint])
        if in_creation
        else CreationLevel.undecided
    )
    tier = (
        CommunityTier.leading
        if community_type is CommunityType.new_build or rng.random() < 0.15
        else CommunityTier.inclusive
    )
    return {
        "name": name,
        "street_id": street.id,
        "community_type": community_type.value,
        "tier": tier.value,
        "pool": pool.value,
        "creation_level": level.value,
        "planned_start": start,
        "planned_finish": finish,
        "status": status.value,
        **_sizes(rng),
    }


async def load_other_communities(rng: random.Random, today: date) -> list[CommunityRow]:
    """About three communities in each district other than Fuyang, each under a street created for it."""
    communities = []
    with clock.business_time(_at(date(2022, 3, 10))):
        for index, (district_code, street_name, name, community_type) in enumerate(OTHER_COMMUNITIES):
            street = await _street(district_code, street_name)
            status = STATUS_CYCLE[index % len(STATUS_CYCLE)]
            fields = _other_fields(rng, name, street, community_type, status, today)
            communities.append(await service.create_community(None, fields))
    return communities


# Needs and contracts ---------------------------------------------------------------------------


def _need_text(rng: random.Random, category: str) -> str:
    return rng.choice(NEED_TEXTS[category])


def _need_categories(rng: random.Random, count: int, excluded: set[str]) -> list[str]:
    pool = [c for c in NEED_CATEGORY_WEIGHTS if c not in excluded]
    chosen: list[str] = []
    while len(chosen) < min(count, len(pool)):
        pick = rng.choices(pool, weights=[NEED_CATEGORY_WEIGHTS[c] for c in pool])[0]
        if pick not in chosen:
            chosen.append(pick)
    return chosen


async def _listed_since(operator_id: int, categories: list[str], today: date) -> date | None:
    """The day the operator's listings for `categories` valid today had all taken effect (None: it is not
    listed for all of them today)."""
    listings = await providers_repo.listings_for(operator_id)
    current = {
        row.category: row.valid_from
        for row in listings
        if row.category in categories and row.valid_from <= today < row.valid_until
    }
    return max(current.values()) if set(current) == set(categories) else None


def _contract_term(rng: random.Random, today: date, ending_soon: bool) -> tuple[date, date]:
    this_month = month_start(today)
    if ending_soon:
        starts_on = add_months(this_month, -rng.randint(34, 35))
    else:
        starts_on = add_months(this_month, -rng.randint(12, 30))
    return starts_on, add_months(starts_on, 36)


def _annual_fee(rng: random.Random, community: CommunityRow) -> int:
    yuan = min(max(community.households * 150 * rng.uniform(0.8, 1.2), 200_000), 1_200_000)
    return round(yuan / 10_000) * WAN


async def sign_contract_for_need(
    rng: random.Random,
    actors: Actors,
    community: CommunityRow,
    operator_id: int,
    categories: list[str],
    term: tuple[date, date],
    today: date,
) -> ContractRow | None:
    """A need for the first category, then the contract covering it, drafted and signed on the day the
    operator could first sign it (a fortnight before the term, or when it was listed if that was later)."""
    starts_on, ends_on = term
    listed_since = await _listed_since(operator_id, categories, today)
    if listed_since is None:
        return None
    sign_day = max(starts_on - timedelta(days=15), listed_since)
    official = _official_for(actors, community)
    with clock.business_time(_at(sign_day - timedelta(days=20))):
        need = await service.create_need(
            official, community.id, category=categories[0], priority=1, text=_need_text(rng, categories[0])
        )
    with clock.business_time(_at(sign_day)):
        try:
            draft = await service.create_contract(
                actors.city,
                {
                    "community_id": community.id,
                    "operator_id": operator_id,
                    "categories": categories,
                    "starts_on": starts_on,
                    "ends_on": ends_on,
                    "annual_fee": _annual_fee(rng, community),
                    "revenue_share": _decimal(rng.uniform(0.05, 0.2), 2) if rng.random() < 0.4 else None,
                    "kpis": CONTRACT_KPIS,
                    "need_ids": [need.id],
                },
            )
        except (CapacityExceeded, OperatorNotListed):
            return None
        return await service.sign_contract(actors.city, draft.id)


def _pick_operator(
    rng: random.Random, candidates: list[CandidateRow], district_id: int, spare: dict[int, int], excluded: int
) -> CandidateRow | None:
    serving = [c for c in candidates if district_id in c.district_ids and spare[c.id] > 0 and c.id != excluded]
    integrated = [c for c in serving if "integrated" in c.categories]
    return rng.choice(integrated or serving) if serving else None


async def _demo_operator(actors: Actors) -> dict:
    operators, _ = await providers_service.list_operators(actors.operator, q=None, status=None, limit=1, offset=0)
    return msgspec.structs.asdict(operators[0])


async def load_contracts(
    rng: random.Random, actors: Actors, operating: list[CommunityRow], today: date
) -> dict[int, ContractRow]:
    """Contracts for about half the operating communities, one of them with the demo operator account's
    company; returns the signed contracts by community."""
    candidates = await repo.match_candidates([code for code, _ in DEFAULT_CATEGORIES], today)
    spare = {c.id: c.capacity - c.contracts for c in candidates}
    demo_operator = await _demo_operator(actors)
    demo_community = next(c for c in operating if c.district_name == "富阳区" and c.name == DEMO_OPERATOR_COMMUNITY)
    signed = {}
    contract = await sign_contract_for_need(
        rng,
        actors,
        demo_community,
        demo_operator["id"],
        DEMO_OPERATOR_CATEGORIES,
        _contract_term(rng, today, ending_soon=False),
        today,
    )
    if contract:
        signed[demo_community.id] = contract
    others = [c for c in operating if c.id != demo_community.id]
    chosen = rng.sample(others, k=len(operating) // 2 - 1)
    for index, community in enumerate(chosen):
        operator = _pick_operator(rng, candidates, community.district_id, spare, excluded=demo_operator["id"])
        if operator is None:
            continue
        categories = sorted(
            rng.sample(operator.categories, k=min(2, len(operator.categories))), key=lambda c: c != "integrated"
        )
        term = _contract_term(rng, today, ending_soon=index < 3)
        contract = await sign_contract_for_need(rng, actors, community, operator.id, categories, term, today)
        if contract:
            spare[operator.id] -= 1
            signed[community.id] = contract
    return signed


async def load_open_needs(
    rng: random.Random, actors: Actors, communities: list[CommunityRow], contracts: dict[int, ContractRow], today: date
) -> None:
    """One to four needs for each community that is operating, accepted or being built (the need a contract
    already answered counts), published over the last few months in date order."""
    wanted = []
    for community in communities:
        if community.status not in NEED_STATUSES:
            continue
        contract = contracts.get(community.id)
        total = rng.randint(1, 4)
        count = total - 1 if contract else total
        for category in _need_categories(rng, count, set(contract.categories) if contract else set()):
            wanted.append((today - timedelta(days=rng.randint(2, 80)), community, category))
    for day, community, category in sorted(wanted, key=lambda w: (w[0], w[1].id)):
        with clock.business_time(_at(day)):
            await service.create_need(
                _official_for(actors, community),
                community.id,
                category=category,
                priority=rng.choice([1, 2, 2, 3]),
                text=_need_text(rng, category),
            )


# Ledger ----------------------------------------------------------------------------------------


def _ratios(rng: random.Random, operating: list[CommunityRow]) -> dict[int, tuple[float, float]]:
    """Income ÷ cost of each operating community, the earlier year and the trailing one: about 60% balanced,
    25% warning and 15% imbalanced in the trailing year, the named Fuyang ones clearly imbalanced."""
    forced = [c for c in operating if c.district_name == "富阳区" and c.name in FUYANG_IMBALANCED]
    rest = [c for c in operating if c not in forced]
    rng.shuffle(rest)
    imbalanced = max(round(len(operating) * 0.15) - len(forced), 0)
    warning = round(len(operating) * 0.25)
    trailing = {c.id: rng.uniform(0.55, 0.68) for c in forced}
    for index, community in enumerate(rest):
        if index < imbalanced:
            trailing[community.id] = rng.uniform(0.6, 0.74)
        elif index < imbalanced + warning:
            trailing[community.id] = rng.uniform(0.85, 0.95)
        else:
            trailing[community.id] = rng.uniform(1.05, 1.35)
    return {cid: (max(ratio + rng.uniform(-0.15, 0.08), 0.45), ratio) for cid, ratio in trailing.items()}


def _in_force(contract: ContractRow | None, month: date) -> bool:
    return contract is not None and contract.starts_on <= month < contract.ends_on


def _monthly_costs(rng: random.Random, books: Books, months: list[date]) -> None:
    community = books.community
    households, hectares = community.households, float(community.area_hectares)
    staff = 30_000 + households * 25 * rng.uniform(0.85, 1.15)
    for index, month in enumerate(months):
        raise_factor = 1.04 if index >= 12 else 1.0
        costs = {
            "staff": round(staff * raise_factor * rng.uniform(0.98, 1.03)) * YUAN,
            "utilities": round(
                (10_000 + hectares * 400) * SEASONAL_UTILITIES.get(month.month, 1.0) * rng.uniform(0.9, 1.1)
            )
            * YUAN,
            "maintenance": round((8_000 + hectares * 500) * rng.uniform(0.5, 1.6)) * YUAN,
        }
        if books.contract is not None and _in_force(books.contract, month):
            costs["service_fee"] = books.contract.annual_fee // 12
        books.costs.append(costs)


def _monthly_incomes(rng: random.Random, books: Books, months: list[date]) -> None:
    """Per year: income = ratio × cost exactly, as a steady rent, quarterly subsidies (March, June,
    September, December) and, in months under contract, service revenue that varies month to month."""
    books.incomes = [{} for _ in months]
    for year, ratio in enumerate(books.ratios):
        span = range(year * 12, year * 12 + 12)
        income = ratio * sum(sum(books.costs[i].values()) for i in span)
        contract_months = [i for i in span if _in_force(books.contract, months[i])]
        subsidy = income * books.subsidy_share
        revenue = income * books.revenue_share * len(contract_months) / 12
        rent = (income - subsidy - revenue) / 12
        weights = {i: rng.uniform(0.8, 1.2) for i in contract_months}
        for i in span:
            books.incomes[i]["rent"] = round(rent / 100 / YUAN) * 100 * YUAN
            if months[i].month % 3 == 0 and subsidy > 0:
                books.incomes[i]["subsidy"] = round(subsidy / 4 / 1000 / YUAN) * 1000 * YUAN
            if i in weights:
                books.incomes[i]["service_revenue"] = round(revenue * weights[i] / sum(weights.values()) / YUAN) * YUAN


def plan_books(
    rng: random.Random, operating: list[CommunityRow], contracts: dict[int, ContractRow], months: list[date]
) -> list[Books]:
    ratios = _ratios(rng, operating)
    plans = []
    for community in operating:
        books = Books(
            community=community,
            ratios=ratios[community.id],
            subsidy_share=rng.uniform(0.1, 0.3) if rng.random() < 0.8 else 0.0,
            revenue_share=rng.uniform(0.25, 0.45),
            contract=contracts.get(community.id),
        )
        _monthly_costs(rng, books, months)
        _monthly_incomes(rng, books, months)
        plans.append(books)
    return plans


async def _post_costs(actors: Actors, books: Books, month: date, costs: dict[str, int]) -> None:
    community_id = books.community.id
    for kind, amount in costs.items():
        note = (
            f"{books.contract.operator_name} 运营服务费"
            if books.contract and kind == "service_fee"
            else COST_NOTES[kind]
        )
        await service.post_entry(
            actors.city,
            community_id,
            month=month,
            kind=kind,
            amount=amount,
            reference=f"demo-{community_id}-{_month_label(month)}-{kind}",
            note=note,
        )


async def _post_incomes(actors: Actors, books: Books, month: date, incomes: dict[str, int]) -> None:
    community_id, label = books.community.id, _month_label(month)
    await service.post_system_income(
        community_id,
        month=month,
        kind="rent",
        amount=incomes["rent"],
        source=f"demo-rent:{community_id}:{label}",
        note="社区商业及配套用房租金",
    )
    if "subsidy" in incomes:
        await service.post_entry(
            actors.city,
            community_id,
            month=month,
            kind="subsidy",
            amount=incomes["subsidy"],
            reference=f"demo-{community_id}-{label}-subsidy",
            note="未来社区运营补助（按季度拨付）",
        )
    if books.contract is not None and "service_revenue" in incomes:
        await _post_service_revenue(actors, books.contract, community_id, month, incomes["service_revenue"])


async def _post_service_revenue(
    actors: Actors, contract: ContractRow, community_id: int, month: date, amount: int
) -> None:
    """The demo operator account reports its own months; the other operators have no account, so their
    revenue comes in as the system's posting."""
    if contract.operator_org_id in actors.operator.org_ids():
        await service.report_operator_month(actors.operator, contract.id, month=month, service_revenue=amount, costs={})
        return
    await service.post_system_income(
        community_id,
        month=month,
        kind="service_revenue",
        amount=amount,
        source=f"demo-revenue:{contract.id}:{_month_label(month)}",
        note=f"{contract.operator_name} {_month_label(month)} 服务收入",
    )


async def load_ledger(actors: Actors, plans: list[Books], months: list[date], today: date) -> None:
    """Each month is booked early the next month, as the street's finance office would."""
    for index, month in enumerate(months):
        with clock.business_time(_at(min(add_months(month, 1) + timedelta(days=4), today))):
            for books in plans:
                await _post_costs(actors, books, month, books.costs[index])
                await _post_incomes(actors, books, month, books.incomes[index])


# Loading ---------------------------------------------------------------------------------------


async def load() -> None:
    if await repo.any_community():
        return
    rng = random.Random(2026)
    today = clock.today()
    months = [add_months(month_start(today), offset) for offset in range(-HISTORY_MONTHS, 0)]
    async with service.transaction():
        actors = await _actors()
        communities = [*await load_fuyang_communities(rng), *await load_other_communities(rng, today)]
        operating = [c for c in communities if c.status == CommunityStatus.operating.value]
        contracts = await load_contracts(rng, actors, operating, today)
        await load_open_needs(rng, actors, communities, contracts, today)
        await load_ledger(actors, plan_books(rng, operating, contracts, months), months, today)
        await service.mark_expiring_contracts()
        # The last complete quarter's computed evaluations, as the quarterly job would have made them.
        await service.quarterly_evaluations(add_months(service.quarter_start(today), -3))
        await load_operating_models(actors, communities, today)


# Operating models ------------------------------------------------------------------------------

FUND_COMMUNITY = "江滨社区"
FRANCHISE_COMMUNITY = "百合社区"
PLATFORM_COMMUNITIES = 3
DEMO_OWNER_CODE = "owner-demo"


async def _fuyang_candidate(today: date, district_id: int, category: str) -> CandidateRow | None:
    """A listed operator serving Fuyang in `category` with a unit of capacity to spare."""
    for candidate in sorted(await repo.match_candidates([category], today), key=lambda c: c.id):
        serves = district_id in candidate.district_ids and candidate.contracts < candidate.capacity
        if serves and await _listed_since(candidate.id, [category], today) is not None:
            return candidate
    return None


async def load_fund(actors: Actors, community: CommunityRow, today: date) -> None:
    """江滨社区's fund: a donation from the local chamber of commerce and a grant to the residents' council."""
    official = _official_for(actors, community)
    with clock.business_time(_at(today - timedelta(days=45))):
        await service.open_fund(official, community.id, name="江滨社区发展基金", charter="富春街道〔2026〕12号")
        await service.contribute_to_fund(
            official,
            community.id,
            kind="donation",
            amount=20_000_000,
            counterparty="富春江商会",
            reference="JZ-2026-001",
            note="支持社区居民自治和公益活动",
        )
    with clock.business_time(_at(today - timedelta(days=10))):
        await service.grant_from_fund(
            official,
            community.id,
            amount=3_000_000,
            purpose="邻里节及楼道议事会活动经费",
            counterparty="江滨社区居民议事会",
            reference="FP-2026-001",
        )


async def load_franchise(actors: Actors, community: CommunityRow, today: date) -> None:
    """百合社区's integrated energy supply under a ten-year franchise, its last month invoiced."""
    operator = await _fuyang_candidate(today, community.district_id, "property")
    if operator is None:
        return
    starts_on = add_months(month_start(today), -3)
    with clock.business_time(_at(starts_on - timedelta(days=15))):
        draft = await service.create_contract(
            actors.city,
            {
                "community_id": community.id,
                "operator_id": operator.id,
                "categories": ["property"],
                "starts_on": starts_on,
                "ends_on": date(starts_on.year + 10, starts_on.month, 1),
                "annual_fee": 0,
                "revenue_share": Decimal("0.03"),
                "kpis": "供能可靠率不低于99.9%，居民用能投诉按月通报",
                "need_ids": [],
                "kind": "franchise",
                "scope": "社区综合能源供应",
                "franchise_fee": 1_200_000,
                "renewal_terms": "期满前六个月协商续约，考核优良者同等条件下优先",
                "termination_terms": "连续两个季度考核不合格的，社区可提前三个月书面通知终止",
            },
        )
        franchise = await service.sign_contract(actors.city, draft.id, "社区综合能源供应特许经营")
    last_month = add_months(month_start(today), -1)
    with clock.business_time(_at(today - timedelta(days=2))):
        await service.invoice_franchise(_official_for(actors, community), franchise.id, last_month, 4_000_000)


async def load_platform(actors: Actors, communities: list[CommunityRow], today: date) -> None:
    """富阳城投 as Fuyang's district platform running three old-renovation communities under one master
    contract, with one specialist sub-contracted under it."""
    owner = await _org(DEMO_OWNER_CODE)
    fuyang = await _org(FUYANG_CODE)
    renovation = sorted(
        (c for c in communities if c.district_id == fuyang.id and c.community_type == CommunityType.renovation.value),
        key=lambda c: (c.name not in FUYANG_IMBALANCED, c.id),
    )
    chosen = [c for c in renovation if c.name not in (FUND_COMMUNITY, FRANCHISE_COMMUNITY)][:PLATFORM_COMMUNITIES]
    starts_on = add_months(month_start(today), -6)
    with clock.business_time(_at(starts_on - timedelta(days=30))):
        platform = await service.designate_platform(
            actors.city,
            {
                "org_id": owner.id,
                "level": "district",
                "district_id": fuyang.id,
                "reason": "富阳区旧改类未来社区交由区属国企平台统一运营试点",
            },
        )
        for community in chosen:
            await service.assign_to_platform(
                actors.city,
                platform.id,
                {"community_id": community.id, "starts_on": starts_on, "reason": "旧改类社区纳入统一运营试点"},
            )
        master = await service.sign_master_contract(
            actors.city,
            platform.id,
            {
                "starts_on": starts_on,
                "ends_on": date(starts_on.year + 3, starts_on.month, 1),
                "annual_fee": 3_600_000,
                "terms": "平台统筹三个社区的运营服务，专项服务向名录内服务商分包，收支按社区单列、平台统筹平衡",
                "reason": "试点总运营合同",
            },
        )
    specialist = await _fuyang_candidate(today, fuyang.id, "elderly")
    if specialist is None or not chosen:
        return
    with clock.business_time(_at(today - timedelta(days=30))):
        draft = await service.create_contract(
            actors.city,
            {
                "community_id": chosen[0].id,
                "operator_id": specialist.id,
                "categories": ["elderly"],
                "starts_on": month_start(today),
                "ends_on": date(starts_on.year + 3, starts_on.month, 1),
                "annual_fee": 480_000,
                "revenue_share": None,
                "kpis": CONTRACT_KPIS,
                "need_ids": [],
                "master_contract_id": master.id,
            },
        )
        await service.sign_contract(actors.city, draft.id, "国企平台总运营合同下的养老服务分包")


async def load_alliance(actors: Actors, district_id: int, today: date) -> None:
    """An approved alliance of three operators listed in Fuyang: an integrated lead, an elderly-care and a
    childcare specialist, so matching offers it beside single operators and bundles."""
    chosen: list[tuple[CandidateRow, str]] = []
    for category in ("integrated", "elderly", "childcare"):
        for candidate in sorted(await repo.match_candidates([category], today), key=lambda c: c.id):
            free = district_id in candidate.district_ids and candidate.id not in {c.id for c, _ in chosen}
            if free and await _listed_since(candidate.id, [category], today) is not None:
                chosen.append((candidate, category))
                break
    if len(chosen) < 3:
        return
    lead = chosen[0][0]
    with clock.business_time(_at(today - timedelta(days=40))):
        alliance = await providers_service.propose_alliance(
            actors.city,
            {
                "name": "富阳未来社区运营产业联盟",
                "lead_operator_id": lead.id,
                "charter_ref": "富阳未来社区运营产业联盟章程（2026年）",
                "members": [
                    {
                        "operator_id": c.id,
                        "role": "integrated" if code == "integrated" else "specialist",
                        "category": code,
                    }
                    for c, code in chosen
                ],
            },
        )
    with clock.business_time(_at(today - timedelta(days=30))):
        await providers_service.approve_alliance(actors.city, alliance.id, "成员均在名录内，章程与分工明确")


async def load_operating_models(actors: Actors, communities: list[CommunityRow], today: date) -> None:
    """A community fund, an energy franchise, a district platform and an industry alliance, all in Fuyang."""
    fuyang = {c.name: c for c in communities if c.district_name == "富阳区"}
    await load_fund(actors, fuyang[FUND_COMMUNITY], today)
    await load_franchise(actors, fuyang[FRANCHISE_COMMUNITY], today)
    await load_platform(actors, communities, today)
    await load_alliance(actors, fuyang[FUND_COMMUNITY].district_id, today)
