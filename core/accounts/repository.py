"""Every query on organisations, users, role grants and login throttling."""

from __future__ import annotations

from datetime import datetime

import msgspec
from piccolo.query.mixins import OnConflictAction

from core.accounts.principal import Grant, like_patterns
from core.accounts.schemas import Credentials, GrantRow, OrgRow, UserRow
from core.accounts.tables import LoginFailure, LoginLock, Organisation, OrgKind, Role, RoleGrant, User
from core.pagination import split_total

ORG_COLUMNS = "o.id, o.name, o.kind, o.parent AS parent_id, o.path, o.code"
_ORG_FIELDS = (
    Organisation.id,
    Organisation.name,
    Organisation.kind,
    Organisation.parent.as_alias("parent_id"),
    Organisation.path,
    Organisation.code,
)


def _org(row: dict | None) -> OrgRow | None:
    return None if row is None else msgspec.convert(row, OrgRow)


async def get_org(org_id: int) -> OrgRow | None:
    return _org(await Organisation.select(*_ORG_FIELDS).where(Organisation.id == org_id).first())


async def get_org_by_code(code: str) -> OrgRow | None:
    return _org(await Organisation.select(*_ORG_FIELDS).where(Organisation.code == code).first())


async def insert_org(*, name: str, kind: str, parent: OrgRow | None, code: str | None, now: datetime) -> OrgRow:
    """Insert, then fill in the materialised path, which needs the new id (caller holds the transaction)."""
    [inserted] = await Organisation.insert(
        Organisation(name=name, kind=kind, parent=parent.id if parent else None, path="", code=code, created_at=now)
    ).returning(Organisation.id)
    path = f"{parent.path if parent else '/'}{inserted['id']}/"
    [row] = (
        await Organisation.update({Organisation.path: path})
        .where(Organisation.id == inserted["id"])
        .returning(*_ORG_FIELDS)
    )
    return msgspec.convert(row, OrgRow)


async def list_orgs(
    *, scope_paths: list[str], kind: str | None, parent_id: int | None, q: str | None, limit: int, offset: int
) -> tuple[list[OrgRow], int]:
    # LIKE ANY over the scope's paths and the window total have no query-builder spelling.
    rows = await Organisation.raw(
        f"""
        SELECT {ORG_COLUMNS}, count(*) OVER () AS total
        FROM organisation o
        WHERE o.path LIKE ANY({{}})
          AND ({{}}::text IS NULL OR o.kind = {{}})
          AND ({{}}::int IS NULL OR o.parent = {{}})
          AND ({{}}::text IS NULL OR o.name ILIKE '%' || {{}} || '%')
        ORDER BY o.path
        LIMIT {{}} OFFSET {{}}
        """,
        like_patterns(scope_paths),
        kind,
        kind,
        parent_id,
        parent_id,
        q,
        q,
        limit,
        offset,
    )
    rows, total = split_total(rows)
    return msgspec.convert(rows, list[OrgRow]), total


async def load_grants(user_ids: list[int]) -> dict[int, list[Grant]]:
    if not user_ids:
        return {}
    # A join: the grant with its organisation's path and name.
    rows = await RoleGrant.raw(
        """
        SELECT g."user" AS user_id, g.role, o.id AS org_id, o.path, o.name
        FROM role_grant g JOIN organisation o ON o.id = g.org
        WHERE g."user" = ANY({})
        ORDER BY g.id
        """,
        user_ids,
    )
    grants: dict[int, list[Grant]] = {uid: [] for uid in user_ids}
    for r in rows:
        grants[r["user_id"]].append(Grant(Role(r["role"]), r["org_id"], r["path"], r["name"]))
    return grants


async def active_user_with_grants(user_id: int) -> list[GrantRow]:
    """One row per grant (one row with a null role when there is none); no rows for an inactive user."""
    # Two outer joins, ordered by grant.
    rows = await User.raw(
        """
        SELECT u.id, u.username, u.display_name, g.role, o.id AS org_id, o.path, o.name
        FROM account_user u
        LEFT JOIN role_grant g ON g."user" = u.id
        LEFT JOIN organisation o ON o.id = g.org
        WHERE u.id = {} AND u.active
        ORDER BY g.id
        """,
        user_id,
    )
    return msgspec.convert(rows, list[GrantRow])


