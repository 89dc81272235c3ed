"""Queries on idempotency keys. Each is one statement, so each is its own short transaction."""

from __future__ import annotations

import json
from datetime import datetime

import msgspec

from core.idempotency.schemas import KeyRecord
from core.idempotency.tables import IdempotencyKey


async def claim(
    *, account: int, key: str, fingerprint: str, claim: str, now: datetime, expires_at: datetime, stale_before: datetime
) -> bool:
    """Take the key for a request: a new row, or over an expired row or a claim abandoned by stale_before.
    False when another request holds it or its answer is stored."""
    # An upsert that overwrites only on a condition over the old and the new row: no query-builder spelling.
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


async def find(account: int, key: str) -> KeyRecord | None:
    row = (
        await IdempotencyKey.select(
            IdempotencyKey.fingerprint,
            IdempotencyKey.response_status,
            IdempotencyKey.response_headers,
            IdempotencyKey.response_body,
        )
        .where(IdempotencyKey.account == account, IdempotencyKey.key == key)
        .first()
        .output(load_json=True)
    )
    return None if row is None else msgspec.convert(row, KeyRecord)


async def store(*, account: int, key: str, claim: str, status: int, headers: list[list[str]], body: bytes) -> None:
    await IdempotencyKey.update(
        {
            IdempotencyKey.response_status: status,
            IdempotencyKey.response_headers: json.dumps(headers),
            IdempotencyKey.response_body: body,
        }
    ).where(IdempotencyKey.account == account, IdempotencyKey.key == key, IdempotencyKey.claim == claim)


async def release(*, account: int, key: str, claim: str) -> None:
    await IdempotencyKey.delete().where(
        IdempotencyKey.account == account,
        IdempotencyKey.key == key,
        IdempotencyKey.claim == claim,
        IdempotencyKey.response_status.is_null(),
    )


async def delete_expired(now: datetime, limit: int) -> None:
    # A bounded delete that skips rows other workers hold: the builder has neither LIMIT on DELETE nor SKIP LOCKED.
    await IdempotencyKey.raw(
        "DELETE FROM idempotency_key WHERE id IN (SELECT id FROM idempotency_key WHERE expires_at <= {} "
        "LIMIT {} FOR UPDATE SKIP LOCKED)",
        now,
        limit,
    )
