from __future__ import annotations

from typing import Annotated

import msgspec

from core.accounts.tables import OrgKind, Role
from core.schemas import Input

Username = Annotated[str, msgspec.Meta(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Email = Annotated[str, msgspec.Meta(max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class LoginRequest(Input):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    password: Password


class TokenResponse(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int


class GrantView(msgspec.Struct, kw_only=True):
    role: Role
    role_label: str
    org_id: int
    org_name: str


class Me(msgspec.Struct, kw_only=True):
    id: int
    username: str
    display_name: str
    email: str
    grants: list[GrantView]


class Org(msgspec.Struct, kw_only=True):
    id: int
    name: str
    kind: OrgKind
    kind_label: str
    parent_id: int | None
    path: str
    code: str | None


class OrgCreate(Input):
    name: Name
    kind: OrgKind
    parent_id: int | None = None
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] | None = None


class GrantCreate(Input):
    role: Role
    org_id: int


class UserView(msgspec.Struct, kw_only=True):
    id: int
    username: str
    display_name: str
    email: str
    active: bool
    grants: list[GrantView]


class UserCreate(Input):
    username: Username
    password: Password
    email: Email
    grants: Annotated[list[GrantCreate], msgspec.Meta(min_length=1, max_length=20)]
    display_name: Annotated[str, msgspec.Meta(max_length=100)] = ""
