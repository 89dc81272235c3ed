"""Bearer tokens (Litestar's JWT support) and the guards controllers use."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.connection import ASGIConnection
from litestar.security.jwt import JWTAuth, Token

from core.accounts import service as accounts
from core.accounts.principal import Principal
from core.accounts.tables import Role
from core.errors import PermissionDenied
from core.settings import get_settings

PUBLIC_PATHS = ["^/health", "^/schema", "^/admin", "^/api/v1/auth/login", "^/api/v1/public", "^/api/v1/webhooks"]


async def retrieve_principal(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    try:
        user_id = int(token.sub)
    except ValueError:
        return None
    return await accounts.load_principal(user_id)


def build_jwt_auth() -> JWTAuth[Principal, Token]:
    settings = get_settings()
    return JWTAuth[Principal, Token](
        retrieve_user_handler=retrieve_principal,
        token_secret=settings.secret_key,
        default_token_expiration=timedelta(minutes=settings.token_minutes),
        exclude=PUBLIC_PATHS,
    )


def require_roles(principal: Principal, *roles: Role) -> None:
    if not principal.has_role(*roles):
        raise PermissionDenied(detail={"required_roles": [r.value for r in roles]})
