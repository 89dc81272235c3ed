"""Benchmark of leasing's two city-wide operations: monthly rent invoice generation and the officials' figures.

Both are called in-process, exactly as the scheduler and the HTTP handlers call them, on a bulk-filled
database of a whole city; SQL statements are counted on the asyncpg connections.

    .venv/bin/python -m bench.leasing              # from the project root; under a minute
    .venv/bin/python -m bench.leasing --help       # data size, runs, seed

Steps:
  1. a throwaway embedded PostgreSQL in a temporary folder, migrated like production;
  2. bulk-filled with COPY: the registry of bench/directory.py (the city, 13 districts, 3,000 operators with
     valid credit codes), the streets and 1,250 communities of bench/market.py (org tree nodes with
     materialised paths /1/<district>/<street>/<community>/), one state-owned owner organisation per district,
     10,000 spaces, and three consecutive leases per space (30,000; the first two ended, terminated early or
     renewed, the current one active, none overlapping), with every invoice of the last 36 complete months the
     rent rules (leasing/rent.py) give for them: mostly paid, some overdue. With --leases-per-space 1 and
     --spaces 30000 every one of the 30,000 leases is active and has the whole history billed;
  3. invoice generation: `leasing.service.generate_invoices(through=today)` for this month, which no invoice
     covers yet: seconds, invoices created and statements, with the time split into the leases_to_bill query,
     Python (rent maths) and the insert with its commit; a cProfile of an identical run (rolled back first);
     and what the Python part costs if each lease's months were computed only after its last invoice;
  4. the same call again: nothing to create; seconds of the first repeat, p50 of several, statements;
  5. the figures for officials: `leasing.service.figures` for the whole city at each level (community, street,
     district, city) with the default window (this calendar year), p50 over 10 runs with the SQL apart, and
     the statements counted for the city, one district and the whole invoice history: they must not vary.

The table is printed and the same numbers are written to bench/results/leasing.json. The database is
stopped and its folder deleted at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time as clock_time, timedelta, timezone
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
from bench.market import (
    MarketRows,
    StatementLog,
    StopWatch,
    _community_rows,
    _RollBack,
    _streets,
    city_principal,
    median,
    percentile,
    timing,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = PROJECT_ROOT / "bench" / "results" / "leasing.json"

AIM_GENERATION_S = 5
AIM_REPEAT_S = 1
AIM_FIGURES_S = 1

SPACE_USES = ["public_service", "commerce", "incubation", "elderly_care", "childcare", "culture", "health"]
OWNER_KIND_WEIGHTS = {"state_owned": 60, "institution": 15, "community_collective": 15, "government": 10}
RENT_FREE_MONTHS = (0, 0, 0, 1, 2, 3)
PAYMENT_DAYS = (1, 5, 10, 10, 10, 15, 20, 25)
RENEWAL_SHARE = 0.4  # a later lease of a space renews the previous one (same lessee)
TERMINATED_SHARE = 0.08  # past leases that ended early
OVERDUE_SHARE_RECENT = 0.3  # invoices of the last two months still unpaid
OVERDUE_SHARE_OLDER = 0.02
CURRENT_TERMS_MONTHS = (24, 36, 48, 60)


# Data ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LeasingDataset:
    districts: int
    streets: int
    communities: int
    operators: int
    owner_organisations: int
    spaces: int
    leases: int
    leases_by_status: dict[str, int]
    invoices: int
    invoices_by_status: dict[str, int]
    invoice_months: list[str]
    fill_seconds: float


@dataclass
class LeasingRows:
    owners: list[dict] = field(default_factory=list)
    spaces: list[dict] = field(default_factory=list)
    leases: list[dict] = field(default_factory=list)
    invoices: list[dict] = field(default_factory=list)


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def _owner_rows(registry: Registry, market_rows: MarketRows, rows: LeasingRows, now: datetime) -> dict[int, int]:
    """One state-owned owner organisation (城投) under each district; district org id → owner org id."""
    next_org = max(o["id"] for o in market_rows.organisations) + 1
    owner_of = {}
    for district_id, (district_name, code) in registry.districts.items():
        rows.owners.append(dict(id=next_org, name=f"{district_name}城市建设投资集团（基准测试）", kind="owner",
                                parent=district_id, path=f"/{registry.city_id}/{district_id}/{next_org}/",
                                code=f"owner-{code}", created_at=now))
        owner_of[district_id] = next_org
        next_org += 1
    return owner_of


def _space_rows(rng: random.Random, market_rows: MarketRows, owner_of: dict[int, int], count: int,
                rows: LeasingRows, user_id: int, now: datetime) -> None:
    communities = market_rows.communities
    for space_id in range(1, count + 1):
        community = communities[(space_id - 1) % len(communities)] if space_id <= len(communities) \
            else rng.choice(communities)
        rows.spaces.append(dict(
            id=space_id, owner_org=owner_of[community["district"]],
            owner_kind=_weighted(rng, OWNER_KIND_WEIGHTS), community=community["id"],
            address=f"{community['name']}{rng.randint(1, 40)}幢{rng.randint(1, 3)}0{rng.randint(1, 9)}室",
            area_m2=Decimal(f"{rng.uniform(20, 600):.2f}"), floor=str(rng.randint(1, 3)), condition="",
            allowed_uses=sorted(rng.sample(SPACE_USES, rng.randint(1, 3))), photos="[]", status="leased",
            created_by=user_id, created_at=now, updated_at=now,
        ))


def _lease_terms_for(rng: random.Random, space: dict) -> tuple[str, int]:
    """A use the space allows and the monthly rent the listing rules give for it."""
    from leasing import rent

    use = rng.choice(space["allowed_uses"])
    rate = rng.randint(15, 90) * 100  # fen per m² and month
    discount = Decimal(rng.choice(["0.3000", "0.5000"]))
    return use, rent.monthly_rent(rate, space["area_m2"], use, discount)


def _lease_rows(rng: random.Random, registry: Registry, rows: LeasingRows, per_space: int, history_months: int,
                now: datetime, today: date) -> None:
    """Per space, `per_space` consecutive leases, e.g. [a, b), [b, c), [c, d) for three: the first starts in the
    first months of the history, each earlier one covers about a third of it, the current one runs past today."""
    from core.clock import add_months

    this_month = today.replace(day=1)
    first_month = add_months(this_month, -history_months)
    shortest, longest = history_months // 4, history_months // 3 + 2
    lessees = [o["id"] for o in registry.operators if o["registry_status"] in ("listed", "warned")]
    for space in rows.spaces:
        starts_on = add_months(first_month, rng.randint(0, 3)).replace(day=rng.randint(1, 28))
        previous = None
        for position in range(per_space):
            current = position == per_space - 1
            if current:
                term = rng.choice(CURRENT_TERMS_MONTHS)
                while add_months(starts_on, term) <= add_months(this_month, 4):  # not expiring (90 days) yet
                    term += 12
            else:
                term = rng.randint(shortest, longest)
            ends_on = add_months(starts_on, term)
            renewal = previous is not None and rng.random() < RENEWAL_SHARE
            if renewal:
                lessee, use, monthly = previous["lessee"], previous["use"], previous["monthly_rent"]
                previous["status"] = "renewed"
            else:
                lessee = rng.choice(lessees)
                use, monthly = _lease_terms_for(rng, space)
            terminated = not current and rng.random() < TERMINATED_SHARE
            lease = dict(
                id=len(rows.leases) + 1, space=space["id"], lessee=lessee, listing=None, application=None, use=use,
                starts_on=starts_on, ends_on=ends_on,
                agreed_ends_on=add_months(ends_on, rng.randint(3, 12)) if terminated else ends_on,
                monthly_rent=monthly, deposit=monthly * rng.randint(0, 3),
                rent_free_months=0 if renewal else rng.choice(RENT_FREE_MONTHS),
                payment_day=rng.choice(PAYMENT_DAYS),
                status="active" if current else ("terminated" if terminated else "ended"),
                renewal_of=previous["id"] if renewal else None, created_by=registry.user_id,
                terminated_by=registry.user_id if terminated else None,
                terminated_at=datetime.combine(ends_on, clock_time(9), timezone.utc) if terminated else None,
                termination_reason="承租方申请提前退租" if terminated else "", created_at=now, updated_at=now,
            )
            rows.leases.append(lease)
            previous, starts_on = lease, ends_on


def _invoice_rows(rng: random.Random, rows: LeasingRows, history_months: int, today: date) -> None:
    """Every invoice the rent rules give for each lease, for the `history_months` complete months before this
    one: paid, except a share of the recent ones and a few older ones, which are overdue."""
    from core.clock import add_months
    from leasing import rent

    this_month = today.replace(day=1)
    first_month = add_months(this_month, -history_months)
    last_month = add_months(this_month, -1)
    recent = add_months(this_month, -2)
    for lease in rows.leases:
        terms = rent.LeaseTerms(lease["starts_on"], lease["ends_on"], lease["monthly_rent"],
                                lease["rent_free_months"], lease["payment_day"])
        for line in rent.invoices_through(terms, last_month):
            if line.month < first_month:
                continue
            overdue = rng.random() < (OVERDUE_SHARE_RECENT if line.month >= recent else OVERDUE_SHARE_OLDER)
            paid_at = None if overdue else datetime.combine(
                line.due_on - timedelta(days=rng.randint(0, 5)), clock_time(rng.randint(1, 12)), timezone.utc)
            rows.invoices.append(dict(
                lease=lease["id"], month=line.month, amount=line.amount, due_on=line.due_on,
                status="overdue" if overdue else "paid", last_decline="", paid_at=paid_at,
                created_at=datetime.combine(line.month, clock_time(1), timezone.utc),
            ))


def _counts(rows: list[dict], key: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for row in rows:
        found[row[key]] = found.get(row[key], 0) + 1
    return dict(sorted(found.items()))


async def fill_leasing(url: str, args: argparse.Namespace) -> LeasingDataset:
    """Migrate, then COPY the registry, the communities and leasing of a whole city in one transaction."""
    from core import clock

    await prepare_database()
    started = time.perf_counter()
    rng = random.Random(args.seed)
    now = datetime.now(timezone.utc)
    today = clock.today()
    registry = registry_rows(rng, args.operators, now=now, today=today, max_capacity=15)
    market_rows = MarketRows()
    streets = _streets(rng, registry, market_rows, now)
    _community_rows(rng, streets, args.communities, market_rows, now, today)
    rows = LeasingRows()
    owner_of = _owner_rows(registry, market_rows, rows, now)
    _space_rows(rng, market_rows, owner_of, args.spaces, rows, registry.user_id, now)
    _lease_rows(rng, registry, rows, args.leases_per_space, args.months, now, today)
    _invoice_rows(rng, rows, args.months, today)

    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await copy_registry(connection, registry)
            await copy_rows(connection, "organisation", market_rows.organisations)
            await copy_rows(connection, "organisation", rows.owners)
            await copy_rows(connection, "market_community", market_rows.communities)
            await copy_rows(connection, "leasing_space", rows.spaces)
            await copy_rows(connection, "leasing_lease", rows.leases)
            await copy_rows(connection, "leasing_invoice", rows.invoices)
            await reset_sequences(connection, ["organisation", "market_community", "leasing_space", "leasing_lease"])
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()

    months = sorted({invoice["month"] for invoice in rows.invoices})
    return LeasingDataset(
        districts=len(registry.districts), streets=len(streets), communities=len(market_rows.communities),
        operators=len(registry.operators), owner_organisations=len(rows.owners), spaces=len(rows.spaces),
        leases=len(rows.leases), leases_by_status=_counts(rows.leases, "status"), invoices=len(rows.invoices),
        invoices_by_status=_counts(rows.invoices, "status"),
        invoice_months=[f"{months[0]:%Y-%m}", f"{months[-1]:%Y-%m}"] if months else [],
        fill_seconds=round(time.perf_counter() - started, 2),
    )


# Measurements ----------------------------------------------------------------------------------

GENERATION_STAGES = {
    "leases_to_bill query": ("repo", "leases_to_bill"),
    "insert (repo.insert_invoices)": ("repo", "insert_invoices"),
    "transaction around the insert, commit included": ("service", "transaction"),
}


def _profile_table(profile: cProfile.Profile, top: int) -> list[dict]:
    """The `top` functions by own time, with their calls and cumulative time."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    entries = []
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.stats.items():
        if "site-packages/" in filename:
            where = filename.split("site-packages/", 1)[1]
        elif filename.startswith(str(PROJECT_ROOT)):
            where = os.path.relpath(filename, PROJECT_ROOT)
        else:
            where = os.path.basename(filename)
        entries.append({"function": f"{where}:{line}({name})", "calls": calls, "own_s": round(own, 3),
                        "cumulative_s": round(cumulative, 3)})
    return sorted(entries, key=lambda e: e["own_s"], reverse=True)[:top]


