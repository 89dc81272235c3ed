"""What the benchmarks count: SQL statements sent, the resident set size peak of this process, and CPU seconds."""

from __future__ import annotations

import threading
import time

import asyncpg
import psutil

from bench.servers import cpu_seconds, cpu_seconds_used


class StatementLog:
    """Every statement sent on any asyncpg connection while active, with the time spent waiting for each and
    the rows each returned or changed (what a job's work is measured in). Pool resets are kept apart: the pool
    sends its reset query when a connection goes back, a round trip the application did not ask for."""

    METHODS = ("execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_records_to_table")

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.row_counts: list[int] = []  # per statement, in the order of `statements`
        self.seconds = 0.0
        self.pool_resets = 0

    def __enter__(self) -> StatementLog:
        self.originals = {name: getattr(asyncpg.connection.Connection, name) for name in self.METHODS}
        for name, original in self.originals.items():
            setattr(asyncpg.connection.Connection, name, self._counting(name, original))
        return self

    def __exit__(self, *exc_info) -> None:
        for name, original in self.originals.items():
            setattr(asyncpg.connection.Connection, name, original)

    def _counting(self, method: str, original):
        log = self

        async def counted(connection, query, *args, **kwargs):
            if query == connection.get_reset_query():
                log.pool_resets += 1
                return await original(connection, query, *args, **kwargs)
            started = time.perf_counter()
            answer = None
            try:
                answer = await original(connection, query, *args, **kwargs)
                return answer
            finally:
                log.seconds += time.perf_counter() - started
                log.statements.append(" ".join(str(query).split())[:120])
                log.row_counts.append(rows_in(method, answer))

        return counted

    def count(self, *, leaving_out: tuple[str, ...] = ()) -> int:
        return sum(1 for s in self.statements if not any(word in s for word in leaving_out))

    def rows(self, *, leaving_out: tuple[str, ...] = ()) -> int:
        return sum(
            n
            for s, n in zip(self.statements, self.row_counts, strict=True)
            if not any(word in s for word in leaving_out)
        )


def rows_in(method: str, answer: object) -> int:
    """The rows one call returned (fetch, fetchrow, fetchval) or changed (execute and COPY answer with a
    status such as "UPDATE 12" or "COPY 500"; "SELECT 1" from execute counts its 1 row)."""
    if answer is None:
        return 0
    if method == "fetch":
        return len(answer)
    if method in ("fetchrow", "fetchval"):
        return 1
    if isinstance(answer, str):
        last = answer.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0
    return 0


class ResidentPeak:
    """Peak resident set size of this process above the level at entry, sampled in a thread."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.process = psutil.Process()

    def __enter__(self) -> ResidentPeak:
        self.baseline = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc_info) -> None:
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def delta_mb(self) -> float:
        return (self.peak - self.baseline) / 2**20

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20


class CpuSeconds:
    """CPU seconds used meanwhile by this process and by a server process tree (the PostgreSQL postmaster and
    its backends). A backend that exits before the end takes its seconds with it."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.seconds = 0.0

    def __enter__(self) -> CpuSeconds:
        self.server_before = cpu_seconds(self.server_pid)
        self.own_before = time.process_time()
        return self

    def __exit__(self, *exc_info) -> None:
        self.seconds = (
            time.process_time() - self.own_before + cpu_seconds_used(self.server_before, cpu_seconds(self.server_pid))
        )
