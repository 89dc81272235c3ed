"""Stripe's Idempotency-Key contract for our own POSTs.

A user's key is claimed for a request before its handler runs, then holds the first answer for 24 hours:
the same request again gets that answer replayed, another request under the key is refused, and a
duplicate arriving while the first still runs waits for its answer a few seconds, then is told to retry.
A 5xx answer is not kept, so the client may retry under the same key; 4xx answers are kept, as Stripe does.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from core import clock
from core.idempotency import repository
from core.idempotency.errors import IdempotencyInProgress, IdempotencyKeyInvalid, IdempotencyKeyReused
from core.settings import get_settings

KEEP_FOR = timedelta(hours=24)
# A claim this old without an answer was left by a worker that died while running the request.
STALE_CLAIM = timedelta(minutes=10)
MAX_KEY_LENGTH = 255
POLL_SECONDS = 0.05
EXPIRED_REMOVED_PER_CLAIM = 100


@dataclass(frozen=True)
class Claim:
    account: int
    key: str
    token: str


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def checked_key(values: list[bytes]) -> str:
    """The one Idempotency-Key header's value: 1-255 printable ASCII characters."""
    if len(values) != 1:
        raise IdempotencyKeyInvalid(detail={"headers": len(values)})
    raw = values[0]
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or not all(0x20 <= byte <= 0x7E for byte in raw):
        raise IdempotencyKeyInvalid(detail={"length": len(raw), "max_length": MAX_KEY_LENGTH})
    return raw.decode("ascii")


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


async def begin(account: int, key: str, request_fingerprint: str) -> Claim | StoredAnswer:
    """Claim the key for this request, or the answer stored under it. Raises IdempotencyKeyReused for another
    request's key and IdempotencyInProgress when the first request is still running after the wait."""
    deadline = time.monotonic() + get_settings().idempotency_wait_seconds
    token = secrets.token_hex(16)
    await repository.delete_expired(clock.now(), EXPIRED_REMOVED_PER_CLAIM)
    while True:
        now = clock.now()
        if await repository.claim(
            account=account,
            key=key,
            fingerprint=request_fingerprint,
            claim=token,
            now=now,
            expires_at=now + KEEP_FOR,
            stale_before=now - STALE_CLAIM,
        ):
            return Claim(account, key, token)
        found = await repository.find(account, key)
        if found is None:  # released by a request that failed with a 5xx: claim it again
            continue
        if found.fingerprint != request_fingerprint:
            raise IdempotencyKeyReused()
        if found.response_status is not None:
            return StoredAnswer(
                found.response_status,
                [(name.encode("latin-1"), value.encode("latin-1")) for name, value in found.response_headers or []],
                found.response_body or b"",
            )
        if time.monotonic() >= deadline:
            raise IdempotencyInProgress()
        await asyncio.sleep(POLL_SECONDS)


async def finish(claim: Claim, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """Keep the answer under the key; a 5xx releases the key instead, so a retry runs the request again."""
    if status >= 500:
        await abandon(claim)
        return
    await repository.store(
        account=claim.account,
        key=claim.key,
        claim=claim.token,
        status=status,
        headers=[[name.decode("latin-1"), value.decode("latin-1")] for name, value in headers],
        body=body,
    )


async def abandon(claim: Claim) -> None:
    """The request ended without an answer to keep: the key is free again."""
    await repository.release(account=claim.account, key=claim.key, claim=claim.token)
