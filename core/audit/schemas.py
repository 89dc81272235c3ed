from __future__ import annotations

from datetime import datetime

import msgspec


class AuditEntry(msgspec.Struct, kw_only=True):
    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    action: str
    entity_type: str
    entity_id: str
    before: object
    after: object
    reason: str


class ChainRow(msgspec.Struct, kw_only=True):
    """A sealed audit row and the canonical text its hash covers."""

    id: int
    seq: int
    hash: str
    canonical: str
