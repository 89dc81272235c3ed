"""The benchmark suite: one data size, every hot endpoint and job, each beside its ceiling.

    make bench                      # city size (SIZE=province or SIZE=nation for more)
    .venv/bin/python -m bench --size city --help

Steps:
  1. a throwaway embedded PostgreSQL (or --pgdata, kept between runs and reused when it already holds the
     same size), filled by bench/data.py with bulk COPY;
  2. for each endpoint, one request in-process to count its SQL statements (first request and cache hit);
  3. the application as deployed (`uvicorn app.app:create_app`, production settings, --workers), warm:
     every worker's caches primed first (bench/priming.py); then the same with its read caches off (cold);
     then the ceiling (bench/ceiling.py: the same SQL behind a minimal
     Litestar handler on raw asyncpg), each driven in turn by wrk (or bench/loadgen.py's client in its own
     process) with --connections keep-alive connections: a warm-up, then the measured run, while the web
     workers' resident memory is sampled;
  4. the same SQL through pgbench, with as many clients as connections;
  5. the scheduler's nightly jobs through `scheduler.engine.run_period`, as the scheduler runs them on the
     1st of the month, and the monthly report: --job-repeats nights, each in a new process on its own copy of
     the settled database, every job with its median, fastest and slowest time, CPU seconds, statements, rows
     and memory;
  6. the table printed; bench/results/<size>.json written; the scaling chart redrawn from every size's
     results (bench/results/scaling.png).

Every process and the database are stopped at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock_time
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from bench import chart
from bench import residents as resident_scenarios
from bench.loadgen import LoadResult, Request, run_load, wrk_available
from bench.pgbench import run_pgbench
from bench.priming import connections_per_worker, prime_every_worker
from bench.servers import (
    MemorySampler,
    Server,
    cancel_running_queries,
    create_database,
    database_copy,
    database_url,
    drop_database,
    postmaster_pid,
    server_settings,
    settle_database,
    start_embedded_postgres,
    stop_embedded_postgres,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS = PROJECT_ROOT / "bench" / "results"
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
SECRET_KEY = "bench-secret-key-at-least-32-bytes-long!!"

SCALES = {"test": 0.02, "city": 1, "province": 5, "nation": 50}  # against the city, in communities
MATCHING_COMMUNITIES = 150
AIM_RATIO = 0.8
AIM_P99_MS = 50
AIM_WORKER_MB = 250
POSTGRESQL_SETTINGS = ("shared_buffers", "work_mem", "max_wal_size")  # recorded with the results
NIGHT_JOBS = [
    "lifecycle",
    "rent_invoices",
    "overdue_invoices",
    "renewal_flags",
    "registry_rules",
    "balance_snapshot",
    "balance_report",
]


def say(text: str) -> None:
    print(text, flush=True)


# Endpoints -------------------------------------------------------------------------------------


@dataclass
class Endpoint:
    """One endpoint: the requests the application gets, the ones its ceiling gets, and its SQL for pgbench."""

    name: str
    requests: list[Request]
    ceiling_requests: list[Request]
    pgbench_sql: str | None = None
    pgbench_variables: list[dict[str, str]] = field(default_factory=list)
    writes: bool = False


def pg_literal(value: object) -> str:
    """A parameter as text, the way PostgreSQL reads it for the type the statement gives it."""
    if isinstance(value, (list, tuple)):
        return "{" + ",".join(json.dumps(str(v), ensure_ascii=False) for v in value) + "}"
    return str(value)


def for_pgbench(sql: str, args: list) -> tuple[str, dict[str, str]]:
    """SQL with $n or {} placeholders as a pgbench script (:pN variables; NULL spelled out) and its values."""
    if "{}" in sql:
        sql = sql.format(*(f"${n}" for n in range(1, len(args) + 1)))
    values = {}
    for n in range(len(args), 0, -1):
        value = args[n - 1]
        sql = re.sub(rf"\${n}(?!\d)", "NULL" if value is None else f":p{n}", sql)
        if value is not None:
            values[f"p{n}"] = pg_literal(value)
    return " ".join(sql.split()) + ";\n", values


def bearer(tokens: dict[int, str], user_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user_id]}"}


@dataclass
class Sample:
    """What the request mixes draw from: the manifest, and a few facts read back from the database."""

    city_user_id: int
    categories: list[str]
    district_ids: list[int]
    open_need_categories: dict[int, list[str]]  # community id -> categories of its open needs
    applications: list[tuple[int, int, int, dict]]  # (user id, operator id, listing id, body), each pair once
    resident_user_ids: list[int] = field(default_factory=list)
    receipts: list[str] = field(default_factory=list)  # of the sampled residents' ballots
    statement_month: str = ""  # YYYY-MM: the month of the seeded redemptions, for the points statement


async def read_sample(manifest) -> Sample:
    import asyncpg

    connection = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        categories = [r["code"] for r in await connection.fetch("SELECT code FROM provider_category ORDER BY code")]
        rows = await connection.fetch(
            "SELECT community, array_agg(DISTINCT category) AS categories FROM market_need "
            "WHERE status = 'open' AND community = ANY($1::int[]) GROUP BY community",
            manifest.communities_with_open_needs,
        )
        # A kept database may hold applications from an earlier run: those pairs are left out.
        applied = {
            (r["listing"], r["operator"])
            for r in await connection.fetch(
                "SELECT listing, operator FROM leasing_application WHERE listing = ANY($1::int[])",
                manifest.open_listing_ids,
            )
        }
    finally:
        await connection.close()
    # Each listing gets applications from different operators: every (operator, listing) pair at most once.
    operators, listings = manifest.operators, manifest.open_listings
    per_listing = max(1, min(len(operators), 60_000 // max(1, len(listings))))
    applications = [
        (
            operators[(i * per_listing + k) % len(operators)].user_id,
            operators[(i * per_listing + k) % len(operators)].operator_id,
            listing.listing_id,
            listing.body,
        )
        for k in range(per_listing)
        for i, listing in enumerate(listings)
        if (listing.listing_id, operators[(i * per_listing + k) % len(operators)].operator_id) not in applied
    ]
    return Sample(
        city_user_id=manifest.city_official.user_id,
        categories=categories,
        district_ids=manifest.district_ids,
        open_need_categories={r["community"]: list(r["categories"]) for r in rows},
        applications=applications,
        resident_user_ids=[a.user_id for a in manifest.resident_accounts],
        receipts=[r for a in manifest.resident_accounts for r in a.receipts],
        statement_month=last_month(manifest.today) if manifest.points_redemptions else "",
    )


def last_month(today: str) -> str:
    from core.clock import add_months

    return f"{add_months(date.fromisoformat(today).replace(day=1), -1):%Y-%m}"


def build_endpoints(sample: Sample, tokens: dict[int, str], rng: random.Random) -> list[Endpoint]:
    from core.accounts.principal import like_patterns
    from core.clock import today
    from core.settings import get_settings
    from leasing.repository import figures_query
    from market.balance import trailing_window
    from market.matching import INTEGRATED
    from market.repository import balance_overview_query, match_candidates_query
    from providers.repository import directory_query

    city = bearer(tokens, sample.city_user_id)
    endpoints = []

    # Directory: the public searches, unfiltered first pages most often.
    queries: list[dict] = [{}] * 6
    queries += [{"category": c} for c in sample.categories]
    queries += [{"district_id": d} for d in sample.district_ids]
    queries += [{"sort": "-listed_since"}] * 3 + [{"offset": o} for o in (50, 100, 500, 1000)]
    rng.shuffle(queries)
    paths = [Request("/api/v1/public/operators" + (f"?{urlencode(q)}" if q else "")) for q in queries]
    sql, values = for_pgbench(
        *directory_query(
            today=today(), category=None, district_id=None, status=None, q=None, sort="name", limit=50, offset=0
        )
    )
    endpoints.append(Endpoint("directory", paths, paths, sql, [values]))

    # Matching: officials open one community's shortlist after another (a district's working set).
    communities = list(sample.open_need_categories)[:MATCHING_COMMUNITIES]
    paths = [Request(f"/api/v1/communities/{c}/matches", headers=city) for c in communities]
    variables = []
    for community in communities[:100]:
        categories = sorted({*sample.open_need_categories[community], INTEGRATED})
        sql, values = for_pgbench(*match_candidates_query(categories, today()))
        variables.append(values)
    endpoints.append(Endpoint("matching", paths, [Request(p.path) for p in paths], sql, variables))

    # Balance overview: the whole city, each district, and the warnings first.
    start, end = trailing_window(today(), get_settings().balance_window_months)
    paths = [Request("/api/v1/balance/overview?limit=200", headers=city)] * 4
    paths += [Request(f"/api/v1/balance/overview?limit=200&district_id={d}", headers=city) for d in sample.district_ids]
    paths += [Request("/api/v1/balance/overview?limit=200&status=warning", headers=city)] * 2
    ceiling = [Request("/api/v1/balance/overview")] * 6 + [
        Request(f"/api/v1/balance/overview?district_id={d}") for d in sample.district_ids
    ]
    sql, values = for_pgbench(*balance_overview_query(like_patterns(["/"]), None, start, end))
    endpoints.append(Endpoint("balance overview", paths, ceiling, sql, [values]))

    # Leasing figures: city officials by district, street and community.
    paths = [
        Request(f"/api/v1/leasing-figures/?level={level}", headers=city)
        for level in ("district", "district", "street", "community")
    ]
    this_year = date(today().year, 1, 1)
    sql, values = for_pgbench(*figures_query(like_patterns(["/"]), this_year, date(this_year.year + 1, 1, 1)))
    endpoints.append(Endpoint("leasing figures", paths, [Request("/api/v1/leasing-figures/")], sql, [values]))

    # Lease applications: half the pairs for the application, the other half for its ceiling.
    pairs = list(sample.applications)
    rng.shuffle(pairs)
    half = len(pairs) // 2
    app_requests = [
        Request(
            f"/api/v1/space-listings/{listing}/applications",
            method="POST",
            headers={**bearer(tokens, user), "Content-Type": "application/json"},
            body=json.dumps(body),
        )
        for user, _, listing, body in pairs[:half]
    ]
    ceiling_requests = [
        Request(
            f"/api/v1/space-listings/{listing}/applications",
            method="POST",
            headers={"Content-Type": "application/json"},
            body=json.dumps({**body, "operator_id": operator, "user_id": user}),
        )
        for user, operator, listing, body in pairs[half:]
    ]
    endpoints.append(Endpoint("lease application (write)", app_requests, ceiling_requests, writes=True))
    endpoints += resident_endpoints(sample, tokens, rng)
    return endpoints


def resident_endpoints(sample: Sample, tokens: dict[int, str], rng: random.Random) -> list[Endpoint]:
    """A resident opens their community's polls; anyone checks a receipt (public, one statement)."""
    from residents.repository import RECEIPT_SELECT

    if not sample.resident_user_ids:
        return []
    users = list(sample.resident_user_ids)
    rng.shuffle(users)
    endpoints = [
        Endpoint(
            "resident polls",
            [Request("/api/v1/polls?limit=20", headers=bearer(tokens, u)) for u in users],
            [Request(f"/api/v1/polls?limit=20&user_id={u}") for u in users],
        )
    ]
    receipts = list(sample.receipts)
    rng.shuffle(receipts)
    paths = [Request(f"/api/v1/public/poll-receipts/{r}") for r in receipts]
    variables = [for_pgbench(RECEIPT_SELECT, [hashlib.sha256(r.encode()).hexdigest()])[1] for r in receipts[:100]]
    sql = for_pgbench(RECEIPT_SELECT, ["x"])[0]
    endpoints.append(Endpoint("poll receipt", paths, paths, sql, variables))
    if sample.statement_month:
        endpoints.append(
            Endpoint(
                "points balance",
                [Request("/api/v1/points/me", headers=bearer(tokens, u)) for u in users],
                [Request(f"/api/v1/points/me?user_id={u}") for u in users],
            )
        )
        month = sample.statement_month
        endpoints.append(
            Endpoint(
                "points statement",
                [Request(f"/api/v1/points/me/statement?month={month}", headers=bearer(tokens, u)) for u in users],
                [Request(f"/api/v1/points/me/statement?month={month}&user_id={u}") for u in users],
            )
        )
    return endpoints


