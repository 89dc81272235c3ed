"""Benchmark of the scheduler's jobs and the monthly balance report at city scale.

Every job runs in-process through `scheduler.engine.run_period`, exactly as the scheduler runs it, on a
bulk-filled database of a whole city, on the night every job runs: the 1st of the month.

    .venv/bin/python -m bench.scheduler            # from the project root; a few minutes
    .venv/bin/python -m bench.scheduler --help     # data size, runs, seed

Steps:
  1. a throwaway embedded PostgreSQL in a temporary folder, migrated like production;
  2. bulk-filled with COPY as the city stands on the 1st of this month (--today) when the scheduler is first
     switched on: the registry of bench/directory.py (3,000 operators with listings, a tenth of the valid
     ones ending within 90 days), the market of bench/market.py (1,250 communities, contracts, a tenth of the
     active ones ending within 90 days, quarterly evaluations, 36 months of ledger up to last month) and
     leasing as `bench.leasing --spaces 30000 --leases-per-space 1` fills it (30,000 active leases, 6 % of
     them ending within 90 days and a few today, every invoice of the last 36 months, some overdue); nothing
     flagged or marked expiring yet, this month not billed yet;
  3. the night of the 1st: each job at its own hour on the business clock (core.clock.set_clock): lifecycle,
     rent_invoices, overdue_invoices, renewal_flags and registry_rules for that day, balance_snapshot and
     balance_report for last month, each through `run_period`: seconds (SQL, driver decoding included, and
     Python apart), SQL statements, the resident set size peak above the level before the run (sampled every
     5 ms) and the job's counts. Before it, the same job in a transaction rolled back afterwards, once under
     tracemalloc (peak of Python allocations) and once under cProfile (where the time goes);
  4. the monthly report alone: `scheduler.report.build` for last month, several runs, timed in parts (gather
     and each of its queries, the chart, the workbook, the HTML, the text), with its memory; and once in a
     fresh process, for the resident set size a scheduler process reaches building it, imports included;
  5. the next night: the daily jobs again for the 2nd, in steady state (flags raised the night before); and
     payments_reconcile (no pending payment, no payment server started). The outbox sender is not run: it
     needs an SMTP server;
  6. both nights again on a city a tenth the size (its own database, filled and run in a child process), to
     compare statement counts: a job whose count grows with the data sends statements per row.

The table is printed and the same numbers are written to bench/results/scheduler.json. The database is
stopped and its folder deleted at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import ctypes
import gc
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
import tracemalloc
from dataclasses import asdict, dataclass
from datetime import date, datetime, time as clock_time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import psutil

from bench.directory import (
    copy_registry,
    copy_rows,
    cpu_seconds,
    create_database,
    postmaster_pid,
    prepare_database,
    registry_rows,
    reset_sequences,
    stop_embedded_server,
)
from bench.leasing import LeasingRows, _counts, _invoice_rows, _lease_rows, _owner_rows, _profile_table, _space_rows
from bench.market import (
    MarketRows,
    ResidentPeak,
    StatementLog,
    StopWatch,
    _community_rows,
    _contract_rows,
    _evaluation_rows,
    _ledger_rows,
    _open_need_rows,
    _RollBack,
    _streets,
    _years_later,
    median,
    timing,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = PROJECT_ROOT / "bench" / "results" / "scheduler.json"
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")  # core.clock.BUSINESS_TZ, without importing the project here
SMALL_DATABASE = "fcom_bench_small"

AIM_JOB_S = 5
AIM_REPORT_S = 10
AIM_REPORT_MB = 300

NIGHT_JOBS = ["lifecycle", "rent_invoices", "overdue_invoices", "renewal_flags", "registry_rules",
              "balance_snapshot", "balance_report"]
DAILY_JOBS = NIGHT_JOBS[:5]
RENEWAL_DAYS = 90
LEASES_ENDING_SHARE = 0.06  # active leases ending within 90 days
LEASES_ENDING_TODAY_SHARE = 0.001  # active leases whose term ends today
CONTRACTS_ENDING_SHARE = 0.1  # active contracts ending within 90 days
LISTINGS_ENDING_SHARE = 0.1  # valid listings ending within 90 days


PREFIX = {"text": ""}


def say(text: str) -> None:
    print(f"{PREFIX['text']}{text}", flush=True)


# Data ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CityDataset:
    today: str
    districts: int
    streets: int
    communities: int
    operators: int
    listings: int
    listings_ending_within_90_days: int
    contracts: int
    contracts_by_status: dict[str, int]
    contracts_in_force_ending_within_90_days: int
    evaluations: int
    needs: int
    ledger_entries: int
    ledger_months: int
    spaces: int
    leases: int
    leases_by_status: dict[str, int]
    leases_ending_today: int
    leases_ending_within_90_days: int
    invoices: int
    invoices_by_status: dict[str, int]
    invoice_months: list[str]
    fill_seconds: float


def first_of_this_month() -> date:
    return datetime.now(timezone.utc).astimezone(BUSINESS_TZ).date().replace(day=1)


def _listings_ending(rng: random.Random, listings: list[dict], batch_ids: list[int], today: date) -> None:
    """A share of the valid listings end within 90 days: 24 months after a start about two years ago."""
    from core.clock import add_months

    for listing in listings:
        if listing["valid_until"] <= today or rng.random() >= LISTINGS_ENDING_SHARE:
            continue
        listing["valid_until"] = today + timedelta(days=rng.randint(1, RENEWAL_DAYS))
        listing["valid_from"] = add_months(listing["valid_until"], -24)
        months_ago = (today.year - listing["valid_from"].year) * 12 + today.month - listing["valid_from"].month
        listing["batch"] = max((b for b in batch_ids if b <= (months_ago - 1) // 6 + 1), default=batch_ids[0])


def _contracts_ending(rng: random.Random, contracts: list[dict], today: date) -> None:
    """A share of the active contracts end within 90 days (three-year terms); before the ledger is built, so
    their service fees follow the new terms."""
    for contract in contracts:
        if contract["status"] != "active" or rng.random() >= CONTRACTS_ENDING_SHARE:
            continue
        contract["ends_on"] = today + timedelta(days=rng.randint(5, RENEWAL_DAYS))
        contract["starts_on"] = _years_later(contract["ends_on"], -3)
        contract["signed_at"] = datetime.combine(contract["starts_on"], datetime.min.time(), timezone.utc)


def _leases_ending(rng: random.Random, leases: list[dict], today: date) -> None:
    """A share of the active leases end within 90 days, a few today; before the invoices are built, so those
    follow the new terms. Still 'active': the scheduler has not run yet."""
    for lease in leases:
        if lease["status"] != "active":
            continue
        draw = rng.random()
        if draw < LEASES_ENDING_TODAY_SHARE:
            ends_on = today
        elif draw < LEASES_ENDING_TODAY_SHARE + LEASES_ENDING_SHARE:
            ends_on = today + timedelta(days=rng.randint(1, RENEWAL_DAYS))
        else:
            continue
        if ends_on > lease["starts_on"]:
            lease["ends_on"] = lease["agreed_ends_on"] = ends_on


async def fill_city(url: str, args: argparse.Namespace, today: date) -> CityDataset:
    """Migrate, then COPY the registry, the market and leasing of a whole city in one transaction."""
    await prepare_database()
    started = time.perf_counter()
    rng = random.Random(args.seed)
    now = datetime.combine(today, clock_time(0), BUSINESS_TZ).astimezone(timezone.utc)
    registry = registry_rows(rng, args.operators, now=now, today=today, max_capacity=15)
    _listings_ending(rng, registry.listings, sorted(b["id"] for b in registry.batches), today)
    market = MarketRows()
    streets = _streets(rng, registry, market, now)
    _community_rows(rng, streets, args.communities, market, now, today)
    contracts = _contract_rows(rng, registry, market, now, today)
    _contracts_ending(rng, market.contracts, today)
    _open_need_rows(rng, registry, market, now)
    _evaluation_rows(rng, registry, market, now, today)
    _ledger_rows(rng, registry, market, contracts, args.months, now, today)
    leasing = LeasingRows()
    owner_of = _owner_rows(registry, market, leasing, now)
    _space_rows(rng, market, owner_of, args.spaces, leasing, registry.user_id, now)
    _lease_rows(rng, registry, leasing, args.leases_per_space, args.months, now, today)
    _leases_ending(rng, leasing.leases, today)
    _invoice_rows(rng, leasing, args.months, today)

    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await copy_registry(connection, registry)
            await copy_rows(connection, "organisation", market.organisations)
            await copy_rows(connection, "organisation", leasing.owners)
            await copy_rows(connection, "market_community", market.communities)
            await copy_rows(connection, "market_need", market.needs)
            await copy_rows(connection, "market_contract", market.contracts)
            await copy_rows(connection, "provider_evaluation", market.evaluations)
            await copy_rows(connection, "market_ledger_entry", market.ledger)
            await copy_rows(connection, "leasing_space", leasing.spaces)
            await copy_rows(connection, "leasing_lease", leasing.leases)
            await copy_rows(connection, "leasing_invoice", leasing.invoices)
            await reset_sequences(connection, ["organisation", "market_community", "market_need", "market_contract",
                                               "leasing_space", "leasing_lease"])
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()

    horizon = today + timedelta(days=RENEWAL_DAYS)
    months = sorted({invoice["month"] for invoice in leasing.invoices})
    return CityDataset(
        today=str(today), districts=len(registry.districts), streets=len(streets),
        communities=len(market.communities), operators=len(registry.operators), listings=len(registry.listings),
        listings_ending_within_90_days=sum(1 for r in registry.listings if today < r["valid_until"] <= horizon),
        contracts=len(market.contracts), contracts_by_status=_counts(market.contracts, "status"),
        contracts_in_force_ending_within_90_days=sum(
            1 for c in market.contracts if c["status"] in ("active", "expiring") and today < c["ends_on"] <= horizon),
        evaluations=len(market.evaluations), needs=len(market.needs), ledger_entries=len(market.ledger),
        ledger_months=args.months, spaces=len(leasing.spaces), leases=len(leasing.leases),
        leases_by_status=_counts(leasing.leases, "status"),
        leases_ending_today=sum(1 for r in leasing.leases if r["status"] == "active" and r["ends_on"] == today),
        leases_ending_within_90_days=sum(1 for r in leasing.leases
                                         if r["status"] == "active" and today < r["ends_on"] <= horizon),
        invoices=len(leasing.invoices), invoices_by_status=_counts(leasing.invoices, "status"),
        invoice_months=[f"{months[0]:%Y-%m}", f"{months[-1]:%Y-%m}"] if months else [],
        fill_seconds=round(time.perf_counter() - started, 2),
    )


# Instruments -----------------------------------------------------------------------------------

class TimedStatementLog(StatementLog):
    """StatementLog that also times each statement (the wait for PostgreSQL and the driver's decoding) and
    sums it by statement text."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0
        self.by_text: dict[str, list] = {}

    def _counting(self, original):
        log = self

        async def counted(connection, query, *args, **kwargs):
            if query == connection.get_reset_query():
                log.pool_resets += 1
                return await original(connection, query, *args, **kwargs)
            started = time.perf_counter()
            try:
                return await original(connection, query, *args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                text = " ".join(query.split())[:100]
                log.statements.append(text)
                log.seconds += elapsed
                entry = log.by_text.setdefault(text, [0, 0.0])
                entry[0] += 1
                entry[1] += elapsed
        return counted

    def slowest(self, top: int) -> list[dict]:
        ordered = sorted(self.by_text.items(), key=lambda item: item[1][1], reverse=True)[:top]
        return [{"statement": text, "calls": calls, "seconds": round(seconds, 4)} for text, (calls, seconds) in ordered]


def _is_run_log(statement: str) -> bool:
    """The engine's own statements around a job: the (job, period) lock and the run row."""
    return "scheduler_job_run" in statement or "advisory" in statement


def _where(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1]
    if filename.startswith(str(PROJECT_ROOT)):
        return os.path.relpath(filename, PROJECT_ROOT)
    return os.path.basename(filename)


def _project_cumulative(profile: cProfile.Profile, top: int) -> list[dict]:
    """The project's own functions (bench/ left out) by cumulative time."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    entries = []
    for (filename, line, name), (_, calls, _, cumulative, _) in stats.stats.items():
        if not filename.startswith(str(PROJECT_ROOT)) or "/.venv/" in filename or "/bench/" in filename:
            continue
        entries.append({"function": f"{_where(filename)}:{line}({name})", "calls": calls,
                        "cumulative_s": round(cumulative, 3)})
    return sorted(entries, key=lambda e: e["cumulative_s"], reverse=True)[:top]


def release_memory() -> None:
    """Collect garbage and hand the freed heap back to the system (glibc), so that a resident set size peak
    is measured from a true floor rather than absorbed by memory the fill left free in the heap."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def high_water_mb() -> float | None:
    """The peak resident set size of this process (VmHWM). Not ru_maxrss: Linux carries that over from the
    parent's memory across fork and exec."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def _local(at: datetime) -> str:
    return at.astimezone(BUSINESS_TZ).isoformat(timespec="minutes")


def job_instant(job, day: date) -> datetime:
    """When the scheduler fires `job` on `day` (its hour in business time), as a UTC instant."""
    return datetime.combine(day, clock_time(job.schedule.hour, job.schedule.minute), BUSINESS_TZ) \
        .astimezone(timezone.utc)


# Measurements ----------------------------------------------------------------------------------

async def _rolled_back_run(job, period: str, mode: str, top: int) -> dict:
    """job.run for `period` in a transaction rolled back afterwards, under tracemalloc or cProfile."""
    from piccolo.engine import engine_finder

    day = job.schedule.as_date(period)
    found: dict = {}
    with contextlib.suppress(_RollBack):
        async with engine_finder().transaction():
            profile = cProfile.Profile() if mode == "profile" else None
            if profile is None:
                tracemalloc.start()
            started = time.perf_counter()
            try:
                if profile is not None:
                    profile.enable()
                found["result"] = await job.run(day)
            except Exception as exc:  # recorded; the measured run records it too
                found["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                if profile is not None:
                    profile.disable()
                seconds = time.perf_counter() - started
                if profile is None:
                    found["peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
                    tracemalloc.stop()
            if profile is None:
                found["seconds_under_tracemalloc"] = round(seconds, 3)
            else:
                found["seconds_under_cprofile"] = round(seconds, 3)
                found["top_functions_by_own_time"] = _profile_table(profile, top)
                found["project_functions_by_cumulative_time"] = _project_cumulative(profile, top)
            raise _RollBack()
    return found


async def measure_job(job, at: datetime, postgres_pid: int | None, *, traced: bool, profiled: bool,
                      top: int) -> dict:
    """One run of `job` as the scheduler fires it at `at`: through run_period (run_due for jobs without a
    period), after the optional rolled-back runs under tracemalloc and cProfile."""
    from piccolo.engine import engine_finder

    from core import clock
    from scheduler.engine import run_due, run_period
    from scheduler.schedule import Every

    clock.set_clock(lambda: at)
    every = isinstance(job.schedule, Every)
    period = "" if every else job.schedule.latest_due(at)
    found: dict = {"period": period, "clock": _local(at)}
    if not every and (traced or profiled):
        if traced:
            found["tracemalloc"] = await _rolled_back_run(job, period, "tracemalloc", top)
        if profiled:
            found["profile"] = await _rolled_back_run(job, period, "profile", top)
        await engine_finder().run_ddl("VACUUM ANALYZE")
    release_memory()
    postgres_before = cpu_seconds(postgres_pid) if postgres_pid else {}
    with TimedStatementLog() as log, ResidentPeak() as memory:
        started, cpu_started = time.perf_counter(), time.process_time()
        outcome = (await run_due(job))[0] if every else await run_period(job, period)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    postgres_after = cpu_seconds(postgres_pid) if postgres_pid else {}
    run_log = sum(1 for statement in log.statements if _is_run_log(statement))
    found.update({
        "status": outcome.status, "result": outcome.result, "seconds": round(seconds, 3),
        "sql_s": round(log.seconds, 3), "python_s": round(seconds - log.seconds, 3),
        "cpu_s_this_process": round(cpu, 3),
        "postgres_cpu_s": round(sum(v - postgres_before.get(pid, 0.0) for pid, v in postgres_after.items()), 3)
        if postgres_pid else None,
        "statements": len(log.statements) - run_log, "run_log_statements": run_log,
        "slowest_statements": log.slowest(8), "rss_peak_delta_mb": round(memory.delta_mb, 1),
        "aim_s": AIM_JOB_S, "aim_met": outcome.status == "succeeded" and seconds < AIM_JOB_S,
    })
    return found


async def run_night(day: date, names: list[str], postgres_pid: int | None, *, traced: bool, profiled: bool,
                    top: int) -> dict:
    from scheduler.jobs import job_named

    jobs = {}
    for name in names:
        job = job_named(name)
        at = job_instant(job, day)
        say(f"  {name} at {_local(at)} ...")
        jobs[name] = await measure_job(job, at, postgres_pid, traced=traced, profiled=profiled, top=top)
        entry = jobs[name]
        say(f"    {entry['status']}: {entry['seconds']:.2f} s, {entry['statements']} statements, {entry['result']}")
    return {"day": str(day), "jobs": jobs}


REPORT_PARTS = {
    "gather": ("report", "gather"),
    "chart (render_chart_png)": ("report", "render_chart_png"),
    "workbook (render_xlsx)": ("report", "render_xlsx"),
    "HTML (render_html)": ("report", "render_html"),
    "text (render_text)": ("report", "render_text"),
}
TABLES_PART = "tables(), called inside HTML, text and workbook"
GATHER_PARTS = {
    "market.balances, both windows": ("market", "balances"),
    "city_monthly_totals": ("market_repo", "city_monthly_totals"),
    "kind_totals_by_community": ("market_repo", "kind_totals_by_community"),
    "leasing.city_figures, month and year": ("leasing", "city_figures"),
    "leases_ending": ("leasing_repo", "leases_ending"),
    "contracts_ending": ("market_repo", "contracts_ending"),
    "listings_ending": ("providers_repo", "listings_ending"),
    "status_decisions_between": ("providers_repo", "status_decisions_between"),
    "listings_changed_between": ("providers_repo", "listings_changed_between"),
    "first_city": ("accounts_repo", "first_city"),
}


async def measure_report(month: date, at: datetime, runs: int, traced: bool) -> dict:
    """report.build for `month`: statements (one run), then `runs` timed runs split into parts, then the
    tracemalloc peak of one more run."""
    from core import clock
    from scheduler import report

    clock.set_clock(lambda: at)
    with TimedStatementLog() as log:
        built = await report.build(month)
    targets = {label: (getattr(report, module) if module != "report" else report, name)
               for label, (module, name) in {**REPORT_PARTS, TABLES_PART: ("report", "tables"),
                                             **GATHER_PARTS}.items()}
    watch = StopWatch()
    measured = []
    with timing(watch, targets):
        for run in range(runs):
            say(f"  report.build run {run + 1}/{runs} ...")
            watch.reset()
            release_memory()
            with ResidentPeak() as memory:
                started = time.perf_counter()
                built = await report.build(month)
                seconds = time.perf_counter() - started
            parts = {label: watch.seconds.get(label, 0.0) for label in REPORT_PARTS}
            parts["other (subject, totals, glue)"] = seconds - sum(parts.values())
            parts[TABLES_PART] = watch.seconds.get(TABLES_PART, 0.0)
            gather = {label: watch.seconds.get(label, 0.0) for label in GATHER_PARTS}
            gather["Python in gather"] = watch.seconds["gather"] - sum(gather.values())
            parts = {label: round(value, 3) for label, value in parts.items()}
            gather = {label: round(value, 3) for label, value in gather.items()}
            measured.append({"seconds": round(seconds, 3), "rss_peak_delta_mb": round(memory.delta_mb, 1),
                             "parts_s": parts, "gather_parts_s": gather})
    traced_peak = None
    if traced:
        say("  report.build under tracemalloc ...")
        release_memory()
        tracemalloc.start()
        try:
            await report.build(month)
            traced_peak = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        finally:
            tracemalloc.stop()
    seconds = [m["seconds"] for m in measured]
    median_run = sorted(measured, key=lambda m: m["seconds"])[len(measured) // 2]
    rss = max(m["rss_peak_delta_mb"] for m in measured)
    return {
        "month": f"{month:%Y-%m}", "runs": measured, "median_s": round(median(seconds), 3),
        "parts_of_median_run_s": median_run["parts_s"], "gather_parts_of_median_run_s": median_run["gather_parts_s"],
        "rss_peak_delta_mb_max": rss, "tracemalloc_peak_mb": traced_peak,
        "statements": len(log.statements), "statement_list": log.statements,
        "communities": built.totals["communities"],
        "sizes_bytes": {"html": len(built.html.encode()), "text": len(built.text.encode()), "xlsx": len(built.xlsx),
                        "chart_png": len(built.chart_png)},
        "aim_s": AIM_REPORT_S, "aim_mb": AIM_REPORT_MB,
        "aim_met": median(seconds) < AIM_REPORT_S and max(rss, traced_peak or 0) < AIM_REPORT_MB,
    }


def _import_matplotlib() -> float:
    """What a scheduler process pays on its first report: the chart's matplotlib imports."""
    started = time.perf_counter()
    from matplotlib.backends import backend_agg  # noqa: F401
    from matplotlib import figure, ticker  # noqa: F401
    return round(time.perf_counter() - started, 3)


async def run_city(url: str, args: argparse.Namespace, today: date, postgres_pid: int | None) -> tuple[dict, dict]:
    say(f"Filling the database as of {today} ({args.communities} communities, {args.operators} operators, "
        f"{args.spaces * args.leases_per_space} leases, {args.months} months of ledger and invoices) ...")
    data = await fill_city(url, args, today)
    say(f"  {data.ledger_entries} ledger entries, {data.leases} leases {data.leases_by_status}, {data.invoices} "
        f"invoices {data.invoices_by_status} in {data.fill_seconds:.1f} s")

    from piccolo.engine import engine_finder

    from core import clock
    from scheduler.jobs import job_named

    engine = engine_finder()
    await engine.start_connection_pool(min_size=1, max_size=5)  # as python -m scheduler
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        child = args.child == "small"
        imports_s = None if child else _import_matplotlib()
        say(f"The night of {today}:")
        night = await run_night(today, NIGHT_JOBS, postgres_pid, traced=not (child or args.no_tracemalloc),
                                profiled=not (child or args.no_profile), top=args.profile_top)
        month = date.fromisoformat(f"{night['jobs']['balance_report']['period']}-01")
        report_at = job_instant(job_named("balance_report"), today)
        if child:
            clock.set_clock(lambda: report_at)
            with TimedStatementLog() as log:
                from scheduler import report

                await report.build(month)
            report_result = {"statements": len(log.statements)}
        else:
            say(f"The report for {month:%Y-%m} alone:")
            report_result = await measure_report(month, report_at, args.report_runs, not args.no_tracemalloc)
            report_result["matplotlib_import_s"] = imports_s
        next_day = today + timedelta(days=1)
        say(f"The next night, {next_day}:")
        next_night = await run_night(next_day, DAILY_JOBS, postgres_pid, traced=False, profiled=False,
                                     top=args.profile_top)
        reconcile = None
        if not child:
            at = datetime.combine(next_day, clock_time(9), BUSINESS_TZ).astimezone(timezone.utc)
            say("payments_reconcile ...")
            reconcile = await measure_job(job_named("payments_reconcile"), at, postgres_pid, traced=False,
                                          profiled=False, top=args.profile_top)
    finally:
        clock.set_clock(None)
        await engine.close_connection_pool()
    results = {"load_average_before_measuring": load_before, "night": night, "report": report_result,
               "next_night": next_night, "payments_reconcile": reconcile,
               "outbox": {"skipped": "sending needs an SMTP server; not run"}}
    return asdict(data), results


# Child processes -------------------------------------------------------------------------------

def _run_async(coroutine):
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine), "asyncio"
    return uvloop.run(coroutine), "uvloop"


async def _report_in_fresh_process(args: argparse.Namespace) -> dict:
    """In a process of its own: the report for last month, with the peak resident set size of the process."""
    from piccolo.engine import engine_finder

    from core import clock
    from scheduler import report
    from scheduler.jobs import job_named

    engine = engine_finder()
    await engine.start_connection_pool(min_size=1, max_size=5)
    try:
        today = date.fromisoformat(args.today)
        at = job_instant(job_named("balance_report"), today)
        clock.set_clock(lambda: at)
        month = date.fromisoformat(job_named("balance_report").schedule.latest_due(at) + "-01")
        before = psutil.Process().memory_info().rss
        with ResidentPeak() as memory:
            started = time.perf_counter()
            await report.build(month)
            seconds = time.perf_counter() - started
    finally:
        await engine.close_connection_pool()
    peak_mb = max(high_water_mb() or 0.0, memory.peak / 2**20)
    return {"seconds_imports_included": round(seconds, 3), "rss_before_build_mb": round(before / 2**20, 1),
            "rss_peak_sampled_mb": round(memory.peak / 2**20, 1), "rss_high_water_mb": round(peak_mb, 1),
            "aim_mb": AIM_REPORT_MB, "aim_met": peak_mb < AIM_REPORT_MB}


def child_main(args: argparse.Namespace) -> None:
    PREFIX["text"] = f"[{args.child} child] "
    if args.child == "report":
        found, _ = _run_async(_report_in_fresh_process(args))
    else:
        (data, results), _ = _run_async(run_city(os.environ["DATABASE_URL"], args, date.fromisoformat(args.today),
                                                 None))
        found = {"data": data, **results}
    Path(args.child_output).write_text(json.dumps(found, ensure_ascii=False, default=str), encoding="utf-8")


def run_child(kind: str, args: argparse.Namespace, url: str, folder: Path, scale: int = 1) -> dict:
    output = folder / f"child-{kind}.json"
    command = [sys.executable, "-m", "bench.scheduler", "--child", kind, "--child-output", str(output),
               "--today", args.today, "--seed", str(args.seed), "--months", str(args.months),
               "--communities", str(max(1, args.communities // scale)),
               "--operators", str(max(1, args.operators // scale)), "--spaces", str(max(1, args.spaces // scale)),
               "--leases-per-space", str(args.leases_per_space)]
    subprocess.run(command, cwd=PROJECT_ROOT, env={**os.environ, "DATABASE_URL": url}, check=True)
    return json.loads(output.read_text(encoding="utf-8"))


def create_named_database(server_url: str, name: str) -> str:
    async def create() -> None:
        connection = await asyncpg.connect(server_url)
        try:
            await connection.execute(f"CREATE DATABASE {name}")
        finally:
            await connection.close()

    asyncio.run(create())
    return server_url.replace("/postgres?", f"/{name}?")


def compare_statements(city: dict, small: dict) -> dict:
    """Statements per job for the city and the smaller city, both nights, and the report."""
    rows = {}
    for night in ("night", "next_night"):
        for name, entry in city[night]["jobs"].items():
            other = small[night]["jobs"].get(name)
            if other is None:
                continue
            rows[f"{night}: {name}"] = {"city": entry["statements"], "smaller_city": other["statements"],
                                        "constant": entry["statements"] == other["statements"]}
    rows["report.build"] = {"city": city["report"]["statements"], "smaller_city": small["report"]["statements"],
                            "constant": city["report"]["statements"] == small["report"]["statements"]}
    return rows


# Report ----------------------------------------------------------------------------------------

def _counts_text(result: dict) -> str:
    return ", ".join(f"{key} {value}" for key, value in result.items())


def print_table(data: dict, results: dict, wall_seconds: float) -> None:
    def aim(met: bool | None) -> str:
        return "" if met is None else "yes" if met else "NO"

    def memory(entry: dict) -> str:
        traced = entry.get("tracemalloc", {}).get("peak_mb")
        return f"RSS +{entry['rss_peak_delta_mb']:.0f} MB" + (f", traced {traced:.0f} MB" if traced is not None else "")

    rows = []
    for night in ("night", "next_night"):
        block = results[night]
        rows.append((f"{'night of' if night == 'night' else 'next night,'} {block['day']}", "", "", ""))
        for name, e in block["jobs"].items():
            rows.append((f"  {name} ({e['period']})",
                         f"{e['seconds']:.2f} s (SQL {e['sql_s']:.2f}), {e['statements']} stmts, {memory(e)}",
                         f"< {AIM_JOB_S} s", aim(e["aim_met"])))
            rows.append((f"    {e['status']}", _counts_text(e["result"])[:90], "", ""))
    p = results["payments_reconcile"]
    rows.append(("payments_reconcile (nothing pending)",
                 f"{p['seconds'] * 1000:.1f} ms, {p['statements']} stmts, {_counts_text(p['result'])}",
                 f"< {AIM_JOB_S} s", aim(p["aim_met"])))
    rows.append(("outbox", "not run (needs SMTP)", "", ""))
    r = results["report"]
    rows.append((f"report.build {r['month']}, {r['communities']} communities",
                 f"{r['median_s']:.2f} s (median of {len(r['runs'])}), {r['statements']} stmts",
                 f"< {AIM_REPORT_S} s", aim(r["median_s"] < AIM_REPORT_S)))
    rows += [(f"  {label}", f"{seconds:.3f} s", "", "") for label, seconds in r["parts_of_median_run_s"].items()]
    rows += [(f"    gather: {label}", f"{seconds:.3f} s", "", "")
             for label, seconds in r["gather_parts_of_median_run_s"].items()]
    rows.append(("  memory: RSS peak above start / tracemalloc peak",
                 f"{r['rss_peak_delta_mb_max']:.0f} MB / "
                 + (f"{r['tracemalloc_peak_mb']:.0f} MB" if r["tracemalloc_peak_mb"] is not None else "not measured"),
                 f"< {AIM_REPORT_MB} MB", aim(max(r["rss_peak_delta_mb_max"], r["tracemalloc_peak_mb"] or 0)
                                             < AIM_REPORT_MB)))
    fresh = results.get("report_fresh_process")
    if fresh:
        rows.append(("  in a fresh process: RSS high-water mark (before the build)",
                     f"{fresh['rss_high_water_mb']:.0f} MB ({fresh['rss_before_build_mb']:.0f} MB), "
                     f"{fresh['seconds_imports_included']:.2f} s imports included", f"< {AIM_REPORT_MB} MB",
                     aim(fresh["aim_met"])))
    by_scale = results.get("statements_by_scale")
    if by_scale:
        small = results["smaller_city"]["data"]
        rows.append((f"statements: city vs {small['communities']} communities, {small['leases']} leases", "",
                     "constant", ""))
        rows += [(f"  {label}", f"{v['city']} vs {v['smaller_city']}", "", aim(v["constant"]))
                 for label, v in by_scale.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    print()
    print(f"{'measure':<{widths[0]}}  {'result':<{widths[1]}}  {'aim':<{widths[2]}}  met")
    for label, result, target, met in rows:
        print(f"{label:<{widths[0]}}  {result:<{widths[1]}}  {target:<{widths[2]}}  {met}".rstrip())
    print(f"(data: {data['communities']} communities, {data['ledger_entries']} ledger entries, {data['leases']} "
          f"leases, {data['invoices']} invoices; {os.cpu_count()} CPUs, load average before measuring "
          f"{results['load_average_before_measuring'][0]}; whole benchmark {wall_seconds:.0f} s)")


def code_state() -> dict:
    """The commit measured, and the files of the measured packages that differ from it."""
    def git(*arguments: str) -> str:
        try:
            return subprocess.run(["git", *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True,
                                  check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""

    changed = git("status", "--porcelain", "--", "scheduler", "leasing", "market", "providers", "core").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "uncommitted": sorted(line[3:] for line in changed if line.strip())}


def write_results(args: argparse.Namespace, data: dict, results: dict, wall_seconds: float, event_loop: str) -> None:
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "scheduler: the nightly jobs and the monthly balance report (in-process, through run_period)",
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "code": code_state(),
        "settings": {
            "seed": args.seed, "today": args.today, "leases_per_space": args.leases_per_space,
            "report_runs": args.report_runs, "event_loop": event_loop,
            "pool": "1 to 5 connections, as python -m scheduler",
            "statements": "every statement sent on an asyncpg connection (BEGIN and COMMIT included), pool reset "
                          "queries apart; the engine's own (the (job, period) lock and the run row) counted apart",
            "sql_s": "time inside asyncpg calls, driver decoding included; python_s is the rest of the run",
            "memory": "RSS: peak resident set size above the level before each run (after gc and malloc_trim), "
                      "sampled every 5 ms; tracemalloc: peak of Python allocations in a separate run of the job in "
                      "a transaction rolled back afterwards (run before the measured one, VACUUM ANALYZE in "
                      "between); report_fresh_process: VmHWM of a process that only builds the report",
            "night": "the first night of the scheduler on this data: nothing flagged or marked yet; the next "
                     "night is the steady state",
        },
        "data": data,
        "results": results,
        "wall_seconds": round(wall_seconds, 1),
    }
    RESULTS_FILE.write_text(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")


# Main ------------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scheduler", description=__doc__.split("\n")[0])
    parser.add_argument("--communities", type=int, default=1250, help="communities to generate (default 1250)")
    parser.add_argument("--operators", type=int, default=3000, help="operators to generate (default 3000)")
    parser.add_argument("--spaces", type=int, default=30_000, help="spaces to generate (default 30000)")
    parser.add_argument("--leases-per-space", type=int, choices=(1, 2, 3), default=1,
                        help="consecutive leases per space, the last one active (default 1: with 30000 spaces, "
                             "30,000 active leases; 3 with --spaces 10000 is bench.leasing's default city)")
    parser.add_argument("--months", type=int, default=36,
                        help="complete months of ledger and invoices before this one (default 36)")
    parser.add_argument("--today", default=None,
                        help="the business date of the night measured, YYYY-MM-DD (default: the 1st of this month, "
                             "when every job runs)")
    parser.add_argument("--report-runs", type=int, default=3, help="report.build runs measured (default 3)")
    parser.add_argument("--small", type=int, default=10,
                        help="the smaller city for statement counts is this many times smaller (default 10; 0 "
                             "skips it)")
    parser.add_argument("--no-tracemalloc", action="store_true",
                        help="skip the rolled-back runs under tracemalloc")
    parser.add_argument("--no-profile", action="store_true", help="skip the rolled-back runs under cProfile")
    parser.add_argument("--profile-top", type=int, default=12, help="functions kept from each profile (default 12)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--child", choices=("small", "report"), help=argparse.SUPPRESS)
    parser.add_argument("--child-output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.leases_per_space > 1 and args.months < 24:
        parser.error("--months must be at least 24 with more than one lease per space")
    args.today = str(date.fromisoformat(args.today) if args.today else first_of_this_month())
    return args


def main() -> None:
    args = parse_args()
    if args.child:
        child_main(args)
        return
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="fcom-bench-scheduler-"))
    pgdata = tmp / "data"
    try:
        from core.db import start_embedded_server

        server_url = start_embedded_server(pgdata, cleanup_mode="delete")
        database_url = create_database(server_url)
        os.environ["DATABASE_URL"] = database_url
        (data, results), event_loop = _run_async(run_city(database_url, args, date.fromisoformat(args.today),
                                                          postmaster_pid(pgdata)))
        say("The report in a fresh process ...")
        results["report_fresh_process"] = run_child("report", args, database_url, tmp)
        if args.small > 0:
            say(f"The same on a city {args.small} times smaller, in a child process ...")
            small_url = create_named_database(server_url, SMALL_DATABASE)
            results["smaller_city"] = run_child("small", args, small_url, tmp, scale=args.small)
            results["statements_by_scale"] = compare_statements(results, results["smaller_city"])
        wall_seconds = time.perf_counter() - started
        print_table(data, results, wall_seconds)
        write_results(args, data, results, wall_seconds, event_loop)
        say(f"Written to {RESULTS_FILE.relative_to(PROJECT_ROOT)}")
    finally:
        if (pgdata / "PG_VERSION").exists():
            stop_embedded_server(pgdata)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted; database stopped")
