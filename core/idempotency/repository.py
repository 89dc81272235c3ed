"""Queries on idempotency keys. Each is one statement, so each is its own short transaction."""

from __future__ import annotations

import json
from datetime import datetime

from core.idempotency.tables import IdempotencyKey


async def claim(
    *, account: int, key: str, fingerprint: str, claim: str, now: datetime, expires_at: datetime, stale_before: datetime
) -> bool:
    """Take the key for a request: a new row, or over an expired row or a claim abandoned by stale_before.
    False when another request holds it or its answer is stored."""
    rows = await IdempotencyKey.raw(
        "INSERT INTO idempotency_key (account, key, fingerprint, claim, claimed_at, expires_at) "
        "VALUES ({}, {}, {}, {}, {}, {}) "
        "ON CONFLICT (account, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, claim = EXCLUDED.claim, "
        "claimed_at = EXCLUDED.claimed_at, expires_at = EXCLUDED.expires_at, response_status = NULL, "
        "response_headers = NULL, response_body = NULL "
        "WHERE idempotency_key.expires_at <= EXCLUDED.claimed_at "
        "OR (idempotency_key.response_status IS NULL AND idempotency_key.claimed_at <= {}) "
        "RETURNING id",
        account,
        key,
        fingerprint,
        claim,
        now,
        expires_at,
        stale_before,
    )
    return bool(rows)


async def find(account: int, key: str) -> dict | None:
    rows = await IdempotencyKey.raw(
        "SELECT fingerprint, response_status, response_headers, response_body FROM idempotency_key "
        "WHERE account = {} AND key = {}",
        account,
        key,
    )
    if not rows:
        return None
    row = rows[0]
    if row["response_headers"] is not None:  # asyncpg hands jsonb over as its text
        row["response_headers"] = json.loads(row["response_headers"])
    return row


async def store(*, account: int, key: str, claim: str, status: int, headers: list[list[str]], body: bytes) -> None:
    await IdempotencyKey.raw(
        "UPDATE idempotency_key SET response_status = {}, response_headers = {}::jsonb, response_body = {} "
        "WHERE account = {} AND key = {} AND claim = {}",
        status,
        json.dumps(headers),
        body,
        account,
        key,
        claim,
    )


async def release(*, account: int, key: str, claim: str) -> None:
    await IdempotencyKey.raw(
        "DELETE FROM idempotency_key WHERE account = {} AND key = {} AND claim = {} AND response_status IS NULL",
        account,
        key,
        claim,
    )


async def delete_expired(now: datetime, limit: int) -> None:
    await IdempotencyKey.raw(
        "DELETE FROM idempotency_key WHERE id IN (SELECT id FROM idempotency_key WHERE expires_at <= {} "
        "LIMIT {} FOR UPDATE SKIP LOCKED)",
        now,
        limit,
    )