# Statement counts --------------------------------------------------------------------------------


async def count_statements(endpoints: list[Endpoint]) -> dict[str, dict]:
    """One request per endpoint through the real application in this process: statements sent on the first
    request (nothing cached) and on the same request again (the cache hit)."""
    import httpx
    from piccolo.engine import engine_finder

    from app.app import create_app
    from bench.instruments import StatementLog

    application = create_app()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the table below says what each request did
    engine = engine_finder()
    await engine.start_connection_pool(min_size=1, max_size=4)
    counts = {}
    try:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for endpoint in endpoints:
                request = endpoint.requests[-1]
                found = {}
                for label in ("first", "again") if not endpoint.writes else ("first",):
                    with StatementLog() as log:
                        response = await client.request(
                            request.method, request.path, headers=request.headers, content=request.body_bytes()
                        )
                    found[label] = log.count()
                    found["status"] = response.status_code
                counts[endpoint.name] = found
    finally:
        await engine.close_connection_pool()
    return counts


# Load ----------------------------------------------------------------------------------------------


def server_env(url: str, args: argparse.Namespace, **extra: str) -> dict[str, str]:
    # One load generator is one client address: the public rate limit, meant for many clients, is off.
    return {
        **os.environ,
        "DATABASE_URL": url,
        "MIGRATION_DATABASE_URL": url,
        "SECRET_KEY": SECRET_KEY,
        "STRIPE_API_KEY": "sk_test_bench",
        "STRIPE_WEBHOOK_SECRET": "whsec_bench",
        "DEBUG": "0",
        "DB_POOL_MIN": "2",
        "DB_POOL_MAX": str(args.db_pool_max),
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_PUBLIC_PER_MINUTE": "0",
        **extra,
    }