async def _profiled_generation(through: date, top: int) -> dict:
    """generate_invoices under cProfile in a transaction rolled back afterwards, then VACUUM so the dead rows
    do not weigh on the measured run."""
    from piccolo.engine import engine_finder

    from leasing import service

    engine = engine_finder()
    profile = cProfile.Profile()
    created = None
    with contextlib.suppress(_RollBack):
        async with engine.transaction():
            started = time.perf_counter()
            profile.enable()
            try:
                created = await service.generate_invoices(through)
            finally:
                profile.disable()
            seconds = time.perf_counter() - started
            raise _RollBack()
    await engine.run_ddl("VACUUM ANALYZE leasing_invoice")
    stats = pstats.Stats(profile, stream=io.StringIO())
    by_name = {name: cumulative for (_, _, name), (_, _, _, cumulative, _) in stats.stats.items()}
    return {"seconds_under_cprofile": round(seconds, 3), "created": created,
            "cumulative_s": {name: round(by_name.get(name, 0.0), 3) for name in
                             ("generate_invoices", "leases_to_bill", "invoices_through", "billed_months", "invoice_for",
                              "insert_invoices")},
            "top_functions_by_own_time": _profile_table(profile, top)}


async def measure_generation(through: date, repeat_runs: int, profile_top: int) -> dict:
    from leasing import service
    from leasing import repository as repo

    print("  profiled run (rolled back) ...", flush=True)
    profiled = await _profiled_generation(through, profile_top)

    print("  measured run ...", flush=True)
    modules = {"repo": repo, "service": service}
    targets = {label: (modules[module], name) for label, (module, name) in GENERATION_STAGES.items()}
    watch = StopWatch(keep=frozenset({"leases_to_bill query"}))
    with timing(watch, targets, frozenset({"transaction around the insert, commit included"})), \
            StatementLog() as log:
        started, cpu_started = time.perf_counter(), time.process_time()
        created = await service.generate_invoices(through)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    leases = watch.results["leases_to_bill query"]
    query_s = watch.seconds["leases_to_bill query"]
    transaction_s = watch.seconds.get("transaction around the insert, commit included", 0.0)
    stages = {
        "leases_to_bill query (driver decoding included)": round(query_s, 3),
        "Python: rent maths and the lines": round(seconds - query_s - transaction_s, 3),
        "insert (repo.insert_invoices)": round(watch.seconds.get("insert (repo.insert_invoices)", 0.0), 3),
        "begin and commit": round(transaction_s - watch.seconds.get("insert (repo.insert_invoices)", 0.0), 3),
    }
    with_history = sum(1 for lease in leases if lease["last_month"] is not None)
    first = {
        "through": str(through), "seconds": round(seconds, 3),
        "cpu_seconds_of_this_process": round(cpu_seconds, 3), "created": created,
        "statements": len(log.statements), "statement_list": log.statements, "pool_resets": log.pool_resets,
        "leases_returned_by_leases_to_bill": len(leases), "of_which_with_earlier_invoices": with_history,
        "stages_s": stages,
        "profile": profiled,
        "aim_s": AIM_GENERATION_S, "aim_met": seconds < AIM_GENERATION_S,
    }

    print(f"  again for the same date: {repeat_runs} runs ...", flush=True)
    times, created_again = [], []
    with timing(watch, targets, frozenset({"transaction around the insert, commit included"})):
        for run in range(repeat_runs):
            watch.reset()
            with StatementLog() as again_log:
                started = time.perf_counter()
                created_again.append(await service.generate_invoices(through))
                times.append(time.perf_counter() - started)
            if run == 0:
                first_repeat_log, first_repeat_sql = again_log, watch.seconds["leases_to_bill query"]
                returned = len(watch.results["leases_to_bill query"])
    repeat = {
        "runs": repeat_runs, "first_s": round(times[0], 4), "p50_s": round(percentile(times, 50), 4),
        "max_s": round(max(times), 4), "leases_to_bill_query_s_first": round(first_repeat_sql, 4),
        "leases_returned_by_leases_to_bill": returned, "created": created_again,
        "statements": len(first_repeat_log.statements), "statement_list": first_repeat_log.statements,
        "aim_s": AIM_REPEAT_S, "aim_met": max(times) < AIM_REPEAT_S and not any(created_again),
    }
    return {"first": first, "repeat": repeat}


