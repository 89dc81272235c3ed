"""Queries on the email outbox. Claiming uses FOR UPDATE SKIP LOCKED so two senders never share a row."""

from __future__ import annotations

from datetime import datetime

from core.outbox.tables import EmailDeliveryAttempt, OutboxAttachment, OutboxEmail


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
    rows = await OutboxEmail.raw(
        "INSERT INTO outbox_email (to_address, subject, body_text, body_html, dedupe_key, status, attempts, "
        "next_attempt_at, last_error, created_at) VALUES ({}, {}, {}, {}, {}, 'pending', 0, {}, '', {}) "
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        to_address,
        subject,
        body_text,
        body_html,
        dedupe_key,
        now,
        now,
    )
    return rows[0]["id"] if rows else None


async def insert_emails(emails: list[tuple[str, str, str, str]], now: datetime) -> int:
    """(to, subject, text, dedupe key) rows in one statement; keys already there are skipped."""
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
    await OutboxAttachment.raw(
        "INSERT INTO outbox_attachment (email, filename, content_type, content, content_id) "
        "VALUES ({}, {}, {}, {}, {})",
        email_id,
        filename,
        content_type,
        content,
        content_id,
    )


async def claim_due(*, now: datetime, stale_before: datetime, limit: int) -> list[dict]:
    """Mark due emails as sending and return them. A 'sending' row older than stale_before was
    left by a sender that died, and is due again."""
    return await OutboxEmail.raw(
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


async def attachments_for(email_ids: list[int]) -> dict[int, list[dict]]:
    if not email_ids:
        return {}
    rows = await OutboxAttachment.raw(
        "SELECT email AS email_id, filename, content_type, content, content_id FROM outbox_attachment "
        "WHERE email = ANY({}) ORDER BY id",
        email_ids,
    )
    grouped: dict[int, list[dict]] = {i: [] for i in email_ids}
    for row in rows:
        grouped[row["email_id"]].append(row)
    return grouped


async def mark_sent(email_id: int, now: datetime) -> None:
    await OutboxEmail.raw(
        "UPDATE outbox_email SET status = 'sent', sent_at = {}, attempts = attempts + 1, last_error = '' WHERE id = {}",
        now,
        email_id,
    )


async def mark_failed(email_id: int, *, error: str, next_attempt_at: datetime, give_up: bool) -> None:
    await OutboxEmail.raw(
        "UPDATE outbox_email SET status = {}, attempts = attempts + 1, last_error = {}, next_attempt_at = {}, "
        "claimed_at = NULL WHERE id = {}",
        "failed" if give_up else "pending",
        error[:2000],
        next_attempt_at,
        email_id,
    )


async def log_attempt(email_id: int, *, at: datetime, ok: bool, error: str) -> None:
    await EmailDeliveryAttempt.raw(
        "INSERT INTO email_delivery_attempt (email, at, ok, error) VALUES ({}, {}, {}, {})",
        email_id,
        at,
        ok,
        error[:2000],
    )


async def list_emails(*, to_address: str | None, status: str | None, limit: int, offset: int) -> list[dict]:
    return await OutboxEmail.raw(
        "SELECT id, to_address, subject, status, attempts, last_error, created_at, sent_at FROM outbox_email "
        "WHERE ({}::text IS NULL OR to_address = {}) AND ({}::text IS NULL OR status = {}) "
        "ORDER BY id DESC LIMIT {} OFFSET {}",
        to_address,
        to_address,
        status,
        status,
        limit,
        offset,
    )