def load_figures(result: LoadResult) -> dict:
    return {
        "requests_per_s": round(result.requests_per_s, 1),
        "p50_ms": round(result.p50_ms, 2),
        "p90_ms": round(result.p90_ms, 2),
        "p99_ms": round(result.p99_ms, 2),
        "max_ms": round(result.max_ms, 2),
        "requests": result.requests,
        "errors": result.errors,
        "non_2xx": result.non_2xx,
        "status_counts": result.status_counts,
        "generator": result.generator,
    }


def drive(
    server: Server, endpoint: Endpoint, requests: list[Request], args: argparse.Namespace, *, prime: bool
) -> dict:
    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and wrk_available())
    extra: dict = {}
    if endpoint.writes:
        # Every request may be sent once only: no warm-up beyond a few, and the run ends when they are used up.
        warm, measured = requests[:50], requests[50:]
        run_load(server.base_url, warm, connections=8, duration=5, use_wrk=False, cycle=False)
        with MemorySampler(server) as memory:
            result = run_load(
                server.base_url,
                measured,
                connections=args.connections,
                duration=args.duration,
                use_wrk=False,
                cycle=False,
            )
    else:
        if prime:
            extra["state"] = "warm: every worker answers the mix from its own cache (steady state)"
            extra["priming"] = prime_every_worker(server, requests)
        run_load(server.base_url, requests, connections=args.connections, duration=args.warmup, use_wrk=use_wrk)
        split: dict[str, int] = {}
        # The split of the load generator's connections between the workers, a second into the run.
        counting = threading.Timer(1.0, lambda: split.update(connections_per_worker(server)))
        with MemorySampler(server) as memory:
            counting.start()
            result = run_load(
                server.base_url, requests, connections=args.connections, duration=args.duration, use_wrk=use_wrk
            )
            counting.cancel()
        extra["connections_per_worker"] = sorted(split.values())
    return {**load_figures(result), "worker_rss_peak_mb": round(memory.max_mb, 1), **extra}