def _district_principal(district_id: int, name: str):
    from core.accounts.principal import Grant, Principal
    from core.accounts.tables import Role

    return Principal(user_id=1, username="bench-district", display_name=f"基准测试（{name}）",
                     grants=(Grant(Role.district, district_id, f"/1/{district_id}/", name),))


async def _figures_statements(principal, level: str, start: date | None, end: date | None) -> tuple[int, dict]:
    from leasing import service

    with StatementLog() as log:
        result = await service.figures(principal, level=level, start=start, end=end)
    return len(log.statements), result


async def measure_figures(runs: int, district: tuple[int, str], history_start: date) -> dict:
    """service.figures for the city at each level: p50 over `runs` after two warm-ups, the SQL apart; the
    statements counted for the city, one district, and the whole history as the window."""
    from core import clock
    from core.clock import add_months
    from leasing import repository as repo
    from leasing import service

    principal = city_principal()
    levels = {}
    watch = StopWatch()
    for level in service.LEVELS:
        for _ in range(2):
            await service.figures(principal, level=level, start=None, end=None)
        totals, sql = [], []
        with timing(watch, {"figures_by_community": (repo, "figures_by_community")}):
            for _ in range(runs):
                watch.reset()
                started = time.perf_counter()
                result = await service.figures(principal, level=level, start=None, end=None)
                totals.append(time.perf_counter() - started)
                sql.append(watch.seconds["figures_by_community"])
        statements, _ = await _figures_statements(principal, level, None, None)
        levels[level] = {
            "p50_s": round(percentile(totals, 50), 4), "max_s": round(max(totals), 4),
            "median_sql_s": round(median(sql), 4),
            "median_python_s": round(median([total - query for total, query in zip(totals, sql, strict=True)]), 4),
            "groups": len(result["items"]), "statements": statements,
            "window": [str(result["start"]), str(result["end"])],
            "total": {k: (float(v) if isinstance(v, Decimal) else v) for k, v in result["total"].items()},
            "aim_met": percentile(totals, 50) < AIM_FIGURES_S,
        }

    district_count, _ = await _figures_statements(_district_principal(*district), "community", None, None)
    history_end = add_months(clock.today().replace(day=1), 1)
    started = time.perf_counter()
    history_count, history = await _figures_statements(principal, "city", history_start, history_end)
    history_s = time.perf_counter() - started
    counts = {f"city, {level}": values["statements"] for level, values in levels.items()}
    counts[f"one district ({district[1]}), community"] = district_count
    counts["city, city, whole invoice history as the window"] = history_count
    return {
        "runs": runs, "levels": levels, "statements_by_scope": counts,
        "constant_statements": len(set(counts.values())) == 1,
        "whole_history_window": {"window": [str(history["start"]), str(history["end"])],
                                 "seconds_one_run": round(history_s, 4),
                                 "invoiced": history["total"]["invoiced"]},
        "aim_s": AIM_FIGURES_S, "aim_met": all(values["aim_met"] for values in levels.values()),
    }


