"""The one way to write an audit row. Call it inside the same transaction as the change it records."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from core import clock
from core.audit import repository
from core.pagination import with_total

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


async def record_many(actor: Principal | None, action: str, entity_type: str,
                      entries: list[tuple[object, object]], *, reason: str = "") -> int:
    """The same decision on many entities (a nightly job's proposals): one row each, one statement."""
    if not entries:
        return 0
    return await repository.insert_many(
        at=clock.now(), actor_id=actor.user_id if actor else None,
        actor_name=actor.actor_label if actor else "system", action=action, entity_type=entity_type,
        entries=[(str(entity_id), snapshot(after)) for entity_id, after in entries], reason=reason,
    )


async def search(principal: Principal, *, entity_type, entity_id, action, limit: int, offset: int):
    return await with_total(
        lambda lim, off: repository.search(entity_type=entity_type, entity_id=entity_id, action=action, limit=lim,
                                           offset=off),
        limit, offset,
    )
