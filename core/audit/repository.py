from __future__ import annotations

import json
from datetime import datetime

import msgspec

from core.audit.schemas import AuditEntry, ChainRow
from core.audit.tables import AuditLog


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


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
    [row] = await AuditLog.insert(
        AuditLog(
            at=at,
            actor=actor_id,
            actor_name=actor_name,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            before=_json(before),
            after=_json(after),
            reason=reason,
        )
    ).returning(AuditLog.id)
    return row["id"]


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
    # A bulk insert from unnested arrays, which the query builder cannot spell.
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
) -> tuple[list[AuditEntry], int]:
    filters = [
        column == value
        for column, value in (
            (AuditLog.entity_type, entity_type),
            (AuditLog.entity_id, entity_id),
            (AuditLog.action, action),
        )
        if value is not None
    ]
    rows = (
        await AuditLog.select(
            AuditLog.id,
            AuditLog.at,
            AuditLog.actor.as_alias("actor_id"),
            AuditLog.actor_name,
            AuditLog.action,
            AuditLog.entity_type,
            AuditLog.entity_id,
            AuditLog.before,
            AuditLog.after,
            AuditLog.reason,
        )
        .where(*filters)
        .order_by(AuditLog.id, ascending=False)
        .limit(limit)
        .offset(offset)
        .output(load_json=True)
    )
    total = await AuditLog.count().where(*filters)
    return msgspec.convert(rows, list[AuditEntry]), total


async def chain_page(after_seq: int, limit: int) -> list[ChainRow]:
    """Sealed rows after `after_seq`, in chain order, with the text their hash covers."""
    # seq, hash and audit_log_canonical() belong to the database alone (see AuditLog), so the builder knows none.
    rows = await AuditLog.raw(
        "SELECT id, seq, hash, audit_log_canonical(a) AS canonical FROM audit_log a "
        "WHERE seq > {} ORDER BY seq LIMIT {}",
        after_seq,
        limit,
    )
    return msgspec.convert(rows, list[ChainRow])


async def first_unsealed() -> int | None:
    """The id of the first row the database has not sealed into the chain."""
    # seq is not declared on AuditLog (see there).
    rows = await AuditLog.raw("SELECT id FROM audit_log WHERE seq IS NULL ORDER BY id LIMIT 1")
    return rows[0]["id"] if rows else None
