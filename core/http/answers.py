"""Bodies of cached answers, encoded once per answer."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

from litestar import MediaType, Response
from litestar.serialization import encode_json

from core.settings import get_settings


class EncodedAnswers:
    """JSON bodies of answers a service hands out from its read cache, each encoded once.

    While its data is unchanged, a service answers a repeated question with the very same object, so the body
    is kept beside that object and encoded again only for a new one. The entry holds the object itself, so its
    id cannot pass to another object while the entry lives. Everything else the view is built from (the
    request's own parameters) is part of the key. With read caches off (READ_CACHE_ENTRIES=0), every answer
    is new and encoded each time, as before.

        bodies = EncodedAnswers()
        return bodies.response(result, lambda: ResultView(...), limit)
    """

    def __init__(self, max_entries: int | None = None) -> None:
        self.max_entries = get_settings().read_cache_entries if max_entries is None else max_entries
        self._entries: OrderedDict[tuple, tuple[object, bytes]] = OrderedDict()

    def body(self, answer: object, view: Callable[[], object], *params: Hashable) -> bytes:
        key = (id(answer), *params)
        found = self._entries.get(key)
        if found is not None and found[0] is answer:
            self._entries.move_to_end(key)
            return found[1]
        body = encode_json(view())
        if self.max_entries > 0:
            self._entries[key] = (answer, body)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return body

    def response(self, answer: object, view: Callable[[], object], *params: Hashable) -> Response:
        return Response(content=self.body(answer, view, *params), media_type=MediaType.JSON)
