from enum import Enum

from piccolo.columns import Boolean, Bytea, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table


class EmailStatus(str, Enum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"  # gave up after OUTBOX_MAX_ATTEMPTS


class OutboxEmail(Table, tablename="outbox_email"):
    """An email waiting to be sent. `dedupe_key` (optional, unique) makes enqueueing idempotent."""

    id: Serial
    to_address = Varchar(length=255, index=True)
    subject = Varchar(length=300)
    body_text = Text()
    body_html = Text(null=True, default=None)
    dedupe_key = Varchar(length=200, null=True, default=None, unique=True)
    status = Varchar(length=10, choices=EmailStatus, default=EmailStatus.pending, index=True)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(index=True)
    claimed_at = Timestamptz(null=True, default=None)
    last_error = Text(default="")
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)


class OutboxAttachment(Table, tablename="outbox_attachment"):
    """A file sent with an email; `content_id` set means it is shown inline (cid:...) in the HTML body."""

    id: Serial
    email = ForeignKey(OutboxEmail, null=False, index=True)
    filename = Varchar(length=200)
    content_type = Varchar(length=100)
    content = Bytea()
    content_id = Varchar(length=100, null=True, default=None)


class EmailDeliveryAttempt(Table, tablename="email_delivery_attempt"):
    """One try at handing an email to the SMTP server: the delivery log."""

    id: Serial
    email = ForeignKey(OutboxEmail, null=False, index=True)
    at = Timestamptz()
    ok = Boolean()
    error = Text(default="")
