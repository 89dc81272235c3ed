import os

from piccolo.conf.apps import AppConfig

from core.accounts.tables import AdminSession, LoginFailure, LoginLock, Organisation, RoleGrant, User
from core.audit.tables import AuditLog
from core.calendar.tables import CalendarDay
from core.idempotency.tables import IdempotencyKey
from core.outbox.tables import EmailDeliveryAttempt, OutboxAttachment, OutboxEmail

APP_CONFIG = AppConfig(
    app_name="core",
    migrations_folder_path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "piccolo_migrations"),
    table_classes=[
        Organisation,
        User,
        RoleGrant,
        LoginFailure,
        LoginLock,
        AdminSession,
        AuditLog,
        OutboxEmail,
        OutboxAttachment,
        EmailDeliveryAttempt,
        IdempotencyKey,
        CalendarDay,
    ],
    migration_dependencies=[],
    commands=[],
)
