from __future__ import annotations

import json
from datetime import datetime

from core.audit.tables import AuditLog
from core.pagination import split_total


async def insert(
    *,
    at: datetime,
    actor_id: int | None,
    actor_name: str,
    action: str,
    entity_type: str,
    entity_id: str,
    before: object,
    after: object,
    reason: str,
) -> int:
    rows = await AuditLog.raw(
        "INSERT INTO audit_log (at, actor, actor_name, action, entity_type, entity_id, before, after, reason) "
        "VALUES ({}, {}, {}, {}, {}, {}, {}::jsonb, {}::jsonb, {}) RETURNING id",
        at,
        actor_id,
        actor_name,
        action,
        entity_type,
        entity_id,
        None if before is None else json.dumps(before, ensure_ascii=False),
        None if after is None else json.dumps(after, ensure_ascii=False),
        reason,
    )
    return rows[0]["id"]


async def insert_many(
    *,
    at: datetime,
    actor_id: int | None,
    actor_name: str,
    action: str,
    entity_type: str,
    entries: list[tuple[str, object]],
    reason: str,
) -> int:
    """One row per (entity id, after), in one statement."""
    rows = await AuditLog.raw(
        "INSERT INTO audit_log (at, actor, actor_name, action, entity_type, entity_id, before, after, reason) "
        "SELECT {}, {}, {}, {}, {}, e.entity_id, NULL, e.after::jsonb, {} "
        "FROM unnest({}::text[], {}::text[]) AS e(entity_id, after) RETURNING 1",
        at,
        actor_id,
        actor_name,
        action,
        entity_type,
        reason,
        [e for e, _ in entries],
        [json.dumps(after, ensure_ascii=False) for _, after in entries],
    )
    return len(rows)


async def search(
    *, entity_type: str | None, entity_id: str | None, action: str | None, limit: int, offset: int
) -> tuple[list[dict], int]:
    rows = await AuditLog.raw(
        """
        SELECT id, at, actor AS actor_id, actor_name, action, entity_type, entity_id, before, after, reason,
               count(*) OVER () AS total
        FROM audit_log
        WHERE ({}::text IS NULL OR entity_type = {})
          AND ({}::text IS NULL OR entity_id = {})
          AND ({}::text IS NULL OR action = {})
        ORDER BY id DESC
        LIMIT {} OFFSET {}
        """,
        entity_type,
        entity_type,
        entity_id,
        entity_id,
        action,
        action,
        limit,
        offset,
    )
    rows, total = split_total(rows)
    for row in rows:
        for key in ("before", "after"):
            if isinstance(row[key], str):
                row[key] = json.loads(row[key])
    return rows, total


async def chain_page(after_seq: int, limit: int) -> list[dict]:
    """Sealed rows after `after_seq`, in chain order, with the text their hash covers."""
    return await AuditLog.raw(
        "SELECT id, seq, hash, audit_log_canonical(a) AS canonical FROM audit_log a "
        "WHERE seq > {} ORDER BY seq LIMIT {}",
        after_seq,
        limit,
    )


async def first_unsealed() -> dict | None:
    rows = await AuditLog.raw("SELECT id FROM audit_log WHERE seq IS NULL ORDER BY id LIMIT 1")
    return rows[0] if rows else None
