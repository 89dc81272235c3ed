"""A flag a domain job found, for the scheduler to raise: domains cannot import the scheduler that stores it."""

from __future__ import annotations

import msgspec


class FlagDraft(msgspec.Struct, kw_only=True):
    """Raised once per (kind, subject_type, subject_id, mark); `scope_path` is the org subtree that sees it and
    works on it, `also_paths` further orgs that see it (the operator a listing belongs to, its recommender)."""

    kind: str
    subject_type: str
    subject_id: int
    mark: str
    severity: str
    scope_path: str
    title: str
    detail: dict
    also_paths: list[str] = []
