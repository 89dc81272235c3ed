"""piccolo-admin at /admin, for city-level staff only (User.admin is true exactly for city-role users).

Read-only: what it offers (users, grants, the org tree, the mail outbox) changes only through the API's
services, which write the audit row in the same transaction. piccolo-admin writes rows directly, so a
grant changed here would leave no trace. The audit log itself is not offered at all: it is read through the
API, and the database refuses changes.
"""

from __future__ import annotations

from litestar import asgi
from litestar.types import Receive, Scope, Send
from piccolo.table import Table
from piccolo_admin.endpoints import create_admin

from core.accounts.tables import AdminSession, Organisation, RoleGrant, User
from core.outbox.tables import OutboxEmail
from core.settings import get_settings

CORE_ADMIN_TABLES: list[type[Table]] = [Organisation, RoleGrant, OutboxEmail]


def admin_handler(extra_tables: list[type[Table]]):
    app = create_admin(
        tables=[*CORE_ADMIN_TABLES, *extra_tables],
        auth_table=User,
        session_table=AdminSession,
        site_name="未来社区长效运营市场 · 管理后台",
        production=get_settings().admin_https_only,
        read_only=True,
    )

    @asgi("/admin", is_mount=True, copy_scope=True, exclude_from_auth=True)
    async def admin(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)

    return admin
