"""Command line: `fcom <command>`. `fcom --help` lists the commands."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager

from core.settings import get_settings

log = logging.getLogger("fcom")


@asynccontextmanager
async def database():
    """Connect (starting the embedded server if DATABASE_URL is unset) and migrate."""
    from core.db import postgres_engine
    from core.migrate import migrate
    from core.reference import load_reference_data

    engine = postgres_engine()
    await migrate()
    await load_reference_data()
    await engine.start_connection_pool(min_size=1, max_size=4)
    try:
        yield engine
    finally:
        await engine.close_connection_pool()


async def _migrate() -> None:
    async with database():
        pass
    print("数据库迁移已完成 (migrations applied)")


async def _seed() -> None:
    from core.demo import load_demo

    async with database():
        await load_demo()
    print("演示数据已就绪 (demo data loaded)")


async def _create_user(args: argparse.Namespace) -> None:
    from core.accounts import service
    from core.accounts.tables import Role

    password = args.password or getpass.getpass("密码 (password): ")
    async with database():
        user = await service.create_user(
            None,
            username=args.username,
            password=password,
            email=args.email,
            display_name=args.display_name or args.username,
            grants=[(Role(args.role), args.org_id)],
        )
    print(f"已创建用户 {user.username} (id {user.id})")


async def _send_outbox() -> None:
    from core.outbox.service import send_pending

    async with database():
        result = await send_pending()
    print(f"sent {result.sent}, will retry {result.retried}, gave up {result.gave_up}")


async def _audit_verify() -> None:
    from core.audit.service import verify_chain

    async with database():
        check = await verify_chain()
    if check.broken_id is None:
        print(f"审计链完整 (audit chain intact): {check.rows} rows, head {check.head or '-'}")
        return
    where = f"seq {check.broken_seq}" if check.broken_seq is not None else "no seq"
    print(
        f"审计链断裂 (audit chain broken) at audit_log id {check.broken_id} ({where}): {check.problem}; "
        f"{check.rows} rows before it verify"
    )
    raise SystemExit(1)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def start_localstripe(port: int) -> subprocess.Popen | None:
    """Start localstripe unless something already answers on the port."""
    if _port_open("127.0.0.1", port):
        return None
    exe = shutil.which("localstripe") or os.path.join(os.path.dirname(sys.executable), "localstripe")
    process = subprocess.Popen(
        [exe, "--port", str(port), "--from-scratch"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 15
    while not _port_open("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("localstripe did not start")
        time.sleep(0.1)
    return process


async def _jobs() -> None:
    from scheduler.engine import next_run_times
    from scheduler.jobs import JOBS
    from scheduler.repository import latest_runs

    async with database():
        latest = await latest_runs()
        upcoming = next_run_times(JOBS)
    for job in JOBS:
        last = latest.get(job.name)
        print(
            f"{job.name:<20} {job.schedule.label():<22} next {upcoming[job.name]:%Y-%m-%d %H:%M}  "
            f"last {(last.period if last else '') or '-'} {last.status if last else ''}  {job.title}"
        )


async def _run_job(args: argparse.Namespace) -> None:
    from scheduler.engine import run_now
    from scheduler.jobs import JOBS, job_named

    job = job_named(args.name)
    if job is None:
        raise SystemExit(f"no job {args.name!r}; jobs: {', '.join(j.name for j in JOBS)}")
    async with database():
        outcomes = await run_now(job, args.period or None)
    for outcome in outcomes:
        print(f"{outcome.job} {outcome.period or '-'} {outcome.status} {outcome.result}")


async def _job_runs(args: argparse.Namespace) -> None:
    from scheduler.repository import list_runs

    async with database():
        rows, _ = await list_runs(args.job, None, args.limit, 0)
    for row in rows:
        print(
            f"{row.started_at:%Y-%m-%d %H:%M:%S} {row.job:<20} {row.period:<11} {row.status:<9} "
            f"{row.duration_ms or 0:>7} ms  attempt {row.attempt}  {row.result or row.error}"
        )


async def _build_report(args: argparse.Namespace) -> None:
    from datetime import date
    from pathlib import Path

    from scheduler import report

    month = date.fromisoformat(f"{args.month}-01")
    async with database():
        built = await report.build(month)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"balance-{args.month}.html").write_text(built.html, encoding="utf-8")
    (out / f"balance-{args.month}.xlsx").write_bytes(built.xlsx)
    (out / f"balance-{args.month}.png").write_bytes(built.chart_png)
    print(f"{built.subject}: written to {out}/balance-{args.month}.(html|xlsx|png)")


def _backup_or_restore(args: argparse.Namespace) -> None:
    from core import backup

    try:
        if args.command == "backup":
            written = backup.backup(args.file)
            print(f"备份已写入 {written} ({written.stat().st_size} bytes)")
        else:
            backup.restore(args.file)
            print(f"已从 {args.file} 恢复数据库 (restored)")
    except backup.BackupFailed as exc:
        raise SystemExit(f"失败 (failed): {exc}") from None


def start_scheduler() -> subprocess.Popen:
    """The scheduler as its own process, as in production (python -m scheduler)."""
    return subprocess.Popen([sys.executable, "-m", "scheduler"])


def register_localstripe_webhook(settings) -> None:
    """Have localstripe deliver payment events to our webhook, signed with our secret, as Stripe would."""
    import httpx

    httpx.post(
        f"{settings.stripe_api_base}/_config/webhooks/fcom",
        timeout=5,
        data={
            "url": f"http://{settings.host}:{settings.port}/api/v1/webhooks/payments",
            "secret": settings.stripe_webhook_secret,
            "events[]": ["payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled"],
        },
    ).raise_for_status()


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from core.db import resolve_database_url

    settings = get_settings()
    resolve_database_url()  # start the embedded server here, so every worker joins it
    uvicorn.run(
        "app.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.web_workers,
        log_level="info",
        access_log=False,
    )


def _banner(settings) -> str:
    from core.demo import DEMO_ACCOUNTS
    from core.labels import ROLE_LABELS

    base = f"http://{settings.host}:{settings.port}"
    lines = [
        "",
        "未来社区长效运营市场 is running",
        f"  API docs (OpenAPI)   {base}/schema        (JSON: {base}/schema/openapi.json)",
        f"  Admin (city staff)   {base}/admin",
        f"  Health               {base}/health",
        f"  Payment server       {settings.stripe_api_base}  (localstripe)",
        "  Scheduler            running beside the API (python -m scheduler); jobs: fcom jobs",
        f"  Database             {'embedded, data in ' + str(settings.embedded_pg_dir) if settings.uses_embedded_database else 'DATABASE_URL'}",
        "",
        f"Demo accounts (password: {settings.demo_password}):",
        *(f"  {a.username:<16} {ROLE_LABELS[a.role.value]}  {a.display_name}" for a in DEMO_ACCOUNTS),
        "",
        f"Log in: curl -s {base}/api/v1/auth/login -H 'content-type: application/json' "
        f'-d \'{{"username":"city_admin","password":"{settings.demo_password}"}}\'',
        "Press Ctrl-C to stop everything.",
        "",
    ]
    return "\n".join(lines)


def _dev() -> None:
    """Everything a new user needs on one machine: database, payment server, demo data, API."""
    import uvicorn

    from core.db import resolve_database_url

    settings = get_settings()
    resolve_database_url()
    stripe = start_localstripe(settings.localstripe_port)
    children = [p for p in (stripe,) if p]
    try:
        register_localstripe_webhook(settings)
        asyncio.run(_seed())
        children.append(start_scheduler())
        print(_banner(settings), flush=True)
        uvicorn.run(
            "app.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            log_level="info",
            access_log=False,
        )
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="fcom", description="未来社区长效运营市场")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("seed", help="load demo data (idempotent)")
    create = sub.add_parser("create-user", help="create a user with one role")
    create.add_argument("--username", required=True)
    create.add_argument("--email", required=True)
    create.add_argument(
        "--role", required=True, choices=["operator", "street", "district", "city", "owner", "auditor", "surveyor"]
    )
    create.add_argument("--org-id", type=int, required=True)
    create.add_argument("--display-name", default="")
    create.add_argument("--password", default=None, help="omit to be asked")
    serve = sub.add_parser("serve", help="serve the API (production)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    sub.add_parser("dev", help="start database, payment server, demo data and API together (make run)")
    sub.add_parser("send-outbox", help="deliver queued emails now")
    audit = sub.add_parser("audit", help="audit log checks")
    audit.add_argument("check", choices=["verify"], help="verify: recompute the hash chain, name the first broken row")
    sub.add_parser("scheduler", help="run a scheduler process (same as python -m scheduler)")
    sub.add_parser("jobs", help="list scheduled jobs with their next run and last period")
    run_job = sub.add_parser("run-job", help="run a job now for a period (default: every period due)")
    run_job.add_argument("name")
    run_job.add_argument("--period", help="a day (2026-11-23) or a month (2026-10)")
    job_runs = sub.add_parser("job-runs", help="recent runs: status, duration, result counts")
    job_runs.add_argument("--job")
    job_runs.add_argument("--limit", type=int, default=30)
    build_report = sub.add_parser("build-report", help="build the monthly balance report for a month into files")
    build_report.add_argument("--month", required=True, help="e.g. 2026-10")
    build_report.add_argument("--out", default="reports")
    backup = sub.add_parser("backup", help="dump the database (DATABASE_URL) to a file with pg_dump -Fc")
    backup.add_argument("file")
    restore = sub.add_parser("restore", help="load a backup file into an empty database (DATABASE_URL)")
    restore.add_argument("file")
    args = parser.parse_args(argv)

    if args.command == "migrate":
        asyncio.run(_migrate())
    elif args.command == "seed":
        asyncio.run(_seed())
    elif args.command == "create-user":
        asyncio.run(_create_user(args))
    elif args.command == "serve":
        _serve(args)
    elif args.command == "dev":
        _dev()
    elif args.command == "audit":
        asyncio.run(_audit_verify())
    elif args.command == "send-outbox":
        asyncio.run(_send_outbox())
    elif args.command == "scheduler":
        import runpy

        runpy.run_module("scheduler", run_name="__main__")
    elif args.command == "jobs":
        asyncio.run(_jobs())
    elif args.command == "run-job":
        asyncio.run(_run_job(args))
    elif args.command == "job-runs":
        asyncio.run(_job_runs(args))
    elif args.command == "build-report":
        asyncio.run(_build_report(args))
    elif args.command in ("backup", "restore"):
        _backup_or_restore(args)


if __name__ == "__main__":
    main()
