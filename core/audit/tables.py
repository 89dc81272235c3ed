from piccolo.columns import JSONB, ForeignKey, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from core.accounts.tables import User


class AuditLog(Table, tablename="audit_log"):
    """Append-only record of every decision. A database trigger refuses UPDATE and DELETE."""

    id: Serial
    at = Timestamptz(index=True)
    actor = ForeignKey(User, null=True, index=True)
    actor_name = Varchar(length=100, default="system")
    action = Varchar(length=80, index=True)
    entity_type = Varchar(length=60, index=True)
    entity_id = Varchar(length=60, index=True)
    before = JSONB(null=True, default=None)
    after = JSONB(null=True, default=None)
    reason = Text(default="")
