"""Jobs run once per period whatever the topology, catch up after downtime, and survive being killed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime

import asyncpg

from leasing import repository as leasing_repo
from scheduler import engine
from scheduler.engine import Scheduler
from scheduler.jobs import JOBS, job_named
from scheduler.schedule import Daily, Monthly, due_periods
from tests.leasing.helpers import lease, space
from tests.market.helpers import listed_operators

PERIODIC = [job for job in JOBS if job.name in ("lifecycle", "rent_invoices", "overdue_invoices", "renewal_flags")]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_periods_are_caught_up_in_order_and_a_new_installation_starts_now():
    daily = Daily(hour=1)
    assert due_periods(daily, None, at("2026-11-23T02:00")) == ["2026-11-23"]  # 10:00 in Shanghai
    assert due_periods(daily, None, at("2026-11-22T16:30")) == ["2026-11-22"]  # 00:30 on the 23rd: not yet
    assert due_periods(daily, "2026-11-19", at("2026-11-23T02:00")) == [
        "2026-11-20",
        "2026-11-21",
        "2026-11-22",
        "2026-11-23",
    ]
    monthly = Monthly(hour=8)
    assert due_periods(monthly, None, at("2026-12-01T01:00")) == ["2026-11"]  # 09:00 on 1 December
    assert due_periods(monthly, None, at("2026-11-30T23:00")) == ["2026-10"]
    assert due_periods(monthly, "2026-08", at("2026-12-01T01:00")) == ["2026-09", "2026-10", "2026-11"]
    assert due_periods(monthly, "2026-11", at("2026-12-01T01:00")) == []


async def invoices_of(lease_id: int) -> list[tuple]:
    rows = await leasing_repo.list_invoices(
        patterns=["/%"], org_ids=[], lease_id=lease_id, status=None, limit=100, offset=0
    )
    return sorted((r.month.isoformat(), r.amount) for r in rows[0])


async def a_lease(world, frozen_clock, **terms) -> dict:
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    room = await space(world)
    return await lease(world, room["id"], operators["tot"]["id"], **terms)


async def test_two_schedulers_at_once_run_each_job_once_per_period(world, frozen_clock):
    signed = await a_lease(world, frozen_clock, starts_on="2026-10-01")
    first, second = await asyncio.gather(engine.run_all_due(PERIODIC), engine.run_all_due(PERIODIC))
    ran = [o for o in first + second if o.status == "succeeded"]
    assert sorted(o.job for o in ran) == sorted(job.name for job in PERIODIC)
    assert {o.status for o in first + second} <= {"succeeded", "skipped"}
    assert await invoices_of(signed["id"]) == [
        ("2026-10-01", 300_000),
        ("2026-11-01", 300_000),
        ("2026-12-01", 300_000),
    ]
    runs = (await world.get("city", "/api/v1/job-runs", params={"job": "rent_invoices"})).json()["items"]
    assert [(r["period"], r["status"], r["attempt"]) for r in runs] == [("2026-12-01", "succeeded", 1)]
    assert runs[0]["result"] == {"created": 3}


async def test_only_one_process_leads_and_another_takes_over_when_it_dies(world):
    leaders = [Scheduler([], poll_seconds=0.2), Scheduler([], poll_seconds=0.2)]
    tasks = [asyncio.create_task(s.become_leader()) for s in leaders]
    done, _ = await asyncio.wait(tasks, timeout=3, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) == 1
    await asyncio.sleep(0.5)
    assert sum(s.leading.is_set() for s in leaders) == 1
    leader = next(s for s in leaders if s.leading.is_set())
    follower = next(s for s in leaders if s is not leader)
    await leader._release()  # the leader's connection goes away, as when its process dies
    await asyncio.wait_for(asyncio.gather(*(t for t in tasks if not t.done())), timeout=3)
    assert follower.leading.is_set()
    await follower._release()


async def test_after_downtime_every_missed_day_runs_in_order(world, frozen_clock):
    job = job_named("rent_invoices")
    await engine.run_due(job)
    frozen_clock.advance(days=3)
    outcomes = await engine.run_due(job)
    assert [(o.period, o.status) for o in outcomes] == [
        ("2026-11-24", "succeeded"),
        ("2026-11-25", "succeeded"),
        ("2026-11-26", "succeeded"),
    ]
    assert await engine.run_due(job) == []


async def test_a_scheduler_killed_mid_job_leaves_no_duplicate_and_no_gap(world, frozen_clock):
    signed = await a_lease(world, frozen_clock, starts_on="2026-09-01")
    url = os.environ["DATABASE_URL"]
    blocker = await asyncpg.connect(url)
    runner = None
    try:
        # Hold the invoices table so the job, once it has claimed its period, stops at its insert.
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE leasing_invoice IN SHARE MODE")
        runner = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "run-job", "rent_invoices", "--period", "2026-12-01"],
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(300):
            status = await blocker.fetchval(
                "SELECT status FROM scheduler_job_run WHERE job = 'rent_invoices' AND period = '2026-12-01'"
            )
            # pg_locks, not pg_stat_activity: the latter is a snapshot frozen for this open transaction.
            waiting = await blocker.fetchval(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'leasing_invoice'::regclass"
            )
            if status == "running" and waiting:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the job never reached its insert")
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=10)
        await transaction.rollback()
    finally:
        if runner and runner.poll() is None:
            runner.kill()
        await blocker.close()

    assert await invoices_of(signed["id"]) == []  # nothing half-written
    job = job_named("rent_invoices")
    for _ in range(100):  # the killed runner's server process lets go of its claim once it notices
        outcome = await engine.run_period(job, "2026-12-01")
        if outcome.status != "skipped":
            break
        await asyncio.sleep(0.1)
    assert outcome.status == "succeeded" and outcome.result == {"created": 4}
    assert await invoices_of(signed["id"]) == [(f"2026-{m:02d}-01", 300_000) for m in (9, 10, 11, 12)]
    assert (await engine.run_period(job, "2026-12-01")).status == "skipped"
    runs = (await world.get("city", "/api/v1/job-runs", params={"job": "rent_invoices"})).json()["items"]
    assert [(r["status"], r["attempt"]) for r in runs] == [("succeeded", 2)]


async def test_two_scheduler_processes_share_the_work_and_the_survivor_takes_over(world):
    """Real `python -m scheduler` processes on the real clock: one leads and runs each due period once;
    killed, its place is taken within seconds."""
    environment = {**os.environ, "SCHEDULER_POLL_SECONDS": "0.3", "SMTP_PORT": "9"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "scheduler"], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(2)
    ]
    connection = await asyncpg.connect(os.environ["DATABASE_URL"])
    daily = [job.name for job in JOBS if isinstance(job.schedule, Daily)]

    async def leader_pid() -> int | None:
        return await connection.fetchval(
            "SELECT a.pid FROM pg_locks l JOIN pg_stat_get_activity(l.pid) a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.objid = $1 AND l.granted",
            7_130_003,
        )

    try:
        for _ in range(200):
            done = await connection.fetchval(
                "SELECT count(*) FROM scheduler_job_run WHERE status = 'succeeded' AND job = ANY($1::text[])", daily
            )
            if done == len(daily):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the daily jobs did not run")
        runs = await connection.fetch("SELECT job, period, attempt, runner FROM scheduler_job_run")
        assert sorted(r["job"] for r in runs if r["job"] in daily) == sorted(daily)  # once each
        assert len({r["runner"] for r in runs}) == 1 and all(r["attempt"] == 1 for r in runs)

        first_leader = await leader_pid()
        leader = next(p for p in processes if f":{p.pid}" in runs[0]["runner"])
        leader.send_signal(signal.SIGKILL)
        leader.wait(timeout=10)
        for _ in range(100):
            successor = await leader_pid()
            if successor and successor != first_leader:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("no process took over")
        assert await connection.fetchval(
            "SELECT count(*) FROM scheduler_job_run WHERE job = ANY($1::text[])", daily
        ) == len(daily)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        await connection.close()
