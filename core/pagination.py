"""Limit/offset query parameters shared by every list endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from litestar.params import Parameter

MAX_PAGE_SIZE = 200
Row = TypeVar("Row")


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


def provide_page_params(
    limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE_SIZE, description="每页条数")] = 50,
    offset: Annotated[int, Parameter(ge=0, description="跳过条数")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


def split_total(rows: list[dict]) -> tuple[list[dict], int]:
    """Rows fetched with `count(*) OVER () AS total`: strip the column and return (rows, total)."""
    total = rows[0]["total"] if rows else 0
    for row in rows:
        row.pop("total", None)
    return rows, total


async def with_total(
    fetch: Callable[[int, int], Awaitable[tuple[list[Row], int]]], limit: int, offset: int
) -> tuple[list[Row], int]:
    """Run `fetch(limit, offset)`; a page past the end has no row to carry the window total, so ask once
    more for the first row to learn it."""
    rows, total = await fetch(limit, offset)
    if not rows and offset > 0:
        _, total = await fetch(1, 0)
    return rows, total
