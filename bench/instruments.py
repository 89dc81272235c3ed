"""What the benchmarks count: SQL statements sent, and the resident set size peak of this process."""

from __future__ import annotations

import threading
import time

import asyncpg
import psutil


class StatementLog:
    """Every statement sent on any asyncpg connection while active, with the time spent waiting for each.
    Pool resets are kept apart: the pool sends its reset query when a connection goes back, a round trip the
    application did not ask for."""

    METHODS = ("execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_records_to_table")

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.seconds = 0.0
        self.pool_resets = 0

    def __enter__(self) -> StatementLog:
        self.originals = {name: getattr(asyncpg.connection.Connection, name) for name in self.METHODS}
        for name, original in self.originals.items():
            setattr(asyncpg.connection.Connection, name, self._counting(original))
        return self

    def __exit__(self, *exc_info) -> None:
        for name, original in self.originals.items():
            setattr(asyncpg.connection.Connection, name, original)

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
                log.seconds += time.perf_counter() - started
                log.statements.append(" ".join(str(query).split())[:120])
        return counted

    def count(self, *, leaving_out: tuple[str, ...] = ()) -> int:
        return sum(1 for s in self.statements if not any(word in s for word in leaving_out))


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
