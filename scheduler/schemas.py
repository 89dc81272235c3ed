"""The scheduler's rows and HTTP shapes: runs, flags, and the report resend."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from core.schemas import Input


class RunRecord(msgspec.Struct, kw_only=True):
    """The claim of one (job, period), as a run outcome carries it."""

    id: int
    attempt: int
    runner: str
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None


class RunView(msgspec.Struct, kw_only=True):
    id: int | None = None
    job: str
    period: str
    status: str
    attempt: int | None = None
    runner: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    result: dict = {}
    error: str = ""


class JobView(msgspec.Struct, kw_only=True):
    name: str
    title: str
    schedule: str
    next_run_at: datetime | None
    last_period: str | None
    last_status: str | None
    last_finished_at: datetime | None


class RunNow(Input):
    period: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}(-\d{2})?$")] | None = None


class FlagView(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    subject_type: str
    subject_id: int
    mark: str
    severity: str
    title: str
    detail: dict
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolution: str


class RaisedFlag(msgspec.Struct, kw_only=True):
    """A flag just inserted, for the emails that announce it."""

    id: int
    kind: str
    subject_type: str
    subject_id: int
    mark: str
    title: str
    detail: dict


class FlagLock(msgspec.Struct, kw_only=True):
    """What acknowledging or resolving a flag checks, read with the row locked."""

    scope_path: str
    acknowledged_at: datetime | None
    resolved_at: datetime | None


class ResolveInput(Input):
    reason: Annotated[str, msgspec.Meta(max_length=2000)]


class ResendInput(Input):
    recipients: (
        Annotated[
            list[Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]], msgspec.Meta(max_length=50)
        ]
        | None
    ) = None


class ResendView(msgspec.Struct, kw_only=True):
    queued: int


class JobHealth(msgspec.Struct, kw_only=True):
    """A job's most recent finished run, and its most recent success."""

    job: str
    last_status: str
    last_duration_ms: int | None
    last_finished_at: datetime | None
    last_success_at: datetime | None
