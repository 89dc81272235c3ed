"""Queries on the email outbox. Claiming uses FOR UPDATE SKIP LOCKED so two senders never share a row."""

from __future__ import annotations

from datetime import datetime

import msgspec

from core.outbox.schemas import ClaimedEmail, QueueDepth, StoredAttachment
from core.outbox.tables import EmailDeliveryAttempt, EmailStatus, OutboxAttachment, OutboxEmail


async def insert_email(
    *,
    to_address: str,
    subject: str,
    body_text: str,
    body_html: str | None,
    dedupe_key: str | None,
    now: datetime,
) -> int | None:
    """Insert unless the dedupe key is already there; returns the new id or None."""
    rows = (
        await OutboxEmail.insert(
            OutboxEmail(
                to_address=to_address,
                subject=subject,
                body_text=body_text,
                body_html=body_html,
                dedupe_key=dedupe_key,
                status=EmailStatus.pending.value,
                attempts=0,
                next_attempt_at=now,
                last_error="",
                created_at=now,
            )
        )
        .on_conflict(target=OutboxEmail.dedupe_key)
        .returning(OutboxEmail.id)
    )
    return rows[0]["id"] if rows else None


async def insert_emails(emails: list[tuple[str, str, str, str]], now: datetime) -> int:
    """(to, subject, text, dedupe key) rows in one statement; keys already there are skipped."""
    # A bulk insert from unnested arrays, which the query builder cannot spell.
    rows = await OutboxEmail.raw(
        "INSERT INTO outbox_email (to_address, subject, body_text, body_html, dedupe_key, status, attempts, "
        "next_attempt_at, last_error, created_at) "
        "SELECT e.to_address, e.subject, e.body_text, NULL, e.dedupe_key, 'pending', 0, {}, '', {} "
        "FROM unnest({}::text[], {}::text[], {}::text[], {}::text[]) AS e(to_address, subject, body_text, dedupe_key) "
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1",
        now,
        now,
        [e[0] for e in emails],
        [e[1] for e in emails],
        [e[2] for e in emails],
        [e[3] for e in emails],
    )
    return len(rows)


async def insert_attachment(
    *, email_id: int, filename: str, content_type: str, content: bytes, content_id: str | None
) -> None:
    await OutboxAttachment.insert(
        OutboxAttachment(
            email=email_id, filename=filename, content_type=content_type, content=content, content_id=content_id
        )
    )


async def claim_due(*, now: datetime, stale_before: datetime, limit: int) -> list[ClaimedEmail]:
    """Mark due emails as sending and return them. A 'sending' row older than stale_before was
    left by a sender that died, and is due again."""
    # UPDATE over a FOR UPDATE SKIP LOCKED subquery: the query builder cannot lock rows.
    rows = await OutboxEmail.raw(
        """
        UPDATE outbox_email SET status = 'sending', claimed_at = {}
        WHERE id IN (
            SELECT id FROM outbox_email
            WHERE (status = 'pending' AND next_attempt_at <= {})
               OR (status = 'sending' AND claimed_at < {})
            ORDER BY next_attempt_at, id
            LIMIT {}
            FOR UPDATE SKIP LOCKED
        )
        RETURNING id, to_address, subject, body_text, body_html, attempts, dedupe_key
        """,
        now,
        now,
        stale_before,
        limit,
    )
    return msgspec.convert(rows, list[ClaimedEmail])


async def attachments_for(email_ids: list[int]) -> dict[int, list[StoredAttachment]]:
    if not email_ids:
        return {}
    rows = (
        await OutboxAttachment.select(
            OutboxAttachment.email.as_alias("email_id"),
            OutboxAttachment.filename,
            OutboxAttachment.content_type,
            OutboxAttachment.content,
            OutboxAttachment.content_id,
        )
        .where(OutboxAttachment.email.is_in(email_ids))
        .order_by(OutboxAttachment.id)
    )
    grouped: dict[int, list[StoredAttachment]] = {i: [] for i in email_ids}
    for attachment in msgspec.convert(rows, list[StoredAttachment]):
        grouped[attachment.email_id].append(attachment)
    return grouped


async def mark_sent(email_id: int, now: datetime) -> None:
    await OutboxEmail.update(
        {
            OutboxEmail.status: EmailStatus.sent.value,
            OutboxEmail.sent_at: now,
            OutboxEmail.attempts: OutboxEmail.attempts + 1,
            OutboxEmail.last_error: "",
        }
    ).where(OutboxEmail.id == email_id)


async def mark_failed(email_id: int, *, error: str, next_attempt_at: datetime, give_up: bool) -> None:
    await OutboxEmail.update(
        {
            OutboxEmail.status: (EmailStatus.failed if give_up else EmailStatus.pending).value,
            OutboxEmail.attempts: OutboxEmail.attempts + 1,
            OutboxEmail.last_error: error[:2000],
            OutboxEmail.next_attempt_at: next_attempt_at,
            OutboxEmail.claimed_at: None,
        }
    ).where(OutboxEmail.id == email_id)


async def log_attempt(email_id: int, *, at: datetime, ok: bool, error: str) -> None:
    await EmailDeliveryAttempt.insert(EmailDeliveryAttempt(email=email_id, at=at, ok=ok, error=error[:2000]))


async def queue_depth() -> QueueDepth:
    # Raw: one aggregate over two statuses, COUNT and MIN in one statement.
    rows = await OutboxEmail.raw(
        "SELECT count(*) AS waiting, min(created_at) AS oldest_created_at FROM outbox_email "
        "WHERE status IN ('pending', 'sending')"
    )
    return msgspec.convert(rows[0], QueueDepth)
