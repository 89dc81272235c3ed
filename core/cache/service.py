"""A result is cached under the versions of the data it was read from, the business date (listings, leases
and windows turn over by date) and the question asked. The versions are read before the data: a change
committed in between can only make a cached entry newer than its key, never older.

One read of core_data_version per request is the price of a hit: a GET reads every version once, when it
first needs one, and answers all its questions (who is asking, then what they asked) from that one set, as a
read as of the moment it started. A miss costs the full read once per worker: requests that miss on the same
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

from core import clock
from core.cache import repository as repo

T = TypeVar("T")


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
        snapshot.versions = await repo.all_versions()
    return tuple(snapshot.versions.get(name, 0) for name in names)


@contextmanager
def versions_read_once() -> Iterator[None]:
    """Inside this block (one read request), the data versions are read at most once: on first need."""
    token = _snapshot.set(_ReadSnapshot())
    try:
        yield
    finally:
        _snapshot.reset(token)


class VersionedCache(Generic[T]):
    def __init__(self, versions: tuple[str, ...], max_entries: int) -> None:
        self.versions = versions
        self.max_entries = max_entries
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
            return await build()
        key = (await versions(self.versions), clock.today(), question)
        found = self.get(key)
        if found is not None:
            return found
        pending = self._building.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
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