async def run_benchmark(url: str, args: argparse.Namespace) -> tuple[LeasingDataset, dict]:
    print(f"Filling the database ({args.communities} communities, {args.operators} operators, {args.spaces} spaces, "
          f"{args.leases_per_space * args.spaces} leases, {args.months} months of invoices) ...", flush=True)
    data = await fill_leasing(url, args)
    print(f"  {data.leases} leases {data.leases_by_status}, {data.invoices} invoices "
          f"({data.invoice_months[0]} to {data.invoice_months[-1]}) in {data.fill_seconds:.1f} s", flush=True)

    from piccolo.engine import engine_finder

    from core import clock
    from core.demo import DISTRICTS

    engine = engine_finder()
    await engine.start_connection_pool(min_size=2, max_size=10)
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        through = clock.today()
        print(f"Invoice generation through {through} ...", flush=True)
        generation = await measure_generation(through, args.repeat_runs, args.profile_top)
        print(f"Figures: {args.figures_runs} runs per level ...", flush=True)
        history_start = date.fromisoformat(f"{data.invoice_months[0]}-01")
        figures = await measure_figures(args.figures_runs, (8, DISTRICTS[6][0]), history_start)
    finally:
        await engine.close_connection_pool()
    return data, {"load_average_before_measuring": load_before, "invoice_generation": generation["first"],
                  "invoice_generation_again": generation["repeat"], "figures": figures}


