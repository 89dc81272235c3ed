from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.params import Parameter

from core.accounts import service
from core.accounts.principal import OFFICIAL_ROLES, Principal
from core.accounts.schemas import (
    GrantView,
    LoginRequest,
    Me,
    Org,
    OrgCreate,
    TokenResponse,
    UserCreate,
    UserView,
)
from core.accounts.tables import OrgKind
from core.auth import ANY_ROLE, requires
from core.http.openapi import errors
from core.pagination import PageParams
from core.schemas import Page
from core.settings import get_settings


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["账户"]

    @post(
        "/login", operation_id="login", responses=errors(401), summary="用户名密码登录，返回访问令牌", status_code=200
    )
    async def login(self, data: LoginRequest, request: Request) -> TokenResponse:
        user_id = await service.authenticate(data.username, data.password)
        jwt_auth = request.app.state.jwt_auth
        token = jwt_auth.create_token(identifier=str(user_id))
        return TokenResponse(access_token=token, expires_in=get_settings().token_minutes * 60)


class MeController(Controller):
    path = "/api/v1/me"
    tags = ["账户"]

    @get("/", operation_id="getMe", guards=[ANY_ROLE], summary="当前用户、角色与管辖范围")
    async def me(self, principal: Principal) -> Me:
        user = await service.get_user_for(principal, principal.user_id)
        return Me(
            id=principal.user_id,
            username=principal.username,
            display_name=principal.display_name,
            email=user.email,
            grants=[GrantView.of(g) for g in principal.grants],
        )


class OrgController(Controller):
    path = "/api/v1/orgs"
    tags = ["组织"]

    @get("/", operation_id="listOrgs", guards=[ANY_ROLE], summary="管辖范围内的组织")
    async def list_orgs(
        self,
        principal: Principal,
        page: PageParams,
        kind: OrgKind | None = None,
        parent_id: int | None = None,
        q: Annotated[str | None, Parameter(max_length=100)] = None,
    ) -> Page[Org]:
        rows, total = await service.list_orgs(
            principal,
            kind=kind.value if kind else None,
            parent_id=parent_id,
            q=q,
            limit=page.limit,
            offset=page.offset,
        )
        return Page.of(rows, total, page, Org.of)

    @get("/{org_id:int}", operation_id="getOrg", guards=[ANY_ROLE], summary="组织详情")
    async def get_org(self, principal: Principal, org_id: int) -> Org:
        return Org.of(await service.get_org_for(principal, org_id))

    @post(
        "/",
        operation_id="createOrg",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 404),
        summary="在管辖范围内新建组织",
    )
    async def create_org(self, principal: Principal, data: OrgCreate) -> Org:
        row = await service.create_org(
            principal, name=data.name, kind=data.kind, parent_id=data.parent_id, code=data.code
        )
        return Org.of(row)


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["账户"]

    @get("/", operation_id="listUsers", guards=[ANY_ROLE], summary="管辖范围内的用户")
    async def list_users(
        self,
        principal: Principal,
        page: PageParams,
        q: Annotated[str | None, Parameter(max_length=100)] = None,
    ) -> Page[UserView]:
        users, total = await service.list_users(principal, q=q, limit=page.limit, offset=page.offset)
        return Page.of(users, total, page)

    @get("/{user_id:int}", operation_id="getUser", guards=[ANY_ROLE], summary="用户详情")
    async def get_user(self, principal: Principal, user_id: int) -> UserView:
        return await service.get_user_for(principal, user_id)

    @post(
        "/",
        operation_id="createUser",
        guards=[requires(*OFFICIAL_ROLES)],
        responses=errors(403, 404, 409),
        summary="新建用户并授予角色",
    )
    async def create_user(self, principal: Principal, data: UserCreate) -> UserView:
        created = await service.create_user(
            principal,
            username=data.username,
            password=data.password,
            email=data.email,
            display_name=data.display_name,
            grants=[(g.role, g.org_id) for g in data.grants],
        )
        return await service.get_user_for(principal, created.id)


ROUTES = [AuthController, MeController, OrgController, UserController]
