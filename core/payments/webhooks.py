"""Signing and verifying payment-server webhooks (the Stripe-Signature scheme). Pure: no I/O, clock injectable.

The header is `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" under the endpoint secret>`. While a
secret is being rolled the server sends several v1 values; one match is enough. Other schemes (v0, test-mode
extras) are ignored. The timestamp is signed too, so a captured delivery cannot be replayed later: it is
refused when further than the tolerance (default 5 minutes) from now, in either direction.

A verified event can still arrive twice or out of order: the receiver dedupes event ids and re-fetches the
object before changing any state. `sign` serves tests and tools that replay events to our own endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import datetime
from typing import Any

from core import clock
from core.errors import DomainError

SIGNATURE_HEADER = "Stripe-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")


class SignatureInvalid(DomainError):
    """A webhook that cannot be trusted; `reason` says why, for the log (never for the sender)."""

    status_code = 400
    code = "payment.signature_invalid"
    message = "支付回调签名无效"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__()

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


def compute_signature(payload: bytes, secret: str, timestamp: int) -> str:
    signed = str(int(timestamp)).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(payload: bytes | str, secret: str, timestamp: int) -> str:
    """The Stripe-Signature header value for `payload` sent at `timestamp` (unix seconds)."""
    return f"t={int(timestamp)},{SCHEME}={compute_signature(_bytes(payload), secret, timestamp)}"


def verify(
    payload: bytes | str,
    header: str | None,
    secret: str,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: datetime | float | None = None,
) -> dict[str, Any]:
    """The event in `payload` if `header` proves it came from the holder of `secret` within the tolerance.

    Raises `SignatureInvalid` for a missing or garbled header, no matching v1 signature, a timestamp outside
    the tolerance, or a signed body that is not a JSON event object. `payload` must be the raw body as
    received: re-serialised JSON does not verify.
    """
    if not secret:
        raise SignatureInvalid("no webhook secret configured")
    body = _bytes(payload)
    timestamp, candidates = _parse_header(header)
    expected = compute_signature(body, secret, timestamp)
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureInvalid("no v1 signature matches the payload")

    current = _seconds(now)
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureInvalid(f"timestamp {timestamp} is {current - timestamp:.0f}s from now, beyond the tolerance")

    try:
        event = json.loads(body)
    except ValueError:
        raise SignatureInvalid("signed payload is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise SignatureInvalid("signed payload is not an event object")
    return event


def _parse_header(header: str | None) -> tuple[int, list[str]]:
    if not header or not isinstance(header, str):
        raise SignatureInvalid(f"missing {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or not key:
            raise SignatureInvalid("garbled signature header")
        if key == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                raise SignatureInvalid("garbled signature timestamp")
            timestamp = int(value)
        elif key == SCHEME and _HEX_SIGNATURE.fullmatch(value):
            candidates.append(value)
    if timestamp is None:
        raise SignatureInvalid("signature header has no timestamp")
    if not candidates:
        raise SignatureInvalid("signature header has no v1 signature")
    return timestamp, candidates


def _bytes(payload: bytes | str) -> bytes:
    return payload.encode() if isinstance(payload, str) else bytes(payload)


def _seconds(now: datetime | float | None) -> float:
    if now is None:
        return clock.now().timestamp()
    if isinstance(now, datetime):
        return now.timestamp()
    return float(now)
