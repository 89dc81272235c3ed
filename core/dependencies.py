"""App-wide dependencies: who is asking, and the page they want."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import Provide

from core.accounts.principal import Principal
from core.errors import NotAuthenticated
from core.pagination import provide_page_params


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    user = request.scope.get("user")
    if not isinstance(user, Principal):
        raise NotAuthenticated()
    return user


DEPENDENCIES = {
    "principal": Provide(provide_principal, sync_to_thread=False),
    "page": Provide(provide_page_params, sync_to_thread=False),
}
