"""Benchmark of the market's heavy operations: matching, the city allocation and the balance overview.

It calls the service functions in-process, exactly as the HTTP handlers do, on a bulk-filled database of a
whole city, and splits each time into SQL (time spent inside market.repository functions, driver decoding
included) and Python, so it is clear which side to work on.

    .venv/bin/python -m bench.market               # from the project root; a few minutes
    .venv/bin/python -m bench.market --help        # data size, runs, seed

Steps:
  1. a throwaway embedded PostgreSQL in a temporary folder, migrated like production;
  2. bulk-filled with COPY: the registry of bench/directory.py (the city, 13 districts, 3,000 operators with
     listings, capacities 1–15), plus streets in every district, 1,250 communities with their nodes in the
     org tree (materialised paths such as /1/4/17/), about 3 open needs per community, some contracts
     (active, expiring, draft, renewed, terminated, never more holding ones than an operator's capacity),
     quarterly evaluations of operators, and 36 months of ledger entries per community (income and cost
     kinds, several a month);
  3. matching: `market.service.match_community` for 300 different communities after a warm-up, p50 and
     p99, with the candidate query (`repo.match_candidates`) timed on its own;
  4. the city allocation: `market.service.create_allocation_plan` for every open need of the city, with its
     stages timed separately (candidate query, pair scoring, solver, greedy baseline, inserting the plan,
     reading it back) and its memory: the peak resident set size above the level before the run (sampled
     every 5 ms) and, in a separate run, the tracemalloc peak of Python (and NumPy) allocations;
  5. the balance overview: `market.service.balance_overview` for the whole city, p50 over 20 runs, and the
     SQL statements it sends, counted on the asyncpg connections; counted again for one district and for
     the city with half of its communities deleted (in a transaction rolled back afterwards): the count
     must not grow with the number of communities.

The table is printed and the same numbers are written to bench/results/market.json. The database is
stopped and its folder deleted at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import math
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import asyncpg
import psutil

from bench.directory import (
    Registry,
    copy_registry,
    copy_rows,
    create_database,
    prepare_database,
    registry_rows,
    reset_sequences,
    stop_embedded_server,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = PROJECT_ROOT / "bench" / "results" / "market.json"

AIM_MATCH_P50_MS = 20
AIM_ALLOCATION_S = 10
AIM_OVERVIEW_S = 1

STREET_WORDS = [
    "东新", "南星", "北山", "西兴", "中泰", "文新", "古荡", "翠苑", "蒋村", "转塘", "留下", "灵隐", "湖滨", "清波",
    "小营", "望江", "采荷", "凯旋", "闸弄口", "笕桥", "九堡", "彭埠", "丁兰", "四季青", "米市巷", "湖墅", "大关",
    "和睦", "祥符", "康桥", "半山", "石桥", "长河", "浦沿", "西兴", "北干", "城厢", "新塘", "宁围", "闻堰", "临浦",
    "瓶窑", "良渚", "仓前", "五常", "闲林", "中泰", "径山", "锦城", "玲珑", "青山湖", "锦南", "南苑", "东湖",
    "星桥", "塘栖", "崇贤", "白杨", "下沙", "河庄", "义蓬", "新湾", "城南", "旧县", "桐君", "千岛湖", "新安江",
    "洋溪", "更楼", "梅城", "寿昌", "乾潭", "横村", "分水", "江南", "凤川", "富春江", "石林", "汾口", "威坪",
]
COMMUNITY_WORDS = [
    "和睦", "文晖", "朝晖", "潮鸣", "紫阳", "杨柳", "云城", "春风", "望月", "听涛", "桂花", "兰亭", "芳草", "翠柳",
    "锦绣", "阳光", "幸福", "安居", "和谐", "新苑", "明珠", "星河", "水岸", "枫林", "梅园", "竹苑", "松涛", "荷塘",
    "湖畔", "江景", "青山", "白塔", "古运", "丝绸", "茶乡", "稻香", "橘园", "樱花", "银杏", "香樟", "玉泉", "金沙",
]
COMMUNITY_TYPE_WEIGHTS = {"renovation": 65, "new_build": 35}
COMMUNITY_STATUS_WEIGHTS = {"operating": 70, "accepted": 15, "building": 10, "planning": 5}
CONTRACT_STATUS_WEIGHTS = {"active": 60, "expiring": 10, "terminated": 12, "renewed": 10, "draft": 8}
HOLDING_STATES = ("draft", "active", "expiring")
CONTRACT_SHARE = 0.35  # communities with a contract
NEEDS_PER_COMMUNITY = (2, 3, 3, 4)  # drawn from, about three open needs each
EVALUATIONS_PER_OPERATOR = 16  # at most, one a quarter
# Balance bands: income ÷ cost around which each community's months are drawn.
BALANCE_BANDS = [((1.0, 1.6), 55), ((0.8, 1.0), 20), ((0.4, 0.8), 25)]
# Cost kind → (share of the month's cost, probability it is posted in a month); service_fee follows contracts.
COST_MIX = {"staff": (0.45, 1.0), "utilities": (0.15, 1.0), "maintenance": (0.15, 0.5), "service_fee": (0.15, 0.2),
            "other_cost": (0.05, 0.15)}
INCOME_MIX = {"rent": (0.5, 1.0), "service_revenue": (0.3, 0.7), "subsidy": (0.15, 0.3), "other_income": (0.05, 0.1)}


# Data ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MarketDataset:
    districts: int
    streets: int
    communities: int
    operators: int
    operators_in_good_standing_listed_today: int
    listings: int
    contracts: int
    holding_contracts: int
    evaluations: int
    needs: int
    open_needs: int
    ledger_entries: int
    ledger_months: int
    fill_seconds: float


def _month(day: date, months: int) -> date:
    from core.clock import add_months

    return add_months(day.replace(day=1), months)


def _years_later(day: date, years: int) -> date:
    """The same day `years` later (earlier when negative); 29 February becomes the 28th."""
    return day.replace(year=day.year + years, day=min(day.day, 28) if day.month == 2 else day.day)


def _decimal(value: float, places: int) -> Decimal:
    return Decimal(f"{value:.{places}f}")


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


@dataclass
class MarketRows:
    organisations: list[dict] = field(default_factory=list)
    communities: list[dict] = field(default_factory=list)
    needs: list[dict] = field(default_factory=list)
    contracts: list[dict] = field(default_factory=list)
    evaluations: list[dict] = field(default_factory=list)
    ledger: list[dict] = field(default_factory=list)


def _streets(rng: random.Random, registry: Registry, rows: MarketRows, now: datetime) -> list[dict]:
    """Fuyang's real streets and towns; 8–16 generated ones in every other district."""
    from core.demo import FUYANG_STREETS

    streets = []
    next_org = max(o["id"] for o in registry.organisations) + 1
    for district_id, (district_name, code) in registry.districts.items():
        if district_name == "富阳区":
            names = FUYANG_STREETS
        else:
            names = [f"{word}街道" for word in rng.sample(sorted(set(STREET_WORDS)), rng.randint(8, 16))]
        for name in names:
            street = dict(id=next_org, name=name, kind="street", parent=district_id,
                          path=f"/{registry.city_id}/{district_id}/{next_org}/", code=f"{code}-{name}",
                          created_at=now)
            rows.organisations.append(street)
            streets.append(street)
            next_org += 1
    return streets


