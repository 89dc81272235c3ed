"""Units of work that PostgreSQL fails to break a deadlock are run again, not reported as a server error."""

from __future__ import annotations

import asyncio

from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

from core.db import DatabaseBusy, in_transaction, transaction


def crossing(runs: list[str]):
    """Two units of work taking two locks in opposite orders, each waiting until the other holds its first:
    the first time they meet, one of them is in a deadlock."""
    both_hold_one = asyncio.Barrier(2)

    def work(name: str, first: int, second: int):
        async def run() -> str:
            runs.append(name)
            await engine_finder().run_querystring(QueryString("SELECT pg_advisory_xact_lock({})", first))
            if runs.count(name) == 1:  # a rerun finds the other one finished or about to
                await asyncio.wait_for(both_hold_one.wait(), timeout=5)
            await engine_finder().run_querystring(QueryString("SELECT pg_advisory_xact_lock({})", second))
            return name

        return run

    return work("a", 1601, 1602), work("b", 1602, 1601)


async def test_without_a_rerun_the_deadlock_fails_one_unit_of_work():
    runs: list[str] = []
    a, b = crossing(runs)

    async def once(work):
        async with transaction():
            return await work()

    outcomes = await asyncio.gather(once(a), once(b), return_exceptions=True)
    assert sorted(type(o).__name__ for o in outcomes) == ["DeadlockDetectedError", "str"]


async def test_a_unit_of_work_failed_by_a_deadlock_is_run_again_and_both_complete():
    runs: list[str] = []
    a, b = crossing(runs)

    assert await asyncio.gather(in_transaction(a), in_transaction(b)) == ["a", "b"]
    assert sorted(runs) in (["a", "a", "b"], ["a", "b", "b"])  # one of them ran twice


async def test_a_deadlock_on_every_attempt_is_a_busy_answer_not_a_server_error():
    runs: list[str] = []
    a, b = crossing(runs)

    outcomes = await asyncio.gather(
        in_transaction(a, attempts=1), in_transaction(b, attempts=1), return_exceptions=True
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["DatabaseBusy", "str"]
    busy = next(o for o in outcomes if isinstance(o, DatabaseBusy))
    assert (busy.status_code, busy.code) == (503, "database.busy") and busy.message


async def test_inside_an_outer_transaction_the_deadlock_goes_to_the_outer_unit_of_work():
    runs: list[str] = []
    a, b = crossing(runs)

    async def joined(work):
        async with transaction():
            return await in_transaction(work)

    outcomes = await asyncio.gather(joined(a), joined(b), return_exceptions=True)
    assert sorted(type(o).__name__ for o in outcomes) == ["DeadlockDetectedError", "str"]
    assert len(runs) == 2
