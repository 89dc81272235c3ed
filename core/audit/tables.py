from piccolo.columns import JSONB, ForeignKey, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from core.accounts.tables import User


class AuditLog(Table, tablename="audit_log"):
    """Append-only record of every decision. A database trigger refuses UPDATE and DELETE.

    The hash chain's columns `seq` and `hash` are kept by the database alone (core migration 2026-12-05T10:08)
    and are not declared here: nothing in the application reads or writes them but `fcom audit verify`.
    """

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
