"""Shared request/response building blocks."""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for request bodies: an unknown field is a 400, not silently dropped."""


class Page(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    total: int
    limit: int
    offset: int


class ErrorBody(msgspec.Struct, kw_only=True):
    code: str
    message: str
    detail: object = None
