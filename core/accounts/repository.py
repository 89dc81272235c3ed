"""Every query on organisations, users, role grants and login throttling."""

from __future__ import annotations

from datetime import datetime

from core.accounts.principal import Grant, like_patterns
from core.accounts.tables import LoginFailure, LoginLock, Organisation, Role, RoleGrant, User
from core.pagination import split_total

ORG_COLUMNS = "o.id, o.name, o.kind, o.parent AS parent_id, o.path, o.code"


async def get_org(org_id: int) -> dict | None:
    rows = await Organisation.raw(f"SELECT {ORG_COLUMNS} FROM organisation o WHERE o.id = {{}}", org_id)
    return rows[0] if rows else None


async def get_org_by_code(code: str) -> dict | None:
    rows = await Organisation.raw(f"SELECT {ORG_COLUMNS} FROM organisation o WHERE o.code = {{}}", code)
    return rows[0] if rows else None


async def insert_org(*, name: str, kind: str, parent: dict | None, code: str | None, now: datetime) -> dict:
    """Insert and fill in the materialised path in one statement pair (caller holds the transaction)."""
    rows = await Organisation.raw(
        "INSERT INTO organisation (name, kind, parent, path, code, created_at) "
        "VALUES ({}, {}, {}, '', {}, {}) RETURNING id",
        name,
        kind,
        parent["id"] if parent else None,
        code,
        now,
    )
    org_id = rows[0]["id"]
    path = f"{parent['path'] if parent else '/'}{org_id}/"
    await Organisation.update({Organisation.path: path}).where(Organisation.id == org_id)
    return await get_org(org_id)


async def list_orgs(
    *, scope_paths: list[str], kind: str | None, parent_id: int | None, q: str | None, limit: int, offset: int
) -> tuple[list[dict], int]:
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
    return split_total(rows)


async def load_grants(user_ids: list[int]) -> dict[int, list[Grant]]:
    if not user_ids:
        return {}
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


async def active_user_with_grants(user_id: int) -> list[dict]:
    """One row per grant (one row with a null role when there is none); no rows for an inactive user."""
    return await User.raw(
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


async def get_credentials(username: str) -> dict | None:
    rows = await User.raw("SELECT id, password, active FROM account_user WHERE username = {}", username)
    return rows[0] if rows else None


async def username_exists(username: str) -> bool:
    return await User.exists().where(User.username == username)


async def email_exists(email: str) -> bool:
    return await User.exists().where(User.email == email)


async def insert_user(*, username: str, password_hash: str, email: str, display_name: str, admin: bool) -> int:
    rows = await User.raw(
        "INSERT INTO account_user (username, password, email, display_name, first_name, last_name, "
        "active, admin, superuser) VALUES ({}, {}, {}, {}, '', '', true, {}, {}) RETURNING id",
        username,
        password_hash,
        email,
        display_name,
        admin,
        admin,
    )
    return rows[0]["id"]


async def insert_grant(*, user_id: int, role: str, org_id: int, now: datetime) -> None:
    await RoleGrant.raw(
        'INSERT INTO role_grant ("user", role, org, created_at) VALUES ({}, {}, {}, {})',
        user_id,
        role,
        org_id,
        now,
    )


async def touch_last_login(user_id: int, now: datetime) -> None:
    await User.update({User.last_login: now.replace(tzinfo=None)}).where(User.id == user_id)


async def list_users_in_scope(
    *, scope_paths: list[str], q: str | None, limit: int, offset: int
) -> tuple[list[dict], int]:
    """Users with at least one grant on an org inside the scope."""
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
    return split_total(rows)


async def get_user_in_scope(user_id: int, scope_paths: list[str]) -> dict | None:
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
    return rows[0] if rows else None


# Login throttling ------------------------------------------------------------------------------


async def locked_until(username: str) -> datetime | None:
    rows = await LoginLock.raw("SELECT locked_until FROM login_lock WHERE username = {}", username)
    return rows[0]["locked_until"] if rows else None


async def record_failure(username: str, now: datetime) -> None:
    await LoginFailure.raw("INSERT INTO login_failure (username, at) VALUES ({}, {})", username, now)


async def count_failures_since(username: str, since: datetime) -> int:
    rows = await LoginFailure.raw(
        "SELECT count(*) AS n FROM login_failure WHERE username = {} AND at >= {}", username, since
    )
    return rows[0]["n"]


async def lock(username: str, until: datetime) -> None:
    await LoginLock.raw(
        "INSERT INTO login_lock (username, locked_until) VALUES ({}, {}) "
        "ON CONFLICT (username) DO UPDATE SET locked_until = EXCLUDED.locked_until",
        username,
        until,
    )


async def clear_failures(username: str) -> None:
    await LoginFailure.delete().where(LoginFailure.username == username)
    await LoginLock.delete().where(LoginLock.username == username)


async def first_city() -> dict | None:
    rows = await Organisation.raw(
        f"SELECT {ORG_COLUMNS} FROM organisation o WHERE o.kind = 'city' ORDER BY o.id LIMIT 1"
    )
    return rows[0] if rows else None


async def district_names() -> dict[int, str]:
    rows = await Organisation.raw("SELECT id, name FROM organisation WHERE kind = 'district'")
    return {r["id"]: r["name"] for r in rows}


async def user_id_by_username(username: str) -> int | None:
    rows = await User.raw("SELECT id FROM account_user WHERE username = {}", username)
    return rows[0]["id"] if rows else None
