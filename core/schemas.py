"""Shared request/response building blocks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from enum import Enum
from typing import Any, ClassVar, Generic, Self, TypeVar

import msgspec

from core.dates import EARLIEST, check_date
from core.pagination import PageParams

T = TypeVar("T")


class View(msgspec.Struct, kw_only=True):
    """A response body that is read from a richer row: `of` keeps the fields the view declares."""

    @classmethod
    def of(cls, row: msgspec.Struct) -> Self:
        return msgspec.convert(row, cls, from_attributes=True)


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for request bodies: an unknown field is a 400, not silently dropped; a date outside 2000-2100 is a
    422 (`earliest` widens the range for a field that records the past, such as a founding date)."""

    earliest: ClassVar[dict[str, date]] = {}

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, date) and not isinstance(value, datetime):
                check_date(value, name, earliest=self.earliest.get(name, EARLIEST))


def _plain(value):
    if isinstance(value, msgspec.Struct):
        return {k: _plain(v) for k, v in msgspec.structs.asdict(value).items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def as_fields(data: msgspec.Struct, *, drop_none: bool = False) -> dict:
    """A request body as the plain dict services take: enums as their values, nested structs as dicts,
    dates and Decimals kept. `drop_none` leaves out fields not given (for partial updates)."""
    fields = {k: _plain(v) for k, v in msgspec.structs.asdict(data).items()}
    return {k: v for k, v in fields.items() if v is not None} if drop_none else fields


class Page(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, rows: Iterable[Any], total: int, page: PageParams, view: Callable[[Any], T] | None = None) -> Page[T]:
        """One page of `rows` (each passed through `view` when given) out of `total`."""
        items = [view(row) for row in rows] if view is not None else list(rows)
        return cls(items=items, total=total, limit=page.limit, offset=page.offset)


class ErrorBody(msgspec.Struct, kw_only=True):
    code: str
    message: str
    detail: object = None