def _community_rows(rng: random.Random, streets: list[dict], count: int, rows: MarketRows, now: datetime,
                    today: date) -> None:
    next_org = max(o["id"] for o in rows.organisations) + 1
    names_by_street: dict[int, set[str]] = {}
    for community_id in range(1, count + 1):
        street = rng.choice(streets)
        taken = names_by_street.setdefault(street["id"], set())
        name = f"{rng.choice(COMMUNITY_WORDS)}{rng.choice(COMMUNITY_WORDS)}社区"
        while name in taken:
            name = f"{rng.choice(COMMUNITY_WORDS)}{rng.choice(COMMUNITY_WORDS)}社区"
        taken.add(name)
        org_id = next_org
        next_org += 1
        rows.organisations.append(dict(id=org_id, name=name, kind="community", parent=street["id"],
                                       path=f"{street['path']}{org_id}/", code=None, created_at=now))
        planned_start = date(rng.randint(2021, 2024), rng.randint(1, 12), 1)
        rows.communities.append(dict(
            id=community_id, org=org_id, name=name, district=street["parent"], street=street["id"],
            community_type=_weighted(rng, COMMUNITY_TYPE_WEIGHTS), tier=rng.choice(["inclusive"] * 4 + ["leading"]),
            pool=_weighted(rng, {"creation": 50, "reserve": 30, "basic": 20}),
            creation_level=rng.choice(["province", "city", "joint", "undecided"]),
            planned_start=planned_start, planned_finish=planned_start.replace(year=planned_start.year + 2),
            area_hectares=_decimal(rng.uniform(5, 120), 2), households=rng.randint(800, 12000),
            elderly_share=_decimal(rng.uniform(0.08, 0.35), 4), children_share=_decimal(rng.uniform(0.05, 0.2), 4),
            status=_weighted(rng, COMMUNITY_STATUS_WEIGHTS), created_at=now, updated_at=now,
        ))


def _need(rows: MarketRows, community_id: int, category: str, status: str, priority: int, user_id: int,
          now: datetime) -> int:
    need_id = len(rows.needs) + 1
    rows.needs.append(dict(id=need_id, community=community_id, category=category, priority=priority, text="",
                           status=status, created_by=user_id, created_at=now, updated_at=now))
    return need_id