def measure_servers(url: str, endpoints: list[Endpoint], args: argparse.Namespace, log_dir: Path) -> dict:
    variants = [
        ("app", "app.app:create_app", {}),
        ("app_cache_off", "app.app:create_app", {"READ_CACHE_ENTRIES": "0"}),
        ("ceiling", "bench.ceiling:create_app", {}),
    ]
    found: dict[str, dict] = {e.name: {} for e in endpoints}
    for label, factory, extra in variants:
        server = Server(label, factory, workers=args.workers, env=server_env(url, args, **extra), log_dir=log_dir)
        try:
            server.wait_until_healthy()
            say(f"  {label}: {server.base_url} with {args.workers} workers")
            for endpoint in endpoints:
                if endpoint.writes and label == "app_cache_off":
                    continue
                requests = endpoint.ceiling_requests if label == "ceiling" else endpoint.requests
                found[endpoint.name][label] = figures = drive(server, endpoint, requests, args, prime=label == "app")
                figures["statements_cancelled_after"] = cancel_running_queries(url)
                primed = figures.get("priming")
                say(
                    f"    {endpoint.name:<28} {figures['requests_per_s']:>8.1f} req/s  p50 {figures['p50_ms']:>7.2f} ms"
                    f"  p99 {figures['p99_ms']:>7.2f} ms  non-2xx {figures['non_2xx']}"
                    + (
                        f"  connections per worker {figures['connections_per_worker']}"
                        if figures.get("connections_per_worker")
                        else ""
                    )
                    + (
                        f"  (every worker primed, {primed['rounds']} round(s))"
                        if primed and primed["steady"]
                        else "  (NOT every worker answers from its cache)"
                        if primed
                        else ""
                    )
                )
        finally:
            server.stop()
    return found


def measure_pgbench(url: str, endpoints: list[Endpoint], args: argparse.Namespace) -> dict[str, dict]:
    found = {}
    for endpoint in endpoints:
        if not endpoint.pgbench_sql:
            continue
        result = run_pgbench(
            url,
            endpoint.pgbench_sql,
            variables=endpoint.pgbench_variables or None,
            clients=args.connections,
            threads=2,
            duration=args.duration,
        )
        found[endpoint.name] = {
            "requests_per_s": round(result.tps, 1),
            "p50_ms": round(result.p50_ms, 2),
            "p99_ms": round(result.p99_ms, 2),
            "transactions": result.transactions,
            "statements_cancelled_after": cancel_running_queries(url),
        }
        say(
            f"    {endpoint.name:<28} {result.tps:>8.1f} tps    p50 {result.p50_ms:>7.2f} ms  p99 {result.p99_ms:>7.2f} ms"
        )
    return found


# Jobs ----------------------------------------------------------------------------------------------
#
# One night changes the database it runs on (invoices created, flags raised, periods claimed), and one run
# of a job is not a measurement: the same code moved by up to 40 % between runs. So the night is run
# --job-repeats times, each time in a fresh process on a file-level copy of the settled generated database
# (`CREATE DATABASE ... TEMPLATE`), and each job is reported by its median with the fastest and slowest run.
# The generated database itself is never changed by the jobs, so a kept --pgdata serves the next run too.


def job_instant(job, day: date) -> datetime:
    """When the scheduler fires `job` on `day` (its hour in business time), as a UTC instant."""
    return datetime.combine(day, clock_time(job.schedule.hour, job.schedule.minute), BUSINESS_TZ).astimezone(UTC)


