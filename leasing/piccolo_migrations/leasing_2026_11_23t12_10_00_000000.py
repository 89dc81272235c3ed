"""Officials' figures read invoices by month: an index that holds what they sum."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-11-23T12:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "invoice month index for figures"

SQL = """
CREATE INDEX IF NOT EXISTS leasing_invoice_by_month ON leasing_invoice (month) INCLUDE (lease, amount, status);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="leasing", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
