import os

from piccolo.conf.apps import AppConfig

from scheduler.tables import BalanceSnapshot, Flag, JobRun

APP_CONFIG = AppConfig(
    app_name="scheduler",
    migrations_folder_path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "piccolo_migrations"),
    table_classes=[JobRun, Flag, BalanceSnapshot],
    migration_dependencies=["leasing.piccolo_app"],
    commands=[],
)
