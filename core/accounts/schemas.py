from __future__ import annotations

from typing import Annotated

import msgspec

from core.accounts.principal import Grant
from core.accounts.tables import OrgKind, Role
from core.labels import ORG_KIND_LABELS, ROLE_LABELS
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

    @classmethod
    def of(cls, grant: Grant) -> GrantView:
        return cls(
            role=grant.role, role_label=ROLE_LABELS[grant.role.value], org_id=grant.org_id, org_name=grant.org_name
        )


class Me(msgspec.Struct, kw_only=True):
    id: int
    username: str
    display_name: str
    email: str
    grants: list[GrantView]


class OrgRow(msgspec.Struct, kw_only=True):
    id: int
    name: str
    kind: OrgKind
    parent_id: int | None
    path: str
    code: str | None


class Org(OrgRow, kw_only=True):
    kind_label: str

    @classmethod
    def of(cls, row: OrgRow) -> Org:
        return cls(**msgspec.structs.asdict(row), kind_label=ORG_KIND_LABELS[row.kind.value])


class OrgCreate(Input):
    name: Name
    kind: OrgKind
    parent_id: int | None = None
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] | None = None


class GrantCreate(Input):
    role: Role
    org_id: int


class Credentials(msgspec.Struct, kw_only=True):
    id: int
    password: str
    active: bool


class GrantRow(msgspec.Struct, kw_only=True):
    """A user joined to one of their grants; the grant's fields are None for a user with none."""

    id: int
    username: str
    display_name: str
    role: Role | None
    org_id: int | None
    path: str | None
    name: str | None


class UserRow(msgspec.Struct, kw_only=True):
    id: int
    username: str
    display_name: str
    email: str
    active: bool


class UserView(UserRow, kw_only=True):
    grants: list[GrantView]

    @classmethod
    def of(cls, row: UserRow, grants: list[Grant]) -> UserView:
        return cls(**msgspec.structs.asdict(row), grants=[GrantView.of(g) for g in grants])


class UserCreate(Input):
    username: Username
    password: Password
    email: Email
    grants: Annotated[list[GrantCreate], msgspec.Meta(min_length=1, max_length=20)]
    display_name: Annotated[str, msgspec.Meta(max_length=100)] = ""
