"""Real `python -m scheduler` processes killed with SIGKILL in the middle of a job, and started again: each
job's period ends with one successful run, no invoice or report email twice and none missing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import date

import asyncpg
import pytest

from leasing import service as leasing
from tests.leasing.helpers import lease, space
from tests.market.helpers import community, listed_operators

RECIPIENTS = ["jianwei@example.org", "shenji@example.org"]


class Schedulers:
    """`python -m scheduler` processes on the test database, each writing its output to a log of its own."""

    def __init__(self, log_dir) -> None:
        self.log_dir = log_dir
        self.env = {**os.environ, "SCHEDULER_POLL_SECONDS": "0.3", "REPORT_RECIPIENTS": ",".join(RECIPIENTS)}
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        with (self.log_dir / f"scheduler-{len(self.processes)}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "scheduler"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in sorted(self.log_dir.glob("scheduler-*.log")))

    @staticmethod
    def kill(process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def wait_until(check, what: str, schedulers: Schedulers, attempts: int = 600) -> None:
    """Polls `check`; the bound only keeps a broken run from hanging (the machine may be slow and shared)."""
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}\n{schedulers.logs()}")


async def lock_table(url: str, table: str) -> tuple[asyncpg.Connection, object]:
    """Hold `table` in SHARE mode so writers wait: a job that reaches its write stops there."""
    connection = await asyncpg.connect(url)
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute(f"LOCK TABLE {table} IN SHARE MODE")
    return connection, transaction


class Watcher:
    """A connection of the test's own, to see what the schedulers have claimed and where they wait."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def run_row(self, job: str) -> dict | None:
        row = await self.connection.fetchrow(
            "SELECT period, status, attempt, runner, result FROM scheduler_job_run WHERE job = $1", job
        )
        return None if row is None else {**row, "result": json.loads(row["result"])}

    async def waiting_on(self, table: str) -> int:
        # pg_locks, not pg_stat_activity: the latter is a snapshot frozen for a transaction
        return await self.connection.fetchval(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = $1::regclass", table
        )

    async def runs(self, job: str, status: str, runner: subprocess.Popen, waiting: tuple[str, int] | None = None):
        row = await self.run_row(job)
        return (
            row is not None
            and row["status"] == status
            and row["runner"].endswith(f":{runner.pid}")
            and (waiting is None or await self.waiting_on(waiting[0]) >= waiting[1])
        )

    async def job_runs(self) -> dict[str, tuple[str, int]]:
        rows = await self.connection.fetch("SELECT job, status, attempt FROM scheduler_job_run")
        assert len(rows) == len({r["job"] for r in rows})  # one period each here
        return {r["job"]: (r["status"], r["attempt"]) for r in rows}


@pytest.fixture
async def watcher():
    connection = await asyncpg.connect(os.environ["DATABASE_URL"])
    yield Watcher(connection)
    await connection.close()


@pytest.fixture
def schedulers(tmp_path):
    processes = Schedulers(tmp_path)
    yield processes
    processes.stop_all()


async def leases_to_bill(world, frozen_clock, count: int) -> list[dict]:
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    jiangbin = await community(world, "street_x", "江滨社区")
    return [
        await lease(world, (await space(world, community_id=jiangbin["id"]))["id"], operators["tot"]["id"])
        for _ in range(count)
    ]


async def test_a_scheduler_killed_while_billing_rent_is_taken_over_and_every_month_is_billed_once(
    world, frozen_clock, watcher, schedulers
):
    leases = await leases_to_bill(world, frozen_clock, 3)
    blocker, held = await lock_table(os.environ["DATABASE_URL"], "leasing_invoice")
    try:
        first = schedulers.start()
        await wait_until(
            lambda: watcher.runs("rent_invoices", "running", first, ("leasing_invoice", 1)),
            "the first scheduler reaches its invoice insert",
            schedulers,
        )
        schedulers.kill(first)

        # The killed scheduler's insert is still waiting in its database session when the next scheduler takes
        # the period over and reaches the same insert.
        second = schedulers.start()
        await wait_until(
            lambda: watcher.runs("rent_invoices", "running", second, ("leasing_invoice", 2)),
            "the second scheduler takes the interrupted period over",
            schedulers,
        )
        await held.rollback()
    finally:
        await blocker.close()

    await wait_until(
        lambda: watcher.runs("balance_report", "succeeded", second), "the second scheduler catches up", schedulers
    )
    schedulers.stop_all()

    assert await watcher.job_runs() == {
        "rent_invoices": ("succeeded", 2),
        "lifecycle": ("succeeded", 1),
        "overdue_invoices": ("succeeded", 1),
        "renewal_flags": ("succeeded", 1),
        "registry_rules": ("succeeded", 1),
        "lessee_standing": ("succeeded", 1),
        "alliance_standing": ("succeeded", 1),
        "open_surveys": ("succeeded", 1),
        "balance_snapshot": ("succeeded", 1),
        "expire_points": ("succeeded", 1),
        "balance_report": ("succeeded", 1),
        "quarterly_evaluations": ("succeeded", 1),
    }
    # The dead session's insert was never committed; the run again billed each lease's months once; none is missing.
    rent = await watcher.run_row("rent_invoices")
    billed = await watcher.connection.fetch("SELECT lease, month FROM leasing_invoice")
    assert len(billed) == len(set(billed)) and {r["lease"] for r in billed} == {x["id"] for x in leases}
    assert rent["result"] == {"created": len(billed)}
    assert await leasing.generate_invoices(through=date.fromisoformat(rent["period"])) == 0


async def test_a_scheduler_killed_while_queueing_the_monthly_report_sends_it_once_after_restart(
    world, frozen_clock, watcher, schedulers, mailbox
):
    await leases_to_bill(world, frozen_clock, 1)
    blocker, held = await lock_table(os.environ["DATABASE_URL"], "outbox_email")
    try:
        first = schedulers.start()
        await wait_until(
            lambda: watcher.runs("balance_report", "running", first, ("outbox_email", 1)),
            "the first scheduler reaches the report's emails",
            schedulers,
        )
        schedulers.kill(first)
        await held.rollback()
    finally:
        await blocker.close()
    second = schedulers.start()
    await wait_until(
        lambda: watcher.runs("balance_report", "succeeded", second), "the report is queued again", schedulers
    )
    schedulers.stop_all()

    runs = await watcher.job_runs()
    assert runs.pop("balance_report") == ("succeeded", 2)
    assert set(runs.values()) == {("succeeded", 1)}
    report = await watcher.run_row("balance_report")
    assert report["result"] == {"queued": len(RECIPIENTS)}
    queued = await watcher.connection.fetch(
        "SELECT to_address FROM outbox_email WHERE dedupe_key LIKE $1", f"balance-report:{report['period']}:%"
    )
    assert sorted(r["to_address"] for r in queued) == sorted(RECIPIENTS)

    sent = subprocess.run(
        [sys.executable, "-m", "app.cli", "send-outbox"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sent.returncode == 0, sent.stderr
    assert [len(mailbox.to(address)) for address in RECIPIENTS] == [1, 1]
    year, month = report["period"].split("-")
    assert all(f"{year}年{int(month)}月" in mailbox.to(address)[0]["Subject"] for address in RECIPIENTS)
