"""Market data version: communities, needs, contracts and the ledger bump 'market' at commit (matching and
the balance overview read them); communities also bump 'leasing', whose figures name them."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-11-23T14:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "market data version at commit"

SQL = """
SELECT core_data_version_watch('market_community', 'market', 'leasing');
SELECT core_data_version_watch('market_need', 'market');
SELECT core_data_version_watch('market_contract', 'market');
SELECT core_data_version_watch('market_ledger_entry', 'market');
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