@dataclass(frozen=True)
class NightTarget:
    """Where one size's nights run: its server, its settled generated database, the day, the postmaster."""

    server_url: str
    template: str
    today: date
    postmaster: int


def measure_jobs(targets: dict[str, NightTarget], repeats: int) -> tuple[dict[str, dict[str, dict]], dict]:
    """`repeats` nights of the 1st for each size, each night on its own copy of the size's settled database;
    the jobs of each size summarised, and how they were measured. With several sizes their nights alternate
    (city then province, then province then city, ...): one size measured minutes after another saw another
    machine, since what else runs on it changes, and the ratio between sizes took that change for growth.
    Each size's first night is not counted: it finds the size's files on disk rather than in memory, and was
    the slowest night of each series that counted it (province overdue invoices 3.0-3.1 s, against 1.7-2.5 s
    on the nights after)."""
    for target in targets.values():
        settle_database(database_url(target.server_url, target.template))
    order = list(targets)
    for size in order:
        say(f"  {size} night 0, not counted: it brings the size's files into memory")
        night_on_copy(targets[size], "warmup")
    loads = [os.getloadavg()[0]]
    nights: dict[str, list] = {size: [] for size in targets}
    for k in range(1, repeats + 1):
        for size in order if k % 2 else order[::-1]:
            say(f"  {size} night {k} of {repeats} (load {os.getloadavg()[0]:.2f})")
            loads.append(os.getloadavg()[0])
            nights[size].append(night_on_copy(targets[size], str(k)))
    loads.append(os.getloadavg()[0])
    how = {
        "nights": repeats,
        "nights_not_counted": 1,
        "sizes_alternating": order if len(order) > 1 else [],
        "load_average_1min": {
            "first": loads[0],
            "median": statistics.median(loads),
            "max": max(loads),
            "last": loads[-1],
        },
        "code": code_state(),
    }
    return {size: summarise_nights(found) for size, found in nights.items()}, how


def night_on_copy(target: NightTarget, label: str) -> dict[str, dict]:
    with database_copy(target.server_url, f"{target.template}_night_{label}", target.template) as url:
        return night_in_own_process(url, target.today, target.postmaster)


def night_in_own_process(url: str, today: date, postmaster: int) -> dict[str, dict]:
    """One night in a new process on database `url`: nothing cached from an earlier night, as a scheduler
    process that has just started."""
    context = multiprocessing.get_context("spawn")
    earlier = {name: os.environ.get(name) for name in ("DATABASE_URL", "MIGRATION_DATABASE_URL")}
    os.environ.update(dict.fromkeys(earlier, url))  # the child reads them on start
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            return pool.submit(run_night, today, postmaster).result()
    finally:
        for name, value in earlier.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_night(today: date, postmaster: int) -> dict[str, dict]:
    return asyncio.run(night(today, postmaster))


async def night(today: date, postmaster: int) -> dict[str, dict]:
    """The night of the 1st, each job at its own hour, through run_period as the scheduler runs it; then the
    monthly report built alone. Besides the time, each job's CPU seconds: this process's and PostgreSQL's
    (the postmaster and its backends), less sensitive than the time to what else the machine runs."""
    from piccolo.engine import engine_finder

    from bench.instruments import CpuSeconds, ResidentPeak, StatementLog
    from core import clock
    from scheduler.engine import run_period
    from scheduler.jobs import JOBS

    jobs = {job.name: job for job in JOBS}
    engine = engine_finder()
    await engine.start_connection_pool(min_size=1, max_size=4)
    found = {}
    run_log = ("scheduler_job_run", "advisory")
    try:
        for name in NIGHT_JOBS:
            job = jobs[name]
            at = job_instant(job, today)
            clock.set_clock(lambda at=at: at)
            period = job.schedule.latest_due(at)
            with StatementLog() as log, ResidentPeak() as memory, CpuSeconds(postmaster) as cpu:
                started = time.perf_counter()
                outcome = await run_period(job, period)
                seconds = time.perf_counter() - started
            found[name] = {
                "period": period,
                "status": outcome.status,
                "result": outcome.result,
                "seconds": seconds,
                "sql_s": log.seconds,
                "cpu_s": cpu.seconds,
                "statements": log.count(leaving_out=run_log),
                "rows": log.rows(leaving_out=run_log),
                "rss_peak_delta_mb": memory.delta_mb,
            }
            say(
                f"    {name:<20} {seconds:>7.2f} s  {found[name]['statements']:>4} statements  "
                f"{found[name]['rows']:>8} rows  +{memory.delta_mb:.0f} MB  {outcome.status}"
            )
        found["report_build"] = await measure_report(today, postmaster)
    finally:
        clock.set_clock(None)
        await engine.close_connection_pool()
    return found


