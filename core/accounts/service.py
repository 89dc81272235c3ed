"""Rules for accounts: login and throttling, the org tree, and who may create whom."""

from __future__ import annotations

import asyncio
import hmac
from datetime import timedelta

from core import clock
from core.accounts import repository
from core.accounts.errors import (
    AccountLocked,
    EmailTaken,
    InvalidCredentials,
    InvalidParent,
    OrgNotFound,
    OrgOutOfScope,
    RoleNotAllowedForOrg,
    RoleNotGrantable,
    UsernameTaken,
    UserNotFound,
    WeakPassword,
)
from core.accounts.principal import OFFICIAL_ROLES, ROLE_ORG_KIND, Grant, Principal
from core.accounts.schemas import OrgRow, UserView
from core.accounts.tables import OrgKind, Role, User
from core.audit import service as audit
from core.cache.service import VersionedCache
from core.db import transaction
from core.pagination import with_total
from core.settings import get_settings

# Which kind of parent each kind of organisation hangs under.
ALLOWED_PARENT_KIND = {
    OrgKind.city: None,
    OrgKind.district: OrgKind.city,
    OrgKind.street: OrgKind.district,
    OrgKind.community: OrgKind.street,
    OrgKind.operator: OrgKind.city,
    OrgKind.owner: OrgKind.district,
}

MIN_PASSWORD_LENGTH = 8


# Login -----------------------------------------------------------------------------------------


async def hash_password(password: str) -> str:
    # PBKDF2 with hundreds of thousands of rounds takes a good fraction of a second: keep it off the loop.
    return await asyncio.to_thread(User.hash_password, password)


async def _password_matches(password: str, stored: str) -> bool:
    _algorithm, iterations, salt, _hashed = User.split_stored_password(stored)
    candidate = await asyncio.to_thread(User.hash_password, password, salt, int(iterations))
    return hmac.compare_digest(candidate, stored)


async def authenticate(username: str, password: str) -> int:
    """Return the user id, or raise. Five failures within a minute lock the account for a while."""
    settings = get_settings()
    now = clock.now()
    until = await repository.locked_until(username)
    if until is not None and until > now:
        raise AccountLocked(detail={"locked_until": until.isoformat()})

    credentials = await repository.get_credentials(username)
    if credentials is None:
        await hash_password(password)  # same cost as a real check, so timing does not reveal usernames
        ok = False
    else:
        ok = credentials.active and await _password_matches(password, credentials.password)

    if credentials is None or not ok:
        async with transaction():
            await repository.record_failure(username, now)
            window_start = now - timedelta(seconds=settings.login_failure_window_seconds)
            if await repository.count_failures_since(username, window_start) >= settings.login_max_failures:
                await repository.lock(username, now + timedelta(seconds=settings.login_lock_seconds))
        raise InvalidCredentials()

    async with transaction():
        await repository.clear_failures(username)
        await repository.touch_last_login(credentials.id, now)
    return credentials.id


# Users, their grants and the org tree bump the 'accounts' version, so a cached principal is never stale.
_principals: VersionedCache[Principal | None] = VersionedCache(
    ("accounts",), get_settings().read_cache_entries, name="principals"
)


async def load_principal(user_id: int) -> Principal | None:
    """Who the token's user is now; None for a deactivated or deleted user."""
    return await _principals.read(user_id, lambda: _principal(user_id))


async def _principal(user_id: int) -> Principal | None:
    rows = await repository.active_user_with_grants(user_id)
    if not rows:
        return None
    grants = tuple(
        Grant(r.role, r.org_id, r.path, r.name)
        for r in rows
        if r.role is not None and r.org_id is not None and r.path is not None and r.name is not None
    )
    return Principal(rows[0].id, rows[0].username, rows[0].display_name, grants)


# Organisations ---------------------------------------------------------------------------------


async def get_org_for(principal: Principal, org_id: int) -> OrgRow:
    org = await repository.get_org(org_id)
    if org is None or not principal.can_read_path(org.path):
        raise OrgNotFound()
    return org


async def list_orgs(
    principal: Principal, *, kind: str | None, parent_id: int | None, q: str | None, limit: int, offset: int
) -> tuple[list[OrgRow], int]:
    return await with_total(
        lambda lim, off: repository.list_orgs(
            scope_paths=principal.read_paths(), kind=kind, parent_id=parent_id, q=q, limit=lim, offset=off
        ),
        limit,
        offset,
    )


