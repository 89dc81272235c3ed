from piccolo.columns import JSONB, Bytea, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

from core.accounts.tables import User


class IdempotencyKey(Table, tablename="idempotency_key"):
    """A user's Idempotency-Key: the request it was first sent with (its fingerprint) and, once stored, the
    answer that request got. Unique per (account, key); a row without a status is a request in progress,
    held by the `claim` token of the worker running it."""

    id: Serial
    account = ForeignKey(User, null=False)
    key = Varchar(length=255)
    fingerprint = Varchar(length=64)
    claim = Varchar(length=32)
    claimed_at = Timestamptz()
    expires_at = Timestamptz(index=True)
    response_status = Integer(null=True, default=None)
    response_headers = JSONB(null=True, default=None)
    response_body = Bytea(null=True, default=None)