async def measure_report(today: date, postmaster: int) -> dict:
    from bench.instruments import CpuSeconds, ResidentPeak, StatementLog
    from core.clock import add_months
    from scheduler import report

    month = add_months(today, -1)
    with StatementLog() as log, ResidentPeak() as memory, CpuSeconds(postmaster) as cpu:
        started = time.perf_counter()
        built = await report.build(month)
        seconds = time.perf_counter() - started
    say(
        f"    {'report_build':<20} {seconds:>7.2f} s  {log.count():>4} statements  {log.rows():>8} rows  "
        f"+{memory.delta_mb:.0f} MB"
    )
    return {
        "seconds": seconds,
        "sql_s": log.seconds,
        "cpu_s": cpu.seconds,
        "statements": log.count(),
        "rows": log.rows(),
        "rss_peak_delta_mb": memory.delta_mb,
        "xlsx_bytes": len(built.xlsx),
    }


def summarise_nights(nights: list[dict[str, dict]]) -> dict[str, dict]:
    """Per job over the nights: the median seconds (`seconds`, what the chart and the ratios use), the fastest
    and slowest, every run's seconds, the median SQL time and CPU seconds, statements and rows (a list if the nights
    disagree, which they should not: every night starts from the same copy), and the largest memory peak."""
    found: dict[str, dict] = {}
    for name in nights[0] if nights else {}:
        runs = [n[name] for n in nights if name in n]
        seconds = [r["seconds"] for r in runs]
        summary = {key: runs[0][key] for key in ("period", "status", "result") if key in runs[0]}
        if any(r.get("status") != runs[0].get("status") for r in runs):
            summary["status"] = [r.get("status") for r in runs]
        summary.update(
            {
                "seconds": round(statistics.median(seconds), 3),
                "seconds_min": round(min(seconds), 3),
                "seconds_max": round(max(seconds), 3),
                "runs_s": [round(x, 3) for x in seconds],
                "sql_s": round(statistics.median(r["sql_s"] for r in runs), 3),
            }
        )
        if all("cpu_s" in r for r in runs):
            summary["cpu_s"] = round(statistics.median(r["cpu_s"] for r in runs), 3)
        for key in ("statements", "rows", "xlsx_bytes"):
            if key in runs[0]:
                values = [r[key] for r in runs]
                summary[key] = values[0] if len(set(values)) == 1 else values
        summary["rss_peak_delta_mb"] = round(max(r["rss_peak_delta_mb"] for r in runs), 1)
        found[name] = summary
    return found


# Results -------------------------------------------------------------------------------------------


def verdicts(endpoints: dict[str, dict], pgbench: dict[str, dict]) -> dict[str, dict]:
    """Each endpoint as a share of its ceiling, and whether it meets the aims."""
    found = {}
    for name, figures in endpoints.items():
        app, ceiling = figures.get("app"), figures.get("ceiling")
        if not app or not ceiling:
            continue
        ratio = app["requests_per_s"] / ceiling["requests_per_s"] if ceiling["requests_per_s"] else None
        cold = figures.get("app_cache_off")
        found[name] = {
            "app_over_ceiling": round(ratio, 2) if ratio is not None else None,
            "cache_off_over_ceiling": round(cold["requests_per_s"] / ceiling["requests_per_s"], 2)
            if cold and ceiling["requests_per_s"]
            else None,
            "ceiling_over_pgbench": round(ceiling["requests_per_s"] / pgbench[name]["requests_per_s"], 2)
            if name in pgbench and pgbench[name]["requests_per_s"]
            else None,
            "meets_ratio": ratio is not None and ratio >= AIM_RATIO,
            "meets_p99": app["p99_ms"] < AIM_P99_MS,
            "meets_memory": app["worker_rss_peak_mb"] < AIM_WORKER_MB,
        }
    return found


def print_table(size: str, results: dict) -> None:
    say(
        f"\n{size}: requests/s and p99 at {results['settings']['connections']} connections, "
        f"{results['settings']['workers']} workers; app: warm, every worker's cache primed (steady state)"
    )
    say(
        f"{'endpoint':<28}{'app (warm)':>16}{'cache off':>16}{'ceiling':>16}{'pgbench':>16}{'app/ceil':>10}{'stmts':>8}"
    )
    for name, figures in results["endpoints"].items():
        cells = []
        for label in ("app", "app_cache_off", "ceiling"):
            f = figures.get(label)
            cells.append(f"{f['requests_per_s']:>7.0f} {f['p99_ms']:>5.0f}ms" if f else f"{'-':>13}")
        pg = results["pgbench"].get(name)
        cells.append(f"{pg['requests_per_s']:>7.0f} {pg['p99_ms']:>5.0f}ms" if pg else f"{'-':>13}")
        verdict = results["verdicts"].get(name, {})
        counts = results["statements"].get(name, {})
        ratio = verdict.get("app_over_ceiling")
        say(
            f"{name:<28}" + "".join(f"{c:>16}" for c in cells) + f"{ratio if ratio is not None else '-':>10}"
            f"{str(counts.get('first', '-')) + '/' + str(counts.get('again', '-')):>8}"
        )
    print_jobs(results)
    print_residents(results)


