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
import tempfile
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path

from core.settings import UnsafeProductionSettings, get_settings

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
    try:
        settings.refuse_unsafe_production()
    except UnsafeProductionSettings as exc:
        sys.exit(str(exc))
    resolve_database_url()  # start the embedded server here, so every worker joins it
    workers = args.workers or settings.web_workers
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker writes its counts here and /metrics adds them up, whichever worker answers.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="fcom-metrics-")
    uvicorn.run(
        "app.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=workers,
        log_level="info",
        access_log=False,
    )


def _mail_catcher(args: argparse.Namespace) -> None:
    """The catcher on its own, with its pages on a port of their own (a mail service in compose.yaml)."""
    import uvicorn
    from litestar import Litestar

    from app.mailcatcher import DevMailController, start_catcher

    settings = get_settings()
    directory = Path(args.dir) if args.dir else settings.dev_mail_dir
    if args.dir:
        os.environ["DEV_MAIL_DIR"] = args.dir
        get_settings.cache_clear()
    smtp = start_catcher(args.host, args.smtp_port or settings.smtp_port, directory)
    try:
        uvicorn.run(Litestar([DevMailController]), host=args.host, port=args.http_port, log_level="warning")
    finally:
        smtp.stop()


def _scheduler_health(args: argparse.Namespace) -> None:
    beat = get_settings().scheduler_heartbeat_file
    try:
        age = time.time() - beat.stat().st_mtime
    except FileNotFoundError:
        sys.exit(f"no heartbeat at {beat}: the scheduler has not reached the database yet")
    if age > args.max_age:
        sys.exit(f"the scheduler's last heartbeat is {age:.0f} s old (more than {args.max_age:.0f} s)")
    print(f"scheduler alive: last heartbeat {age:.1f} s ago")


def _banner(settings) -> str:
    from core.demo import DEMO_ACCOUNTS
    from core.labels import ROLE_LABELS

    base = f"http://{settings.host}:{settings.port}"
    lines = [
        "",
        "未来社区长效运营市场 is running",
        f"  Site (pages)         {base}/               (名录, 公示, log-in for operators and streets)",
        f"  API docs (OpenAPI)   {base}/schema        (to read: {base}/schema/elements; JSON: {base}/schema/openapi.json)",
        f"  Admin (city staff)   {base}/admin",
        f"  Health               {base}/health",
        f"  Mail (development)   {base}/dev/mail      (every message sent, caught on {settings.smtp_host}:{settings.smtp_port})",
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


def _start_mail_catcher(settings):
    from app.mailcatcher import start_catcher

    return start_catcher(settings.smtp_host, settings.smtp_port, settings.dev_mail_dir)


def _dev() -> None:
    """Everything a new user needs on one machine: database, payment server, demo data, API."""
    import uvicorn

    from core.db import resolve_database_url

    os.environ["APP_ENV"] = "development"  # for this process and the scheduler it starts
    get_settings.cache_clear()
    settings = get_settings()
    resolve_database_url()
    stripe = start_localstripe(settings.localstripe_port)
    children = [p for p in (stripe,) if p]
    mail = None if _port_open(settings.smtp_host, settings.smtp_port) else _start_mail_catcher(settings)
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
        if mail is not None:
            mail.stop()
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
    catcher = sub.add_parser("mail-catcher", help="development mail: keep every message sent, show them on a web page")
    catcher.add_argument("--host", default="127.0.0.1")
    catcher.add_argument("--smtp-port", type=int, help="default: SMTP_PORT")
    catcher.add_argument("--http-port", type=int, default=8025)
    catcher.add_argument("--dir", help="default: DEV_MAIL_DIR")
    audit = sub.add_parser("audit", help="audit log checks")
    audit.add_argument("check", choices=["verify"], help="verify: recompute the hash chain, name the first broken row")
    sub.add_parser("scheduler", help="run a scheduler process (same as python -m scheduler)")
    sub.add_parser("jobs", help="list scheduled jobs with their next run and last period")
    alive = sub.add_parser("scheduler-health", help="exit 0 if this machine's scheduler beat recently (health check)")
    alive.add_argument("--max-age", type=float, default=60, help="seconds (default 60)")
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

    COMMANDS[args.command](args)


def _run_scheduler(args: argparse.Namespace) -> None:
    import runpy

    runpy.run_module("scheduler", run_name="__main__")


COMMANDS: dict[str, Callable[[argparse.Namespace], object]] = {
    "migrate": lambda args: asyncio.run(_migrate()),
    "seed": lambda args: asyncio.run(_seed()),
    "create-user": lambda args: asyncio.run(_create_user(args)),
    "serve": _serve,
    "dev": lambda args: _dev(),
    "audit": lambda args: asyncio.run(_audit_verify()),
    "mail-catcher": _mail_catcher,
    "send-outbox": lambda args: asyncio.run(_send_outbox()),
    "scheduler": _run_scheduler,
    "scheduler-health": _scheduler_health,
    "jobs": lambda args: asyncio.run(_jobs()),
    "run-job": lambda args: asyncio.run(_run_job(args)),
    "job-runs": lambda args: asyncio.run(_job_runs(args)),
    "build-report": lambda args: asyncio.run(_build_report(args)),
    "backup": _backup_or_restore,
    "restore": _backup_or_restore,
}


if __name__ == "__main__":
    main()
