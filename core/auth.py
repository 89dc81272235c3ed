"""Bearer tokens (Litestar's JWT support) and the guards controllers use."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.security.jwt import JWTAuth, Token

from core.accounts import service as accounts
from core.accounts.principal import Principal
from core.accounts.tables import Role
from core.errors import PermissionDenied
from core.labels import ROLE_LABELS
from core.settings import get_settings

PUBLIC_PATHS = [
    "^/health",
    "^/schema",
    "^/api-docs-assets",
    "^/admin",
    "^/api/v1/auth/login",
    "^/api/v1/public",
    "^/api/v1/webhooks",
]


@dataclass
class RememberedToken(Token):
    """A bearer token whose checks each web worker remembers.

    A client sends the same token with every request, and checking its signature and claims again costs more
    than answering from a cache. The key is the whole encoded token, signature included, with the options
    it was checked against, so only a token that passed every check is ever found; whether it has expired or
    is not valid yet is checked again on each use, as PyJWT would (exp > now >= nbf).
    """

    @classmethod
    def decode(
        cls,
        encoded_token: str,
        secret: str,
        algorithm: str,
        audience: str | Sequence[str] | None = None,
        issuer: str | Sequence[str] | None = None,
        require_claims: Sequence[str] | None = None,
        verify_exp: bool = True,
        verify_nbf: bool = True,
        strict_audience: bool = False,
    ) -> RememberedToken:
        key = (
            encoded_token,
            secret,
            algorithm,
            _hashable(audience),
            _hashable(issuer),
            _hashable(require_claims),
            verify_exp,
            verify_nbf,
            strict_audience,
        )
        token = _checked_tokens.get(key)
        if token is not None and token.still_valid(verify_exp, verify_nbf):
            _checked_tokens.move_to_end(key)
            return token
        token = super().decode(
            encoded_token, secret, algorithm, audience, issuer, require_claims, verify_exp, verify_nbf, strict_audience
        )
        _checked_tokens[key] = token
        while len(_checked_tokens) > REMEMBERED_TOKENS:
            _checked_tokens.popitem(last=False)
        return token

    def still_valid(self, verify_exp: bool, verify_nbf: bool) -> bool:
        now = time.time()
        if verify_exp and self.exp.timestamp() <= now:
            return False
        not_before = self.extras.get("nbf")
        return not (verify_nbf and isinstance(not_before, int | float) and not_before > now)


def _hashable(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


REMEMBERED_TOKENS = 10_000
_checked_tokens: OrderedDict[tuple, RememberedToken] = OrderedDict()


async def retrieve_principal(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    try:
        user_id = int(token.sub)
    except ValueError:
        return None
    return await accounts.load_principal(user_id)


def build_jwt_auth() -> JWTAuth[Principal, RememberedToken]:
    settings = get_settings()
    return JWTAuth[Principal, RememberedToken](
        retrieve_user_handler=retrieve_principal,
        token_secret=settings.secret_key,
        token_cls=RememberedToken,
        default_token_expiration=timedelta(minutes=settings.token_minutes),
        exclude=PUBLIC_PATHS,
    )


class RoleGuard:
    """A route guard: the caller holds at least one of `roles` on some grant (a user's roles are the union of
    their grants). Litestar runs guards before it reads the body or the query, so a caller whose roles may not
    use a route gets 403 whatever they send, and learns nothing from how their input would have been judged.
    Checks that need data (which street owns a community) stay in the services."""

    def __init__(self, roles: frozenset[Role]) -> None:
        self.roles = roles
        ordered = [role for role in Role if role in roles]
        self.message = f"无权执行此操作：仅限{'、'.join(ROLE_LABELS[role.value] for role in ordered)}"
        self.required = [role.value for role in ordered]

    async def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal: Principal = connection.user
        if not principal.has_role(*self.roles):
            raise PermissionDenied(self.message, detail={"required_roles": self.required})


def requires(*roles: Role) -> RoleGuard:
    return RoleGuard(frozenset(roles))


ANY_ROLE = requires(*Role)
