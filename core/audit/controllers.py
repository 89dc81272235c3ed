from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from core.accounts.principal import Principal
from core.accounts.tables import Role
from core.audit import service
from core.audit.schemas import AuditEntry
from core.auth import requires
from core.http.openapi import errors
from core.pagination import PageParams
from core.schemas import Page


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["审计"]

    @get(
        "/",
        operation_id="listAudit",
        guards=[requires(Role.city, Role.auditor)],
        responses=errors(403),
        summary="审计日志（市建委与审计人员可查）",
    )
    async def list_audit(
        self,
        principal: Principal,
        page: PageParams,
        entity_type: Annotated[str | None, Parameter(max_length=60)] = None,
        entity_id: Annotated[str | None, Parameter(max_length=60)] = None,
        action: Annotated[str | None, Parameter(max_length=80)] = None,
    ) -> Page[AuditEntry]:
        rows, total = await service.search(
            principal, entity_type=entity_type, entity_id=entity_id, action=action, limit=page.limit, offset=page.offset
        )
        return Page.of(rows, total, page)


ROUTES = [AuditController]
