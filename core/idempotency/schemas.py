from __future__ import annotations

import msgspec


class KeyRecord(msgspec.Struct, kw_only=True):
    """What a key holds: the fingerprint of its first request and, once kept, that request's answer."""

    fingerprint: str
    response_status: int | None
    response_headers: list[list[str]] | None
    response_body: bytes | None