# Report ----------------------------------------------------------------------------------------

def print_table(data: LeasingDataset, results: dict, wall_seconds: float) -> None:
    g, r, f = results["invoice_generation"], results["invoice_generation_again"], results["figures"]

    def aim(met: bool) -> str:
        return "yes" if met else "NO"

    rows = [
        (f"generate_invoices, {g['leases_returned_by_leases_to_bill']} leases to bill",
         f"{g['seconds']:.2f} s (CPU here {g['cpu_seconds_of_this_process']:.2f} s), {g['created']} created, "
         f"{g['statements']} statements", f"< {AIM_GENERATION_S} s", aim(g["aim_met"])),
        *((f"  {label}", f"{value:.3f} s", "", "") for label, value in g["stages_s"].items()),
        ("generate_invoices again, same date",
         f"{r['first_s'] * 1000:.0f} ms (p50 {r['p50_s'] * 1000:.0f} ms of {r['runs']}), created "
         f"{max(r['created'])}, {r['statements']} statements", f"< {AIM_REPEAT_S} s, 0 created", aim(r["aim_met"])),
        *((f"figures, city, level {level} ({v['groups']} rows)",
           f"p50 {v['p50_s'] * 1000:.0f} ms (SQL {v['median_sql_s'] * 1000:.0f} ms), {v['statements']} statements",
           f"< {AIM_FIGURES_S} s", aim(v["aim_met"])) for level, v in f["levels"].items()),
        ("figures statements: city levels, one district, whole history",
         ", ".join(str(n) for n in f["statements_by_scope"].values()), "constant", aim(f["constant_statements"])),
        ("figures, city, whole invoice history as the window",
         f"{f['whole_history_window']['seconds_one_run'] * 1000:.0f} ms (one run)", "", ""),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    print()
    print(f"{'measure':<{widths[0]}}  {'result':<{widths[1]}}  {'aim':<{widths[2]}}  met")
    for label, result, target, met in rows:
        print(f"{label:<{widths[0]}}  {result:<{widths[1]}}  {target:<{widths[2]}}  {met}")
    print(f"(data: {data.communities} communities, {data.spaces} spaces, {data.leases} leases, {data.invoices} "
          f"invoices; {os.cpu_count()} CPUs, load average before measuring "
          f"{results['load_average_before_measuring'][0]}; whole benchmark {wall_seconds:.0f} s)")


def code_state() -> dict:
    """The commit measured, and the files of the measured packages that differ from it."""
    def git(*arguments: str) -> str:
        try:
            return subprocess.run(["git", *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True,
                                  check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""

    changed = git("status", "--porcelain", "--", "leasing", "market", "core", "providers").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "uncommitted": sorted(line[3:] for line in changed if line.strip())}


def write_results(args: argparse.Namespace, data: LeasingDataset, results: dict, wall_seconds: float,
                  event_loop: str) -> None:
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "leasing: invoice generation and the officials' figures (in-process service calls)",
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "code": code_state(),
        "settings": {"seed": args.seed, "leases_per_space": args.leases_per_space, "repeat_runs": args.repeat_runs,
                     "figures_runs": args.figures_runs, "event_loop": event_loop,
                     "statements": "every statement sent on an asyncpg connection (BEGIN and COMMIT included), "
                                   "pool reset queries apart",
                     "stages": "leases_to_bill and the insert timed around the repository functions; Python is the "
                               "rest of the call"},
        "data": asdict(data),
        "results": results,
        "wall_seconds": round(wall_seconds, 1),
    }
    RESULTS_FILE.write_text(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n",
                            encoding="utf-8")


# Main ------------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.leasing", description=__doc__.split("\n")[0])
    parser.add_argument("--communities", type=int, default=1250, help="communities to generate (default 1250)")
    parser.add_argument("--operators", type=int, default=3000, help="operators to generate (default 3000)")
    parser.add_argument("--spaces", type=int, default=10_000,
                        help="spaces to generate (default 10000)")
    parser.add_argument("--leases-per-space", type=int, choices=(1, 2, 3), default=3,
                        help="consecutive leases per space, the last one active (default 3; 1 with --spaces 30000 "
                             "gives 30,000 active leases, each billed for the whole history)")
    parser.add_argument("--months", type=int, default=36,
                        help="complete months of invoice history before this one (default 36, at least 24)")
    parser.add_argument("--repeat-runs", type=int, default=10,
                        help="repeated generations for the same date measured (default 10)")
    parser.add_argument("--figures-runs", type=int, default=10, help="figures calls measured per level (default 10)")
    parser.add_argument("--profile-top", type=int, default=15, help="functions kept from the profile (default 15)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    if args.months < 24:
        parser.error("--months must be at least 24: three leases per space must fit in the history")
    return args


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="fcom-bench-leasing-"))
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