async def create_org(
    principal: Principal | None, *, name: str, kind: OrgKind, parent_id: int | None, code: str | None
) -> OrgRow:
    """Create an organisation under a parent of the right kind, inside the creator's scope.

    `principal=None` is the system itself (seeding, the CLI).
    """
    wanted_parent_kind = ALLOWED_PARENT_KIND[kind]
    parent = None
    if parent_id is not None:
        parent = await repository.get_org(parent_id)
        if parent is None:
            raise OrgNotFound()
    if (parent.kind if parent else None) != wanted_parent_kind:
        raise InvalidParent(detail={"kind": kind.value, "parent_kind_required": wanted_parent_kind})
    if principal is not None and (parent is None or not principal.can_write_path(parent.path, *OFFICIAL_ROLES)):
        raise OrgOutOfScope()
    async with transaction():
        org = await repository.insert_org(name=name, kind=kind.value, parent=parent, code=code, now=clock.now())
        await audit.record(principal, "org.create", "organisation", org.id, after=org)
    return org


# Users -----------------------------------------------------------------------------------------


def _check_grantable(principal: Principal | None, role: Role, org: OrgRow) -> None:
    if org.kind != ROLE_ORG_KIND[role]:
        raise RoleNotAllowedForOrg(detail={"role": role.value, "org_kind": org.kind.value})
    if principal is None:
        return
    if role == Role.resident:
        raise RoleNotGrantable(detail={"role": role.value})  # residents sign up themselves (residents package)
    if role in (Role.city, Role.auditor) and not principal.has_role(Role.city):
        raise RoleNotGrantable(detail={"role": role.value})
    if not principal.can_write_path(org.path, *OFFICIAL_ROLES):
        raise OrgOutOfScope(detail={"org_id": org.id})


async def create_user(
    principal: Principal | None,
    *,
    username: str,
    password: str,
    email: str,
    display_name: str,
    grants: list[tuple[Role, int]],
) -> UserView:
    if not MIN_PASSWORD_LENGTH <= len(password) <= User._max_password_length:
        raise WeakPassword()
    orgs: dict[int, OrgRow] = {}
    for role, org_id in grants:
        org = await repository.get_org(org_id)
        if org is None or (principal is not None and not principal.can_read_path(org.path)):
            raise OrgNotFound(detail={"org_id": org_id})
        _check_grantable(principal, role, org)
        orgs[org_id] = org
    password_hash = await hash_password(password)
    async with transaction():
        if await repository.username_exists(username):
            raise UsernameTaken()
        if await repository.email_exists(email):
            raise EmailTaken()
        is_city_admin = any(role == Role.city for role, _ in grants)
        user = await repository.insert_user(
            username=username,
            password_hash=password_hash,
            email=email,
            display_name=display_name,
            admin=is_city_admin,
        )
        now = clock.now()
        for role, org_id in grants:
            await repository.insert_grant(user_id=user.id, role=role.value, org_id=org_id, now=now)
        created = UserView.of(
            user, [Grant(role, org_id, orgs[org_id].path, orgs[org_id].name) for role, org_id in grants]
        )
        await audit.record(principal, "user.create", "user", user.id, after=created)
    return created


async def list_users(principal: Principal, *, q: str | None, limit: int, offset: int) -> tuple[list[UserView], int]:
    rows, total = await with_total(
        lambda lim, off: repository.list_users_in_scope(scope_paths=principal.read_paths(), q=q, limit=lim, offset=off),
        limit,
        offset,
    )
    grants = await repository.load_grants([r.id for r in rows])
    return [UserView.of(row, grants[row.id]) for row in rows], total


async def get_user_for(principal: Principal, user_id: int) -> UserView:
    # Everyone may read their own account, a resident too (whose grant opens no part of the tree).
    scope = ["/"] if user_id == principal.user_id else principal.read_paths()
    row = await repository.get_user_in_scope(user_id, scope)
    if row is None:
        raise UserNotFound()
    return UserView.of(row, (await repository.load_grants([user_id]))[user_id])


async def the_city() -> OrgRow:
    """The city at the root of the tree (one installation serves one city)."""
    city = await repository.first_city()
    if city is None:
        raise OrgNotFound("尚未配置城市组织")
    return city


async def district_names() -> dict[int, str]:
    return await repository.district_names()
