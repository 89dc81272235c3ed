"""The one way to write an audit row. Call it inside the same transaction as the change it records."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from core import clock
from core.audit import repository
from core.audit.schemas import AuditEntry

if TYPE_CHECKING:
    from core.accounts.principal import Principal


def snapshot(value: object) -> object:
    """JSON-ready copy of a row or struct (dates as ISO strings, Decimals as strings)."""
    if value is None:
        return None
    return msgspec.to_builtins(value, builtin_types=(), str_keys=True)


async def record(
    actor: Principal | None,
    action: str,
    entity_type: str,
    entity_id: object,
    *,
    before: object = None,
    after: object = None,
    reason: str = "",
) -> int:
    return await repository.insert(
        at=clock.now(),
        actor_id=actor.user_id if actor else None,
        actor_name=actor.actor_label if actor else "system",
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=snapshot(before),
        after=snapshot(after),
        reason=reason,
    )


async def record_many(
    actor: Principal | None, action: str, entity_type: str, entries: list[tuple[object, object]], *, reason: str = ""
) -> int:
    """The same decision on many entities (a nightly job's proposals): one row each, one statement."""
    if not entries:
        return 0
    return await repository.insert_many(
        at=clock.now(),
        actor_id=actor.user_id if actor else None,
        actor_name=actor.actor_label if actor else "system",
        action=action,
        entity_type=entity_type,
        entries=[(str(entity_id), snapshot(after)) for entity_id, after in entries],
        reason=reason,
    )


async def search(
    principal: Principal,
    *,
    entity_type: str | None,
    entity_id: str | None,
    action: str | None,
    limit: int,
    offset: int,
) -> tuple[list[AuditEntry], int]:
    return await repository.search(
        entity_type=entity_type, entity_id=entity_id, action=action, limit=limit, offset=offset
    )


@dataclass(frozen=True)
class ChainCheck:
    """What `verify_chain` found: how many rows chain correctly, the last good hash, the first broken row."""

    rows: int
    head: str
    broken_id: int | None = None
    broken_seq: int | None = None
    problem: str = ""


async def verify_chain(page_size: int = 5000) -> ChainCheck:
    """Recompute the hash chain the database sealed (see the core migration of 2026-12-05T10:08): each row's
    hash is sha256 over the previous row's hash and the row's canonical text, seq counting 1, 2, 3, ..."""
    previous, checked = "", 0
    while True:
        rows = await repository.chain_page(checked, page_size)
        for row in rows:
            if row.seq != checked + 1:
                return ChainCheck(
                    checked,
                    previous,
                    row.id,
                    row.seq,
                    f"前面缺少第 {checked + 1} 至 {row.seq - 1} 条 (rows missing before it)",
                )
            if hashlib.sha256((previous + row.canonical).encode()).hexdigest() != row.hash:
                return ChainCheck(
                    checked, previous, row.id, row.seq, "内容与哈希不符 (content does not match its hash)"
                )
            previous, checked = row.hash, checked + 1
        if len(rows) < page_size:
            break
    unsealed = await repository.first_unsealed()
    if unsealed is not None:
        return ChainCheck(checked, previous, unsealed, None, "未封存进哈希链 (never sealed into the chain)")
    return ChainCheck(checked, previous)
