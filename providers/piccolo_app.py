import os

from piccolo.conf.apps import AppConfig

from providers.tables import (
    Application,
    ApplicationCategory,
    ApplicationEvent,
    Batch,
    BatchCounter,
    BatchEntry,
    Category,
    Certificate,
    Evaluation,
    Listing,
    Objection,
    Operator,
    StatusDecision,
    StatusProposal,
)

APP_CONFIG = AppConfig(
    app_name="providers",
    migrations_folder_path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "piccolo_migrations"),
    table_classes=[
        Category,
        Operator,
        Certificate,
        Application,
        ApplicationCategory,
        ApplicationEvent,
        Batch,
        BatchCounter,
        BatchEntry,
        Objection,
        Listing,
        Evaluation,
        StatusDecision,
        StatusProposal,
    ],
    migration_dependencies=["core.piccolo_app"],
    commands=[],
)