async def get_credentials(username: str) -> Credentials | None:
    row = await User.select(User.id, User.password, User.active).where(User.username == username).first()
    return None if row is None else msgspec.convert(row, Credentials)


async def username_exists(username: str) -> bool:
    return await User.exists().where(User.username == username)


async def email_exists(email: str) -> bool:
    return await User.exists().where(User.email == email)


async def insert_user(*, username: str, password_hash: str, email: str, display_name: str, admin: bool) -> UserRow:
    [row] = await User.insert(
        User(
            username=username,
            password=password_hash,
            email=email,
            display_name=display_name,
            first_name="",
            last_name="",
            active=True,
            admin=admin,
            superuser=admin,
        )
    ).returning(User.id, User.username, User.display_name, User.email, User.active)
    return msgspec.convert(row, UserRow)


async def insert_grant(*, user_id: int, role: str, org_id: int, now: datetime) -> None:
    await RoleGrant.insert(RoleGrant(user=user_id, role=role, org=org_id, created_at=now))


async def touch_last_login(user_id: int, now: datetime) -> None:
    await User.update({User.last_login: now.replace(tzinfo=None)}).where(User.id == user_id)


async def list_users_in_scope(
    *, scope_paths: list[str], q: str | None, limit: int, offset: int
) -> tuple[list[UserRow], int]:
    """Users with at least one grant on an org inside the scope."""
    # The scope test is a joined EXISTS over grants and organisations.
    rows = await User.raw(
        """
        SELECT u.id, u.username, u.display_name, u.email, u.active, count(*) OVER () AS total
        FROM account_user u
        WHERE EXISTS (
            SELECT 1 FROM role_grant g JOIN organisation o ON o.id = g.org
            WHERE g."user" = u.id AND o.path LIKE ANY({})
        )
          AND ({}::text IS NULL OR u.username ILIKE '%' || {} || '%' OR u.display_name ILIKE '%' || {} || '%')
        ORDER BY u.id
        LIMIT {} OFFSET {}
        """,
        like_patterns(scope_paths),
        q,
        q,
        q,
        limit,
        offset,
    )
    rows, total = split_total(rows)
    return msgspec.convert(rows, list[UserRow]), total


async def get_user_in_scope(user_id: int, scope_paths: list[str]) -> UserRow | None:
    # The scope test is a joined EXISTS over grants and organisations.
    rows = await User.raw(
        """
        SELECT u.id, u.username, u.display_name, u.email, u.active
        FROM account_user u
        WHERE u.id = {} AND EXISTS (
            SELECT 1 FROM role_grant g JOIN organisation o ON o.id = g.org
            WHERE g."user" = u.id AND o.path LIKE ANY({})
        )
        """,
        user_id,
        like_patterns(scope_paths),
    )
    return msgspec.convert(rows[0], UserRow) if rows else None


# Login throttling ------------------------------------------------------------------------------


async def locked_until(username: str) -> datetime | None:
    row = await LoginLock.select(LoginLock.locked_until).where(LoginLock.username == username).first()
    return row["locked_until"] if row else None


async def record_failure(username: str, now: datetime) -> None:
    await LoginFailure.insert(LoginFailure(username=username, at=now))


async def count_failures_since(username: str, since: datetime) -> int:
    return await LoginFailure.count().where(LoginFailure.username == username, LoginFailure.at >= since)


async def lock(username: str, until: datetime) -> None:
    await LoginLock.insert(LoginLock(username=username, locked_until=until)).on_conflict(
        target=LoginLock.username, action=OnConflictAction.do_update, values=[LoginLock.locked_until]
    )


async def clear_failures(username: str) -> None:
    await LoginFailure.delete().where(LoginFailure.username == username)
    await LoginLock.delete().where(LoginLock.username == username)


async def first_city() -> OrgRow | None:
    return _org(
        await Organisation.select(*_ORG_FIELDS)
        .where(Organisation.kind == OrgKind.city.value)
        .order_by(Organisation.id)
        .first()
    )


async def district_names() -> dict[int, str]:
    rows = await Organisation.select(Organisation.id, Organisation.name).where(
        Organisation.kind == OrgKind.district.value
    )
    return {r["id"]: r["name"] for r in rows}


async def user_id_by_username(username: str) -> int | None:
    row = await User.select(User.id).where(User.username == username).first()
    return row["id"] if row else None
