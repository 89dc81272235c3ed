from __future__ import annotations

from enum import Enum

from piccolo.apps.user.tables import BaseUser
from piccolo.columns import (
    ForeignKey,
    Serial,
    Timestamptz,
    Varchar,
)
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table
from piccolo_api.session_auth.tables import SessionsBase

from core.settings import get_settings


class OrgKind(str, Enum):
    city = "city"
    district = "district"
    street = "street"
    community = "community"
    operator = "operator"  # 运营商 company
    owner = "owner"  # 国有资产权属单位 (state-owned owner)


class Role(str, Enum):
    operator = "operator"
    street = "street"
    district = "district"
    city = "city"
    owner = "owner"
    auditor = "auditor"
    resident = "resident"  # 居民: granted on their community by signing up with a one-time code
    surveyor = "surveyor"  # 第三方测评机构: granted on a district, uploads offline satisfaction surveys there


class Organisation(Table, tablename="organisation"):
    """A node in the org tree (city → district → street → community) or a company.

    `path` is the materialised chain of ids, e.g. "/1/4/17/", so a subtree is a prefix match.
    """

    id: Serial
    name = Varchar(length=200, index=True)
    kind = Varchar(length=20, choices=OrgKind, index=True)
    parent: ForeignKey[Organisation] = ForeignKey("self", null=True)
    path = Varchar(length=400, index=True, index_method=IndexMethod.btree, default="")
    code = Varchar(length=40, null=True, unique=True)
    created_at = Timestamptz()


class User(BaseUser, tablename="account_user"):
    """A person who logs in. `admin` (piccolo-admin access) is kept true exactly for city-role users."""

    display_name = Varchar(length=100, default="")
    _pbkdf2_iteration_count = get_settings().password_hash_iterations


class RoleGrant(Table, tablename="role_grant"):
    """User × role × organisation: what the user may do, and over which part of the tree."""

    id: Serial
    user = ForeignKey(User, null=False, index=True)
    role = Varchar(length=20, choices=Role)
    org = ForeignKey(Organisation, null=False, index=True)
    created_at = Timestamptz()


class LoginFailure(Table, tablename="login_failure"):
    id: Serial
    username = Varchar(length=100, index=True)
    at = Timestamptz(index=True)


class LoginLock(Table, tablename="login_lock"):
    id: Serial
    username = Varchar(length=100, unique=True)
    locked_until = Timestamptz()


class AdminSession(SessionsBase, tablename="admin_session"):
    """piccolo-admin's browser sessions."""
