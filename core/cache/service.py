"""A result is cached under the versions of the data it was read from, the business date (listings, leases
and windows turn over by date) and the question asked. The versions are read before the data: a change
committed in between can only make a cached entry newer than its key, never older.

One read of core_data_version per request is the most a hit costs: a GET reads every version once, when it
first needs one, and answers all its questions (who is asking, then what they asked) from that one set. GETs
that need the versions at the same time share a read that starts after they asked (_SharedReads), so a busy
worker sends far fewer reads than it answers requests, and none answers from data older than its arrival. A miss costs the full read once per worker: requests that miss on the same
key together wait for one build rather than each running it (the morning every official opens the overview).
Each cache keeps its most recently used entries only.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

from prometheus_client import Counter

from core import clock
from core.cache import repository as repo

T = TypeVar("T")

# Scraped at /metrics; with several web workers prometheus_client adds up every worker's counts.
CACHE_HITS = Counter("fcom_cache_hits", "Answers a read cache gave without reading the data", ["cache"])
CACHE_MISSES = Counter("fcom_cache_misses", "Answers a read cache had to build from the data", ["cache"])


class _ReadSnapshot:
    __slots__ = ("versions",)

    def __init__(self) -> None:
        self.versions: dict[str, int] | None = None


_snapshot: ContextVar[_ReadSnapshot | None] = ContextVar("data_versions", default=None)


async def versions(names: tuple[str, ...]) -> tuple[int, ...]:
    """The versions of `names`: as of the start of the current read request, or now outside one."""
    snapshot = _snapshot.get()
    if snapshot is None:
        return await repo.versions(names)
    if snapshot.versions is None:
        snapshot.versions = await _shared_reads.read()
    return tuple(snapshot.versions.get(name, 0) for name in names)


class _SharedReads:
    """Reads of every version, shared by the requests that ask while one is under way.

    A read only answers those who asked before it started: its snapshot is then at least as new as anything
    committed before they asked. Whoever asks while a read is under way waits for the next one, which starts as
    soon as that read is in and answers everyone who asked meanwhile. One request alone still costs one read;
    under load a worker sends one read at a time, however many requests are waiting.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next: asyncio.Future[dict[str, int]] | None = None  # the read nobody has started yet
        self._reader: asyncio.Task[None] | None = None

    async def read(self) -> dict[str, int]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests start one per test): nothing carries over
            self._loop, self._next, self._reader = loop, None, None
        if self._next is None:
            self._next = loop.create_future()
            if self._reader is None:
                self._reader = loop.create_task(self._read_while_asked())
        # A request that gives up (its client gone) does not cancel the read the others wait for.
        return await asyncio.shield(self._next)

    async def _read_while_asked(self) -> None:
        answer = None
        try:
            while self._next is not None:
                answer, self._next = self._next, None
                try:
                    answer.set_result(await repo.all_versions())
                except Exception as exc:
                    answer.set_exception(exc)
                    answer.exception()  # retrieved here: every waiter gets it too
        finally:
            self._reader = None
            for waiting in (answer, self._next):  # only when cancelled (the loop is closing)
                if waiting is not None and not waiting.done():
                    waiting.cancel()
            self._next = None


_shared_reads = _SharedReads()


@contextmanager
def versions_read_once() -> Iterator[None]:
    """Inside this block (one read request), the data versions are read at most once: on first need."""
    token = _snapshot.set(_ReadSnapshot())
    try:
        yield
    finally:
        _snapshot.reset(token)


class VersionedCache(Generic[T]):
    def __init__(self, versions: tuple[str, ...], max_entries: int, name: str | None = None) -> None:
        self.versions = versions
        self.max_entries = max_entries
        self.name = name or "+".join(versions)
        self._hits = CACHE_HITS.labels(self.name)
        self._misses = CACHE_MISSES.labels(self.name)
        self._entries: OrderedDict[Hashable, T] = OrderedDict()
        self._building: dict[Hashable, asyncio.Future[T]] = {}

    def get(self, key: Hashable) -> T | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: Hashable, value: T) -> None:
        if self.max_entries <= 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def read(self, question: Hashable, build: Callable[[], Awaitable[T]]) -> T:
        """The answer to `question`, built by `build` unless this worker already built it from the same data."""
        if self.max_entries <= 0:
            self._misses.inc()
            return await build()
        key = (await versions(self.versions), clock.today(), question)
        found = self.get(key)
        if found is not None:
            self._hits.inc()
            return found
        pending = self._building.get(key)
        if pending is not None:
            self._hits.inc()  # another request is building it: this one does not read the data
            return await asyncio.shield(pending)
        self._misses.inc()
        pending = self._building[key] = asyncio.get_running_loop().create_future()
        try:
            found = await build()
        except BaseException as exc:
            pending.set_exception(exc)
            pending.exception()  # retrieved here: the waiters, if any, get it too
            raise
        else:
            pending.set_result(found)
            self.put(key, found)
            return found
        finally:
            del self._building[key]