def _contract_rows(rng: random.Random, registry: Registry, rows: MarketRows, now: datetime,
                   today: date) -> dict[int, dict]:
    """At most one contract per community, with an operator listed today for its category; holding contracts
    never exceed an operator's capacity. Returns the contract of each community that has one."""
    listed: dict[str, list[dict]] = {}
    for listing in registry.listings:
        if listing["valid_from"] <= today < listing["valid_until"]:
            listed.setdefault(listing["category"], []).append(registry.operators[listing["operator"] - 1])
    holding = {o["id"]: 0 for o in registry.operators}
    by_community = {}
    for community in rows.communities:
        if rng.random() >= CONTRACT_SHARE:
            continue
        category = rng.choice(registry.categories)
        status = _weighted(rng, CONTRACT_STATUS_WEIGHTS)
        pool = [o for o in listed.get(category, []) if o["registry_status"] in ("listed", "warned")
                and (status not in HOLDING_STATES or holding[o["id"]] < o["capacity"])]
        serving = [o for o in pool if community["district"] in o["district_ids"]]
        if not (serving or pool):
            continue
        operator = rng.choice(serving or pool)
        this_month = today.replace(day=1)
        if status == "active":
            starts_on = _month(this_month, -rng.randint(1, 30))
            ends_on = _years_later(starts_on, 3)
        elif status == "expiring":
            ends_on = today + timedelta(days=rng.randint(10, 85))
            starts_on = _years_later(ends_on, -3)
        elif status == "draft":
            starts_on = _month(this_month, 1)
            ends_on = _years_later(starts_on, 3)
        elif status == "renewed":
            ends_on = today - timedelta(days=rng.randint(1, 200))
            starts_on = _years_later(ends_on, -3)
        else:
            starts_on = _month(this_month, -rng.randint(6, 30))
            ends_on = _years_later(starts_on, 3)
        if status in HOLDING_STATES:
            holding[operator["id"]] += 1
        need_ids = []
        if status != "draft":
            need_status = "matched" if status in ("active", "expiring") else "closed"
            need_ids = [_need(rows, community["id"], category, need_status, 2, registry.user_id, now)]
        signed = status != "draft"
        terminated = status == "terminated"
        contract = dict(
            id=len(rows.contracts) + 1, street=community["street"], community=community["id"],
            operator=operator["id"], categories=[category], starts_on=starts_on, ends_on=ends_on,
            annual_fee=rng.randint(50, 300) * 10_000 * 100,
            revenue_share=_decimal(rng.choice([0.05, 0.1, 0.15]), 4) if rng.random() < 0.5 else None,
            kpis="", status=status, renewal_of=None, need_ids=need_ids, created_by=registry.user_id,
            signed_by=registry.user_id if signed else None,
            signed_at=datetime.combine(starts_on, datetime.min.time(), timezone.utc) if signed else None,
            terminated_by=registry.user_id if terminated else None,
            terminated_at=now - timedelta(days=rng.randint(1, 120)) if terminated else None,
            termination_reason="合同双方协商终止" if terminated else "", created_at=now, updated_at=now,
        )
        rows.contracts.append(contract)
        by_community[community["id"]] = contract
    return by_community


def _open_need_rows(rng: random.Random, registry: Registry, rows: MarketRows, now: datetime) -> None:
    for community in rows.communities:
        for category in rng.sample(registry.categories, rng.choice(NEEDS_PER_COMMUNITY)):
            _need(rows, community["id"], category, "open", rng.randint(1, 3), registry.user_id, now)


def _evaluation_rows(rng: random.Random, registry: Registry, rows: MarketRows, now: datetime, today: date) -> None:
    """Up to 16 quarterly evaluations per operator; a fifth of the operators have none."""
    contract_of = {}
    for contract in rows.contracts:
        if contract["status"] != "draft":
            contract_of.setdefault(contract["operator"], contract["id"])
    quarter_start = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    for operator in registry.operators:
        if rng.random() < 0.2:
            continue
        quality = rng.randint(60, 95)
        for quarter in range(rng.randint(1, EVALUATIONS_PER_OPERATOR)):
            period_end = _month(quarter_start, -3 * quarter) - timedelta(days=1)
            rows.evaluations.append(dict(
                operator=operator["id"], contract_id=contract_of.get(operator["id"]), evaluator=registry.user_id,
                evaluator_org=registry.city_id, score=max(0, min(100, quality + rng.randint(-12, 12))),
                satisfaction=_decimal(max(0.0, min(100.0, quality + rng.uniform(-10, 10))), 2),
                complaints=rng.randint(0, 6), period_start=_month(period_end, -2), period_end=period_end,
                comment="", created_at=now,
            ))


