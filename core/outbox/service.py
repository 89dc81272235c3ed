"""The email outbox: callers enqueue inside their own transaction; a sender delivers later.

No transaction is open while talking to the SMTP server: rows are claimed, the claim is committed,
then each email is sent and its outcome written.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from typing import cast

import aiosmtplib

from core import clock
from core.clock import BUSINESS_TZ
from core.db import transaction
from core.outbox import repository
from core.outbox.schemas import ClaimedEmail, StoredAttachment
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

STALE_CLAIM = timedelta(minutes=10)
MAX_BACKOFF = timedelta(hours=6)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes
    content_id: str | None = None  # set to show inline in the HTML body as cid:<content_id>

    def __post_init__(self) -> None:
        # RFC 2392: a Content-ID is a msg-id, "left@right"; a bare word is a defect mail clients may refuse.
        if self.content_id is not None and not re.fullmatch(r"[^\s<>@\"]+@[^\s<>@\"]+", self.content_id):
            raise ValueError(f"content_id must look like left@right, not {self.content_id!r}")


@dataclass
class SendResult:
    sent: int = 0
    retried: int = 0
    gave_up: int = 0
    errors: list[str] = field(default_factory=list)


async def enqueue(
    to_address: str,
    subject: str,
    body_text: str,
    *,
    body_html: str | None = None,
    attachments: Sequence[Attachment] = (),
    dedupe_key: str | None = None,
) -> int | None:
    """Queue one email. With a dedupe_key, queueing the same key twice queues it once (returns None)."""
    email_id = await repository.insert_email(
        to_address=to_address,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        dedupe_key=dedupe_key,
        now=clock.now(),
    )
    if email_id is not None:
        for a in attachments:
            await repository.insert_attachment(
                email_id=email_id,
                filename=a.filename,
                content_type=a.content_type,
                content=a.content,
                content_id=a.content_id,
            )
    return email_id


async def enqueue_many(emails: list[tuple[str, str, str, str]]) -> int:
    """Plain-text emails (to, subject, text, dedupe key) queued in one statement; returns how many were new."""
    if not emails:
        return 0
    return await repository.insert_emails(emails, clock.now())


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … doubling, at most 6 h."""
    return min(timedelta(seconds=30 * 2 ** max(attempts, 0)), MAX_BACKOFF)


def message_id(email_id: int, to_address: str, subject: str) -> str:
    """The same for an email on every attempt; the digest of what it is keeps an id reused after the table was
    emptied from naming a different email the same."""
    digest = hashlib.sha256(f"{email_id}\n{to_address}\n{subject}".encode()).hexdigest()[:16]
    return f"<outbox-{email_id}.{digest}@future-community.local>"


def build_message(email: ClaimedEmail, attachments: list[StoredAttachment], settings: Settings) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = email.to_address
    message["Subject"] = email.subject
    message["Date"] = format_datetime(clock.now().astimezone(BUSINESS_TZ))
    # The same Message-ID on every attempt lets a mail system drop the copy if a sender died after handing it
    # over, or the server's acceptance never reached us.
    message["Message-ID"] = message_id(email.id, email.to_address, email.subject)
    message.set_content(email.body_text)
    if email.body_html:
        message.add_alternative(email.body_html, subtype="html")
        html_part = cast(list[MIMEPart], message.get_payload())[-1]
        for a in attachments:
            if a.content_id:
                maintype, subtype = a.content_type.split("/", 1)
                html_part.add_related(
                    a.content,
                    maintype=maintype,
                    subtype=subtype,
                    cid=f"<{a.content_id}>",
                    disposition="inline",
                    filename=a.filename,
                )
    for a in attachments:
        if not a.content_id:
            maintype, subtype = a.content_type.split("/", 1)
            message.add_attachment(a.content, maintype=maintype, subtype=subtype, filename=a.filename)
    return message


async def _deliver(message: EmailMessage, settings: Settings) -> None:
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password or None,
        start_tls=settings.smtp_starttls,
        timeout=settings.smtp_timeout_seconds,
    )


async def send_pending(*, limit: int = 100, settings: Settings | None = None) -> SendResult:
    """Deliver every due email (up to `limit`), retrying failures later with backoff."""
    settings = settings or get_settings()
    now = clock.now()
    async with transaction():
        claimed = await repository.claim_due(now=now, stale_before=now - STALE_CLAIM, limit=limit)
        attachments = await repository.attachments_for([email.id for email in claimed])

    result = SendResult()
    for email in claimed:
        try:
            await _deliver(build_message(email, attachments[email.id], settings), settings)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            error = f"{exc.__class__.__name__}: {exc}"
            give_up = email.attempts + 1 >= settings.outbox_max_attempts
            async with transaction():
                await repository.mark_failed(
                    email.id, error=error, next_attempt_at=clock.now() + backoff(email.attempts), give_up=give_up
                )
                await repository.log_attempt(email.id, at=clock.now(), ok=False, error=error)
            result.gave_up += give_up
            result.retried += not give_up
            result.errors.append(error)
            log.warning("email %s to %s not sent: %s", email.id, email.to_address, error)
            continue
        async with transaction():
            await repository.mark_sent(email.id, clock.now())
            await repository.log_attempt(email.id, at=clock.now(), ok=True, error="")
        result.sent += 1
    return result
