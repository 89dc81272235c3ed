"""Running jobs exactly once per period, whatever the number of scheduler processes.

- One leader: each process tries a PostgreSQL session advisory lock on a connection of its own; the holder
  runs the jobs, the others retry every few seconds and take over when the leader's connection dies.
- One run per (job, period): before a job acts, the runner takes an advisory lock on (job, period) and
  claims the JobRun row. A row still 'running' whose lock is free was left by a runner that died, and is
  taken over. A succeeded period is never run again by the scheduler.
- Catch-up: on becoming leader, and at each trigger, every period since the last one done is run, oldest
  first.
- Effects carry their own natural keys (lease × month, flag × threshold, report × month × recipient), so
  a job re-run after a crash finishes what was left and duplicates nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import msgspec
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from asyncpg import Connection
from piccolo.engine import PostgresEngine, engine_finder

from core import clock
from core.clock import BUSINESS_TZ
from scheduler import repository as repo
from scheduler.schedule import Daily, Every, Monthly, due_periods, normalise_period
from scheduler.schemas import RunRecord, RunView

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    title: str  # in Chinese, for the run log people read
    schedule: Daily | Monthly | Every
    run: Callable[..., Awaitable[dict]]  # run(period_date) for Daily/Monthly jobs, run() for Every


@dataclass(frozen=True)
class RunOutcome:
    job: str
    period: str
    status: str  # succeeded, failed, skipped (done before, or running elsewhere)
    result: dict
    run: RunRecord | None = None  # the claimed run; for a skip, the earlier run's

    def view(self) -> RunView:
        claim = msgspec.structs.asdict(self.run) if self.run else {}
        return RunView(job=self.job, period=self.period, status=self.status, result=self.result, **claim)


def postgres() -> PostgresEngine:
    engine = engine_finder()
    assert isinstance(engine, PostgresEngine), "the scheduler needs PostgreSQL"
    return engine


def runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


_jobs_running = 0


@contextlib.contextmanager
def heap_set_aside() -> Iterator[None]:
    """While a job runs, the cyclic garbage collector leaves alone what the process held before it started.

    A job at province size holds tens of thousands of rows, each several objects. The more a job allocates,
    the more full collections it triggers, and each one walked every object in the process, the modules and
    the application included, so a job's collection time grew faster than its rows: the overdue job made one
    full collection (0.1 s) at city size and four (0.4 to 1.1 s together) at province size. With what was
    there before frozen, they take under 0.1 s together. It is unfrozen when the last job running in the process
    ends, and collected as usual from then on.
    """
    global _jobs_running
    if _jobs_running == 0:
        gc.freeze()
    _jobs_running += 1
    try:
        yield
    finally:
        _jobs_running -= 1
        if _jobs_running == 0:
            gc.unfreeze()


async def run_period(job: Job, period: str) -> RunOutcome:
    """Claim (job, period) and run it, or skip it when it is done or running elsewhere."""
    if isinstance(job.schedule, Every):
        raise ValueError(f"{job.name} has no periods; use run_due")
    connection = await postgres().get_new_connection()
    try:
        if not await repo.try_lock_period(connection, job.name, period):
            return RunOutcome(
                job.name,
                period,
                "skipped",
                {"reason": "running elsewhere"},
                await repo.get_run(connection, job.name, period),
            )
        try:
            run_id = await repo.claim_run(connection, job.name, period, runner_name(), clock.now())
            if run_id is None:
                return RunOutcome(
                    job.name,
                    period,
                    "skipped",
                    {"reason": "done before"},
                    await repo.get_run(connection, job.name, period),
                )
            started = time.monotonic()
            try:
                with heap_set_aside():
                    result = await job.run(job.schedule.as_date(period))
                status, error = "succeeded", ""
            except Exception as exc:  # a failed run is recorded and retried at the next trigger
                log.exception("job %s for %s failed", job.name, period)
                result, status, error = {}, "failed", "".join(traceback.format_exception_only(exc)).strip()
            run = await repo.finish_run(
                connection,
                run_id,
                status=status,
                result=result or {},
                error=error,
                now=clock.now(),
                duration_ms=int((time.monotonic() - started) * 1000),
            )
            return RunOutcome(job.name, period, status, result or {"error": error}, run)
        finally:
            await repo.unlock_period(connection, job.name, period)
    finally:
        await connection.close()


async def run_due(job: Job, last_done: str | None = None) -> list[RunOutcome]:
    """Every due period of a job, oldest first; stops at the first failure so periods stay in order."""
    if isinstance(job.schedule, Every):
        return [RunOutcome(job.name, "", "succeeded", await job.run())]
    if last_done is None:
        last_done = (await repo.last_succeeded_periods()).get(job.name)
    outcomes = []
    for period in due_periods(job.schedule, last_done, clock.now()):
        outcome = await run_period(job, period)
        outcomes.append(outcome)
        if outcome.status == "failed":
            break
    return outcomes


async def run_now(job: Job, period: str | None = None) -> list[RunOutcome]:
    """A run asked for by a person: the period given, or every due one. A period done before is not run
    again; it comes back skipped with the run that did it, also when no period was given and none is due."""
    if isinstance(job.schedule, Every):
        return await run_due(job)
    if period is not None:
        return [await run_period(job, normalise_period(job.schedule, period))]
    last_done = (await repo.last_succeeded_periods()).get(job.name)
    outcomes = await run_due(job, last_done)
    if outcomes or last_done is None:
        return outcomes
    return [await run_period(job, last_done)]


async def run_all_due(jobs: list[Job]) -> list[RunOutcome]:
    last = await repo.last_succeeded_periods()
    outcomes = []
    for job in jobs:
        if not isinstance(job.schedule, Every):
            outcomes += await run_due(job, last.get(job.name))
    return outcomes


def next_run_times(jobs: list[Job]) -> dict[str, datetime | None]:
    now = clock.now().astimezone(BUSINESS_TZ)
    return {job.name: job.schedule.trigger().get_next_fire_time(None, now) for job in jobs}


class Scheduler:
    """One scheduler process: waits to lead, then catches up and runs the jobs on their triggers."""

    def __init__(self, jobs: list[Job], *, poll_seconds: float = 2.0, heartbeat: Path | None = None) -> None:
        self.jobs = jobs
        self.poll_seconds = poll_seconds
        self.leading = asyncio.Event()
        self._stopping = asyncio.Event()
        self._lock_connection: Connection | None = None
        self.heartbeat = heartbeat

    def _beat(self) -> None:
        """Touches the heartbeat file each time round, leading or waiting, once the database has answered: a
        container's health check reads its age (fcom scheduler-health)."""
        if self.heartbeat is not None:
            self.heartbeat.touch()

    async def become_leader(self) -> None:
        """Returns once this process holds the leader lock."""
        while not self._stopping.is_set():
            connection = await postgres().get_new_connection()
            self._beat()
            if await repo.try_lock_leader(connection):
                self._lock_connection = connection
                self.leading.set()
                log.info("scheduler %s leads", runner_name())
                return
            await connection.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.poll_seconds)

    async def _still_leading(self) -> bool:
        if self._lock_connection is None:
            return False
        try:
            await self._lock_connection.fetchval("SELECT 1")
            return True
        except Exception:  # the connection is gone, and the lock with it
            return False

    async def run(self) -> None:
        while not self._stopping.is_set():
            await self.become_leader()
            if self._stopping.is_set():
                break
            scheduler = AsyncIOScheduler(timezone=BUSINESS_TZ)
            for job in self.jobs:
                scheduler.add_job(
                    self._fire,
                    job.schedule.trigger(),
                    args=[job],
                    id=job.name,
                    coalesce=True,
                    max_instances=1,
                    misfire_grace_time=None,
                )
            try:
                await run_all_due(self.jobs)  # catch up whatever was missed while nobody led
                scheduler.start()
                while not self._stopping.is_set() and await self._still_leading():
                    self._beat()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), self.poll_seconds)
            finally:
                scheduler.shutdown(wait=False)
                self.leading.clear()
                await self._release()

    async def _fire(self, job: Job) -> None:
        try:
            await run_due(job)
        except Exception:  # keep the scheduler alive; the next trigger catches up
            log.exception("job %s could not run", job.name)

    async def _release(self) -> None:
        if self._lock_connection is not None:
            with contextlib.suppress(Exception):  # already gone
                await self._lock_connection.close()
            self._lock_connection = None

    def stop(self) -> None:
        self._stopping.set()
