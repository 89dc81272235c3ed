from __future__ import annotations

from datetime import datetime

import msgspec


class ClaimedEmail(msgspec.Struct, kw_only=True):
    """An email a sender has claimed, with what it needs to build and retry the message."""

    id: int
    to_address: str
    subject: str
    body_text: str
    body_html: str | None
    attempts: int
    dedupe_key: str | None


class StoredAttachment(msgspec.Struct, kw_only=True):
    email_id: int
    filename: str
    content_type: str
    content: bytes
    content_id: str | None


class QueueDepth(msgspec.Struct, kw_only=True):
    """Emails still to deliver (pending or being sent), and when the oldest of them was queued."""

    waiting: int
    oldest_created_at: datetime | None
