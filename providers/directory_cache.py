"""Directory pages cached per worker, keyed by the directory version the database keeps.

The version changes (by trigger, on commit) whenever an operator or a listing changes; the business
date is part of the key because listings expire by date. A hit costs one primary-key read.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import date


class PageCache:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._pages: OrderedDict[tuple, bytes] = OrderedDict()

    def get(self, version: int, today: date, query: tuple) -> bytes | None:
        key = (version, today, query)
        body = self._pages.get(key)
        if body is not None:
            self._pages.move_to_end(key)
        return body

    def put(self, version: int, today: date, query: tuple, body: bytes) -> None:
        if self.max_entries <= 0:
            return
        self._pages[(version, today, query)] = body
        self._pages.move_to_end((version, today, query))
        while len(self._pages) > self.max_entries:
            self._pages.popitem(last=False)
