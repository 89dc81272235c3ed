"""App-wide dependencies: who is asking, the page they want, and the period or month they ask about."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import Provide

from core.accounts.principal import Principal
from core.dates import provide_period, provide_report_month
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
    "period": Provide(provide_period, sync_to_thread=False),
    "report_month": Provide(provide_report_month, sync_to_thread=False),
}