def print_residents(results: dict) -> None:
    """The residents' scenarios measured in-process: each side's median seconds, its statements, and the
    application's speed as a share of the ceiling's."""
    if not results.get("residents"):
        return
    say(f"\n{'residents':<28}{'app s':>10}{'ceiling s':>12}{'app/ceil':>10}{'stmts app/ceil':>16}")
    for name, found in results["residents"].items():
        app, ceiling = found["app"], found["ceiling"]
        say(
            f"{name:<28}{app['seconds']:>10.3f}{ceiling['seconds']:>12.3f}{found['app_over_ceiling']!s:>10}"
            f"{str(app['statements']) + '/' + str(ceiling['statements']):>16}"
        )


def print_jobs(results: dict) -> None:
    repeats = results["settings"].get("job_repeats", 1)
    say(
        f"\n{'job':<22}{'median s':>10}{'min–max s':>16}{'CPU s':>8}{'statements':>12}{'rows':>10}{'RSS +MB':>10}"
        f"   ({repeats} nights)"
    )
    for name, job in results["jobs"].items():
        spread = f"{job.get('seconds_min', job['seconds']):.2f}–{job.get('seconds_max', job['seconds']):.2f}"
        cpu = f"{job['cpu_s']:.2f}" if "cpu_s" in job else "-"
        say(
            f"{name:<22}{job['seconds']:>10.2f}{spread:>16}{cpu:>8}{str(job['statements']):>12}"
            f"{str(job.get('rows', '-')):>10}{job['rss_peak_delta_mb']:>10.0f}"
        )