def _ledger_rows(rng: random.Random, registry: Registry, rows: MarketRows, contracts: dict[int, dict], months: int,
                 now: datetime, today: date) -> None:
    """`months` complete months up to last month for every community: costs in proportion to households,
    income at a ratio to cost drawn from a balance band, each kind posted with its own probability."""
    first_month = _month(today, -months)
    month_list = [_month(first_month, offset) for offset in range(months)]
    street_org = {c["id"]: c["street"] for c in rows.communities}
    for community in rows.communities:
        low, high = rng.choices([band for band, _ in BALANCE_BANDS], [w for _, w in BALANCE_BANDS])[0]
        ratio = rng.uniform(low, high)
        monthly_cost = community["households"] * rng.uniform(15, 40) * 100
        contract = contracts.get(community["id"])
        for month in month_list:
            label = f"{month:%Y-%m}"
            cost = monthly_cost * rng.uniform(0.85, 1.15)
            entries = []
            for kind, (share, probability) in COST_MIX.items():
                under_contract = (kind == "service_fee" and contract is not None and contract["status"] != "draft"
                                  and contract["starts_on"] <= month < contract["ends_on"])
                if under_contract:
                    entries.append(("cost", kind, contract["annual_fee"] // 12, contract["id"]))
                elif rng.random() < probability:
                    entries.append(("cost", kind, cost * share * rng.uniform(0.8, 1.2), None))
            income = cost * ratio * rng.uniform(0.9, 1.1)
            for kind, (share, probability) in INCOME_MIX.items():
                if rng.random() < probability:
                    entries.append(("income", kind, income * share * rng.uniform(0.8, 1.2), None))
            for direction, kind, amount, contract_id in entries:
                rows.ledger.append(dict(
                    community=community["id"], month=month, direction=direction, kind=kind,
                    amount=max(1, int(amount)), source=f"bench:{community['id']}:{label}:{kind}",
                    contract=contract_id, note="", posted_by=registry.user_id,
                    posted_by_org=street_org[community["id"]], created_at=now,
                ))


async def fill_market(url: str, args: argparse.Namespace) -> MarketDataset:
    """Migrate, then COPY the registry and the market of a whole city in one transaction."""
    from core import clock

    await prepare_database()
    started = time.perf_counter()
    rng = random.Random(args.seed)
    now = datetime.now(timezone.utc)
    today = clock.today()
    registry = registry_rows(rng, args.operators, now=now, today=today, max_capacity=args.max_capacity)
    rows = MarketRows()
    streets = _streets(rng, registry, rows, now)
    _community_rows(rng, streets, args.communities, rows, now, today)
    contracts = _contract_rows(rng, registry, rows, now, today)
    _open_need_rows(rng, registry, rows, now)
    _evaluation_rows(rng, registry, rows, now, today)
    _ledger_rows(rng, registry, rows, contracts, args.months, now, today)

    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await copy_registry(connection, registry)
            await copy_rows(connection, "organisation", rows.organisations)
            await copy_rows(connection, "market_community", rows.communities)
            await copy_rows(connection, "market_need", rows.needs)
            await copy_rows(connection, "market_contract", rows.contracts)
            await copy_rows(connection, "provider_evaluation", rows.evaluations)
            await copy_rows(connection, "market_ledger_entry", rows.ledger)
            await reset_sequences(connection, ["organisation", "market_community", "market_need", "market_contract"])
        await connection.execute("ANALYZE")
        listed_today = await connection.fetchval(
            "SELECT count(DISTINCT o.id) FROM provider_operator o JOIN provider_listing l ON l.operator = o.id "
            "WHERE o.registry_status IN ('listed', 'warned') AND l.valid_from <= $1 AND l.valid_until > $1", today,
        )
    finally:
        await connection.close()

    return MarketDataset(
        districts=len(registry.districts), streets=len(streets), communities=len(rows.communities),
        operators=len(registry.operators), operators_in_good_standing_listed_today=listed_today,
        listings=len(registry.listings), contracts=len(rows.contracts),
        holding_contracts=sum(1 for c in rows.contracts if c["status"] in HOLDING_STATES),
        evaluations=len(rows.evaluations), needs=len(rows.needs),
        open_needs=sum(1 for n in rows.needs if n["status"] == "open"), ledger_entries=len(rows.ledger),
        ledger_months=args.months, fill_seconds=round(time.perf_counter() - started, 2),
    )


# Instruments -----------------------------------------------------------------------------------

class StopWatch:
    """Seconds of the functions `timing` wraps, by label, since the last `reset`; for the labels in `keep`,
    also the last result and positional arguments (others are not kept, so no memory is held on to)."""

    def __init__(self, keep: frozenset[str] = frozenset()) -> None:
        self.keep = keep
        self.seconds: dict[str, float] = {}
        self.results: dict[str, object] = {}
        self.arguments: dict[str, tuple] = {}

    def reset(self) -> None:
        self.seconds.clear()
        self.results.clear()
        self.arguments.clear()

    def add(self, label: str, seconds: float) -> None:
        self.seconds[label] = self.seconds.get(label, 0.0) + seconds

    def record(self, label: str, result: object, arguments: tuple) -> None:
        if label in self.keep:
            self.results[label], self.arguments[label] = result, arguments


class _TimedContext:
    def __init__(self, context, watch: StopWatch, label: str) -> None:
        self.context, self.watch, self.label = context, watch, label

    async def __aenter__(self):
        self.started = time.perf_counter()
        return await self.context.__aenter__()

    async def __aexit__(self, *exc_info):
        try:
            return await self.context.__aexit__(*exc_info)
        finally:
            self.watch.add(self.label, time.perf_counter() - self.started)


def _timed(function, watch: StopWatch, label: str, *, context: bool = False):
    if context:
        def open_context(*args, **kwargs):
            return _TimedContext(function(*args, **kwargs), watch, label)
        return open_context
    if inspect.iscoroutinefunction(function):
        async def timed_coroutine(*args, **kwargs):
            started = time.perf_counter()
            try:
                result = await function(*args, **kwargs)
            finally:
                watch.add(label, time.perf_counter() - started)
            watch.record(label, result, args)
            return result
        return timed_coroutine

    def timed_function(*args, **kwargs):
        started = time.perf_counter()
        try:
            result = function(*args, **kwargs)
        finally:
            watch.add(label, time.perf_counter() - started)
        watch.record(label, result, args)
        return result
    return timed_function


@contextlib.contextmanager
def timing(watch: StopWatch, targets: dict[str, tuple[object, str]], contexts: frozenset[str] = frozenset()):
    """Replace `module.name` for each label → (module, name) with a wrapper that times it; restored on exit.
    Callers look module attributes up at call time, so the real service code runs through the wrappers."""
    originals = []
    try:
        for label, (module, name) in targets.items():
            original = getattr(module, name)
            originals.append((module, name, original))
            setattr(module, name, _timed(original, watch, label, context=label in contexts))
        yield watch
    finally:
        for module, name, original in reversed(originals):
            setattr(module, name, original)


class StatementLog:
    """Every statement sent on any asyncpg connection while active, pool resets kept apart: the pool sends
    its reset query when a connection goes back, which is a round trip the application did not ask for."""

    METHODS = ("execute", "executemany", "fetch", "fetchrow", "fetchval")

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.pool_resets = 0

    def __enter__(self) -> StatementLog:
        self.originals = {name: getattr(asyncpg.connection.Connection, name) for name in self.METHODS}
        for name, original in self.originals.items():
            setattr(asyncpg.connection.Connection, name, self._counting(original))
        return self

    def __exit__(self, *exc_info) -> None:
        for name, original in self.originals.items():
            setattr(asyncpg.connection.Connection, name, original)

    def _counting(self, original):
        log = self

        async def counted(connection, query, *args, **kwargs):
            if query == connection.get_reset_query():
                log.pool_resets += 1
            else:
                log.statements.append(" ".join(query.split())[:100])
            return await original(connection, query, *args, **kwargs)
        return counted


class ResidentPeak:
    """Peak resident set size above the level at entry, sampled every `interval` seconds in a thread."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.process = psutil.Process()

    def __enter__(self) -> ResidentPeak:
        self.baseline = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc_info) -> None:
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def delta_mb(self) -> float:
        return (self.peak - self.baseline) / 2**20


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def city_principal():
    from core.accounts.principal import Grant, Principal
    from core.accounts.tables import Role

    return Principal(user_id=1, username="bench", display_name="基准测试（市级）",
                     grants=(Grant(Role.city, 1, "/1/", "杭州市"),))


# Measurements ----------------------------------------------------------------------------------

async def measure_matching(principal, community_ids: list[int], warmup_ids: list[int], limit: int) -> dict:
    """match_community per community; each call split into the candidate query, the other queries and Python."""
    from market import repository as repo
    from market import service

    for community_id in warmup_ids:
        await service.match_community(principal, community_id, limit=limit)

    repository_functions = {name: (repo, name) for name, value in vars(repo).items()
                            if inspect.iscoroutinefunction(value) and value.__module__ == repo.__name__}
    totals, candidate_sql, other_sql, python, candidates = [], [], [], [], []
    watch = StopWatch()
    with timing(watch, repository_functions):
        for community_id in community_ids:
            watch.reset()
            started = time.perf_counter()
            result = await service.match_community(principal, community_id, limit=limit)
            total = time.perf_counter() - started
            sql = sum(watch.seconds.values())
            totals.append(total)
            candidate_sql.append(watch.seconds.get("match_candidates", 0.0))
            other_sql.append(sql - candidate_sql[-1])
            python.append(total - sql)
            candidates.append(result["candidates"])
    with StatementLog() as log:
        await service.match_community(principal, community_ids[0], limit=limit)

    def ms(values: list[float]) -> float:
        return round(1000 * median(values), 2)

    return {
        "calls": len(community_ids), "warmup_calls": len(warmup_ids), "limit": limit,
        "p50_ms": round(1000 * percentile(totals, 50), 2), "p99_ms": round(1000 * percentile(totals, 99), 2),
        "mean_ms": round(1000 * sum(totals) / len(totals), 2),
        "median_candidate_query_ms": ms(candidate_sql), "median_other_queries_ms": ms(other_sql),
        "median_python_ms": ms(python),
        "candidate_query_share_of_total": round(sum(candidate_sql) / sum(totals), 3),
        "python_share_of_total": round(sum(python) / sum(totals), 3),
        "median_candidates_scored": median(candidates),
        "statements_per_call": len(log.statements), "statements": log.statements,
        "aim_p50_ms": AIM_MATCH_P50_MS, "aim_met": percentile(totals, 50) * 1000 < AIM_MATCH_P50_MS,
    }


ALLOCATION_STAGES = {
    "open needs query": ("repo", "open_needs_in_scope"),
    "candidate query": ("repo", "match_candidates"),
    "group scoring (matching.pair_scores)": ("matching", "pair_scores"),
    "solver (allocation.allocate_groups)": ("allocation", "allocate_groups"),
    "greedy baseline (allocation.greedy_groups)": ("allocation", "greedy_groups"),
    "inserting the plan (transaction)": ("service", "transaction"),
    "reading the plan back": ("service", "get_allocation_plan"),
}
# Inside the solver: the rest of allocation.allocate_groups is building the constraint matrix.
SOLVER_STAGES = {
    "SciPy HiGHS simplex (linprog)": ("allocation", "linprog"),
}


def _solver_size(scores: dict[tuple[int, int], float], demand: dict[int, int], spare: dict[int, int]) -> dict:
    """The transportation problem allocation.allocate_groups solves: one variable per group × operator pair."""
    pairs = [(g, o) for (g, o), v in scores.items() if v > 0 and demand.get(g, 0) > 0 and spare.get(o, 0) > 0]
    return {"groups": len({g for g, _ in pairs}), "operators": len({o for _, o in pairs}), "variables": len(pairs)}


async def measure_allocation(principal, runs: int, with_tracemalloc: bool) -> dict:
    """create_allocation_plan for the city, `runs` times, then once under tracemalloc for its peak."""
    from market import allocation, matching, service
    from market import repository as repo

    modules = {"repo": repo, "matching": matching, "allocation": allocation, "service": service}
    targets = {label: (modules[module], name) for label, (module, name) in ALLOCATION_STAGES.items()}
    solver_parts = {label: (modules[module], name) for label, (module, name) in SOLVER_STAGES.items()
                    if hasattr(modules[module], name)}
    contexts = frozenset({"inserting the plan (transaction)"})
    measured = []
    watch = StopWatch(keep=frozenset({"candidate query", "group scoring (matching.pair_scores)",
                                      "solver (allocation.allocate_groups)"}))
    for run in range(runs):
        print(f"  allocation run {run + 1}/{runs} ...", flush=True)
        watch.reset()
        with timing(watch, {**targets, **solver_parts}, contexts), ResidentPeak() as memory:
            started = time.perf_counter()
            plan = await service.create_allocation_plan(principal, None)
            total = time.perf_counter() - started
        stages = {label: round(watch.seconds.get(label, 0.0), 3) for label in ALLOCATION_STAGES}
        stages["other Python (candidates, glue)"] = round(
            total - sum(watch.seconds.get(label, 0.0) for label in ALLOCATION_STAGES), 3)
        solver = {label: round(watch.seconds.get(label, 0.0), 3) for label in solver_parts}
        solver["building the constraint matrix"] = round(
            watch.seconds.get("solver (allocation.allocate_groups)", 0.0) - sum(watch.seconds.get(label, 0.0)
                                                                        for label in solver_parts), 3)
        measured.append({"seconds": round(total, 3), "rss_peak_delta_mb": round(memory.delta_mb, 1),
                         "stages_s": stages, "solver_stages_s": solver})
    scores = watch.results["group scoring (matching.pair_scores)"]
    _, demand, spare = watch.arguments["solver (allocation.allocate_groups)"][:3]
    solver_size = _solver_size(scores, demand, spare)
    candidates, scored_pairs = len(watch.results["candidate query"]), len(scores)
    watch.reset()
    del scores, demand, spare

    traced_peak_mb = None
    if with_tracemalloc:
        print("  allocation under tracemalloc ...", flush=True)
        tracemalloc.start()
        try:
            await service.create_allocation_plan(principal, None)
            traced_peak_mb = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        finally:
            tracemalloc.stop()

    lines = plan["lines"]
    seconds = [m["seconds"] for m in measured]
    median_run = sorted(measured, key=lambda m: m["seconds"])[len(measured) // 2]
    return {
        "runs": measured, "median_s": round(median(seconds), 3), "best_s": min(seconds),
        "stages_of_median_run_s": median_run["stages_s"],
        "solver_stages_of_median_run_s": median_run["solver_stages_s"],
        "rss_peak_delta_mb_max": max(m["rss_peak_delta_mb"] for m in measured),
        "tracemalloc_peak_mb": traced_peak_mb,
        "needs": plan["need_count"], "assigned": sum(1 for line in lines if line["operator_id"] is not None),
        "total_score": float(plan["total_score"]), "greedy_score": float(plan["greedy_score"]),
        "candidate_operators": candidates, "scored_pairs": scored_pairs, "solver_matrix": solver_size,
        "aim_s": AIM_ALLOCATION_S, "aim_met": median(seconds) < AIM_ALLOCATION_S,
    }


async def _overview_statements(principal, **filters) -> tuple[StatementLog, dict]:
    from market import service

    with StatementLog() as log:
        result = await service.balance_overview(principal, status=None, start=None, end=None, limit=2000,
                                                offset=0, **filters)
    return log, result


class _RollBack(Exception):
    pass


async def measure_overview(principal, runs: int, district_id: int) -> dict:
    """balance_overview for the city: p50 over `runs` runs after a warm-up, SQL apart; statements counted for
    the city, one district, and the city with half of its communities deleted in a rolled-back transaction."""
    from piccolo.engine import engine_finder

    from market import repository as repo
    from market import service

    for _ in range(2):
        await service.balance_overview(principal, district_id=None, status=None, start=None, end=None, limit=2000,
                                       offset=0)
    totals, sql = [], []
    watch = StopWatch()
    with timing(watch, {"balance_overview": (repo, "balance_overview")}):
        for _ in range(runs):
            watch.reset()
            started = time.perf_counter()
            result = await service.balance_overview(principal, district_id=None, status=None, start=None, end=None,
                                                    limit=2000, offset=0)
            totals.append(time.perf_counter() - started)
            sql.append(watch.seconds["balance_overview"])

    city_log, city = await _overview_statements(principal, district_id=None)
    district_log, district = await _overview_statements(principal, district_id=district_id)
    engine = engine_finder()
    half_log, half = None, None
    with contextlib.suppress(_RollBack):
        async with engine.transaction():
            await engine.run_ddl("UPDATE provider_evaluation SET contract_id = NULL WHERE contract_id IS NOT NULL")
            await engine.run_ddl("DELETE FROM market_community WHERE id % 2 = 0")
            half_log, half = await _overview_statements(principal, district_id=None)
            raise _RollBack()

    def count(log: StatementLog, view: dict) -> dict:
        return {"communities": view["communities"], "statements": len(log.statements),
                "pool_resets": log.pool_resets}

    counts = {"city": count(city_log, city), "one district": count(district_log, district),
              "city, half the communities": count(half_log, half)}
    return {
        "runs": runs, "p50_s": round(percentile(totals, 50), 4), "p99_s": round(percentile(totals, 99), 4),
        "median_sql_s": round(median(sql), 4), "median_python_s": round(median(totals) - median(sql), 4),
        "communities": result["communities"], "window": [str(result["start"]), str(result["end"])],
        "status_counts": result["counts"], "statements_by_scope": counts,
        "statements": city_log.statements,
        "constant_statements": len({c["statements"] for c in counts.values()}) == 1,
        "aim_s": AIM_OVERVIEW_S, "aim_met": percentile(totals, 50) < AIM_OVERVIEW_S,
    }


async def run_benchmark(url: str, args: argparse.Namespace) -> tuple[MarketDataset, dict]:
    print(f"Filling the database ({args.communities} communities, {args.operators} operators, "
          f"{args.months} months of ledger) ...", flush=True)
    data = await fill_market(url, args)
    print(f"  {data.streets} streets, {data.open_needs} open needs, {data.contracts} contracts, "
          f"{data.evaluations} evaluations, {data.ledger_entries} ledger entries in {data.fill_seconds:.1f} s",
          flush=True)

    from piccolo.engine import engine_finder

    engine = engine_finder()
    await engine.start_connection_pool(min_size=2, max_size=10)
    try:
        principal = city_principal()
        rng = random.Random(args.seed + 1)
        chosen = rng.sample(range(1, data.communities + 1), min(data.communities, args.match_calls + 20))
        print(f"Matching: {args.match_calls} communities ...", flush=True)
        matching = await measure_matching(principal, chosen[20:], chosen[:20], limit=20)
        print("Allocation for the city ...", flush=True)
        allocation = await measure_allocation(principal, args.allocation_runs, not args.no_tracemalloc)
        print(f"Balance overview: {args.overview_runs} runs ...", flush=True)
        overview = await measure_overview(principal, args.overview_runs, district_id=8)
    finally:
        await engine.close_connection_pool()
    return data, {"matching": matching, "allocation": allocation, "balance_overview": overview}


# Report ----------------------------------------------------------------------------------------

def print_table(data: MarketDataset, results: dict, wall_seconds: float) -> None:
    m, a, o = results["matching"], results["allocation"], results["balance_overview"]

    def aim(met: bool) -> str:
        return "yes" if met else "NO"

    rows = [
        (f"matching, one community × {m['median_candidates_scored']:.0f} candidates",
         f"p50 {m['p50_ms']:.1f} ms, p99 {m['p99_ms']:.1f} ms", f"p50 < {AIM_MATCH_P50_MS} ms", aim(m["aim_met"])),
        ("  candidate query / other queries / Python (medians)",
         f"{m['median_candidate_query_ms']:.1f} / {m['median_other_queries_ms']:.1f} / "
         f"{m['median_python_ms']:.1f} ms", "", ""),
        (f"allocation, {a['needs']} needs × {a['candidate_operators']} operators",
         f"{a['median_s']:.2f} s (median of {len(a['runs'])})", f"< {AIM_ALLOCATION_S} s", aim(a["aim_met"])),
        *((f"  {label}", f"{seconds:.3f} s", "", "") for label, seconds in a["stages_of_median_run_s"].items()),
        *((f"    solver: {label}", f"{seconds:.3f} s", "", "")
          for label, seconds in a["solver_stages_of_median_run_s"].items()),
        ("  memory: RSS peak above start / tracemalloc peak",
         f"{a['rss_peak_delta_mb_max']:.0f} MB / "
         + (f"{a['tracemalloc_peak_mb']:.0f} MB" if a["tracemalloc_peak_mb"] is not None else "not measured"),
         "", ""),
        ("  assigned, total score (greedy)",
         f"{a['assigned']}/{a['needs']}, {a['total_score']:.1f} ({a['greedy_score']:.1f})", "", ""),
        (f"balance overview, {o['communities']} communities", f"p50 {o['p50_s'] * 1000:.0f} ms "
         f"(SQL {o['median_sql_s'] * 1000:.0f} ms)", f"< {AIM_OVERVIEW_S} s", aim(o["aim_met"])),
        *((f"  statements: {scope} ({c['communities']})", f"{c['statements']}", "constant",
           aim(o["constant_statements"])) for scope, c in o["statements_by_scope"].items()),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    print()
    print(f"{'measure':<{widths[0]}}  {'result':<{widths[1]}}  {'aim':<{widths[2]}}  met")
    for label, result, target, met in rows:
        print(f"{label:<{widths[0]}}  {result:<{widths[1]}}  {target:<{widths[2]}}  {met}")
    print(f"(data: {data.communities} communities, {data.open_needs} open needs, {data.ledger_entries} ledger "
          f"entries; {os.cpu_count()} CPUs; whole benchmark {wall_seconds:.0f} s)")


def code_state() -> dict:
    """The commit measured, and the files of the measured packages that differ from it."""
    def git(*arguments: str) -> str:
        try:
            return subprocess.run(["git", *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True,
                                  check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""

    changed = git("status", "--porcelain", "--", "market", "core", "providers").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "uncommitted": sorted(line[3:] for line in changed)}


def write_results(args: argparse.Namespace, data: MarketDataset, results: dict, wall_seconds: float,
                  event_loop: str) -> None:
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "market: matching, city allocation, balance overview (in-process service calls)",
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "load_average_1_5_15_at_end": [round(load, 2) for load in os.getloadavg()]},
        "code": code_state(),
        "settings": {"seed": args.seed, "match_calls": args.match_calls, "allocation_runs": args.allocation_runs,
                     "overview_runs": args.overview_runs, "event_loop": event_loop,
                     "sql_time": "time inside market.repository functions, driver decoding included",
                     "memory": "RSS: peak resident set size above the level before each run, sampled every 5 ms; "
                               "tracemalloc: peak traced Python and NumPy allocations in a separate run"},
        "data": asdict(data),
        "results": results,
        "wall_seconds": round(wall_seconds, 1),
    }
    RESULTS_FILE.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# Main ------------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.market", description=__doc__.split("\n")[0])
    parser.add_argument("--communities", type=int, default=1250, help="communities to generate (default 1250)")
    parser.add_argument("--operators", type=int, default=3000, help="operators to generate (default 3000)")
    parser.add_argument("--max-capacity", type=int, default=15, help="operator capacity 1..this (default 15)")
    parser.add_argument("--months", type=int, default=36, help="months of ledger per community (default 36)")
    parser.add_argument("--match-calls", type=int, default=300, help="matching calls measured (default 300)")
    parser.add_argument("--allocation-runs", type=int, default=3, help="city allocations measured (default 3)")
    parser.add_argument("--overview-runs", type=int, default=20, help="balance overviews measured (default 20)")
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the extra allocation run that "
                                                                       "measures the tracemalloc peak")
    parser.add_argument("--seed", type=int, default=2026)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="fcom-bench-market-"))
    pgdata = tmp / "data"
    try:
        from core.db import start_embedded_server

        database_url = create_database(start_embedded_server(pgdata, cleanup_mode="delete"))
        os.environ["DATABASE_URL"] = database_url
        try:
            import uvloop
        except ImportError:
            data, results = asyncio.run(run_benchmark(database_url, args))
            event_loop = "asyncio"
        else:
            data, results = uvloop.run(run_benchmark(database_url, args))
            event_loop = "uvloop"
        wall_seconds = time.perf_counter() - started
        print_table(data, results, wall_seconds)
        write_results(args, data, results, wall_seconds, event_loop)
        print(f"Written to {RESULTS_FILE.relative_to(PROJECT_ROOT)}")
    finally:
        if (pgdata / "PG_VERSION").exists():
            stop_embedded_server(pgdata)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted; database stopped")
