import os

from piccolo.conf.apps import AppConfig

from market.tables import AllocationLine, AllocationPlan, Community, LedgerEntry, Need, ServiceContract

APP_CONFIG = AppConfig(
    app_name="market",
    migrations_folder_path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "piccolo_migrations"),
    table_classes=[Community, Need, ServiceContract, LedgerEntry, AllocationPlan, AllocationLine],
    migration_dependencies=["providers.piccolo_app"],
    commands=[],
)