def code_state() -> dict:
    def git(*command: str) -> str:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            return subprocess.run(
                ["git", *command], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        return ""

    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def write_results(size: str, results: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{size}.json"
    if path.exists():
        # A run that skipped the load or the jobs keeps those figures from the last run that measured them.
        earlier = json.loads(path.read_text())
        for skipped, sections in (
            ("skip_load", ("statements", "endpoints", "pgbench", "verdicts")),
            ("skip_jobs", ("jobs", "jobs_run", "residents")),
        ):
            if results["settings"].get(skipped):
                for section in sections:
                    results[section] = earlier.get(section, {})
                results.setdefault("kept_from_earlier_run", []).extend(sections)
        if results["settings"].get("skip_jobs") and "job_repeats" in earlier.get("settings", {}):
            results["settings"]["job_repeats"] = earlier["settings"]["job_repeats"]  # the kept jobs' nights
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    redraw_chart()
    return path


def write_jobs(size: str, jobs: dict[str, dict], jobs_run: dict, manifest) -> Path:
    """The jobs section of bench/results/<size>.json replaced, every other section kept; the chart redrawn."""
    path = RESULTS / f"{size}.json"
    results = (
        json.loads(path.read_text())
        if path.exists()
        else {
            "size": size,
            "scale": SCALES[size],
            "today": str(manifest.today),
            "data": manifest.counts,
            "generation_seconds": manifest.total_seconds,
            "settings": {"seed": manifest.seed},
        }
    )
    results["jobs"], results["jobs_run"] = jobs, jobs_run
    results["settings"]["job_repeats"] = jobs_run["nights"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    redraw_chart()
    return path


def redraw_chart() -> None:
    sizes = {name: found for name, found in chart.load_results(RESULTS).items() if name != "test" and found.get("jobs")}
    if sizes:
        chart.scaling_chart(sizes, RESULTS / "scaling.png")


# Main ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from bench.data import SIZES

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=list(SIZES), default="city")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers per server (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections (default 64)")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per run (default 10)")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds per run (default 3)")
    parser.add_argument("--db-pool-max", type=int, default=10, help="pool size per worker (default 10)")
    parser.add_argument(
        "--loadgen",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="wrk when installed (default), or the Python client",
    )
    parser.add_argument("--pgdata", type=Path, help="keep the database here and reuse it when it holds this size")
    parser.add_argument("--skip-load", action="store_true", help="jobs only")
    parser.add_argument("--skip-jobs", action="store_true", help="endpoints only")
    parser.add_argument(
        "--job-repeats",
        type=int,
        default=3,
        help="nights run, each on a fresh copy of the database; the median is reported (default 3)",
    )
    parser.add_argument("--seed", type=int, default=2026)
    return parser.parse_args(argv)


def prepare_data(args: argparse.Namespace, folder: Path):
    """The database of this size: reused from --pgdata when it holds it, generated otherwise."""
    from bench import data

    server_url = start_embedded_postgres(folder, delete_on_stop=args.pgdata is None)
    name = f"fcom_bench_{args.size}"
    url = database_url(server_url, name)
    saved = folder.parent / f"{name}.manifest.json"
    # The nightly jobs run on copies (see measure_jobs), so a kept database is reused for them too.
    if args.pgdata and saved.exists():
        manifest = load_manifest(saved)
        if manifest.seed == args.seed:
            say(f"reusing the {args.size} database in {folder}")
            return url, manifest
    with contextlib.suppress(Exception):
        drop_database(server_url, name)
    create_database(server_url, name)
    say(f"generating the {args.size} data set")
    manifest = asyncio.run(data.generate(url, data.SIZES[args.size], seed=args.seed))
    saved.write_text(json.dumps(asdict(manifest), ensure_ascii=False, default=str))
    return url, manifest


def load_manifest(path: Path):
    from bench import data

    fields = json.loads(path.read_text())
    fields["city_official"] = data.Account(**fields["city_official"])
    fields["street_official"] = data.Account(**fields["street_official"])
    fields["auditor"] = data.Account(**fields["auditor"])
    fields["district_officials"] = [data.Account(**a) for a in fields["district_officials"]]
    fields["operators"] = [data.OperatorAccount(**o) for o in fields["operators"]]
    fields["open_listings"] = [data.OpenListing(**o) for o in fields["open_listings"]]
    fields["resident_accounts"] = [data.ResidentAccount(**a) for a in fields.get("resident_accounts", [])]
    return data.Manifest(**fields)


def tokens_for(sample: Sample) -> dict[int, str]:
    from core.auth import build_jwt_auth

    auth = build_jwt_auth()
    user_ids = {sample.city_user_id, *(user for user, _, _, _ in sample.applications), *sample.resident_user_ids}
    return {user_id: auth.create_token(identifier=str(user_id)) for user_id in user_ids}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ["SECRET_KEY"] = SECRET_KEY  # before any setting is read: the servers sign and check with it
    started = time.perf_counter()
    temporary = Path(tempfile.mkdtemp(prefix="fcom-bench-"))
    folder = args.pgdata or temporary / "pg"
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        url, manifest = prepare_data(args, folder)
        os.environ["DATABASE_URL"] = url
        today = date.fromisoformat(str(manifest.today))
        results: dict = {
            "size": args.size,
            "scale": SCALES[args.size],
            "today": str(today),
            "data": manifest.counts,
            "generation_seconds": manifest.total_seconds,
            "settings": {
                "workers": args.workers,
                "connections": args.connections,
                "duration_s": args.duration,
                "db_pool_max_per_worker": args.db_pool_max,
                "seed": args.seed,
                "skip_load": args.skip_load,
                "skip_jobs": args.skip_jobs,
                "job_repeats": args.job_repeats,
                "postgresql": server_settings(url, POSTGRESQL_SETTINGS),
            },
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "loadgen": "wrk" if args.loadgen != "python" and wrk_available() else "python",
                "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            },
            "code": code_state(),
            "statements": {},
            "endpoints": {},
            "pgbench": {},
            "verdicts": {},
            "jobs": {},
            "residents": {},
        }
        if not args.skip_load:
            # On a copy: the write run adds applications, and every run starts from the same data.
            with database_copy(
                database_url(url, "postgres"), f"fcom_bench_{args.size}_http", f"fcom_bench_{args.size}"
            ) as http_url:
                os.environ["DATABASE_URL"] = http_url
                sample = asyncio.run(read_sample(manifest))
                endpoints = build_endpoints(sample, tokens_for(sample), random.Random(args.seed))
                say("statements per request (first / cache hit)")
                results["statements"] = asyncio.run(count_statements(endpoints))
                say(f"  {results['statements']}")
                say("HTTP load")
                results["endpoints"] = measure_servers(http_url, endpoints, args, temporary)
                say("pgbench, the same SQL")
                results["pgbench"] = measure_pgbench(http_url, endpoints, args)
                results["verdicts"] = verdicts(results["endpoints"], results["pgbench"])
                os.environ["DATABASE_URL"] = url
        if not args.skip_jobs:
            say(f"nightly jobs on the 1st, {args.job_repeats} nights on copies of the settled database")
            target = NightTarget(
                database_url(url, "postgres"), f"fcom_bench_{args.size}", today, postmaster_pid(folder)
            )
            jobs, how = measure_jobs({args.size: target}, args.job_repeats)
            results["jobs"] = jobs[args.size]
            results["jobs_run"] = {**how, "postgresql": results["settings"]["postgresql"]}
        if not args.skip_jobs and manifest.tally_poll_ids:
            say(f"residents: closing polls of {manifest.tally_ballots:,} ballots, the application and its ceiling")
            with database_copy(
                database_url(url, "postgres"), f"fcom_bench_{args.size}_residents", f"fcom_bench_{args.size}"
            ) as residents_url:
                results["residents"] = resident_scenarios.measure_in_own_process(residents_url, manifest.tally_poll_ids)
        results["wall_seconds"] = round(time.perf_counter() - started, 1)
        print_table(args.size, results)
        say(f"\nwritten to {write_results(args.size, results)}")
    finally:
        with contextlib.suppress(Exception):
            stop_embedded_postgres(folder)
        shutil.rmtree(temporary, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
