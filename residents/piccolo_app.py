import os

from piccolo.conf.apps import AppConfig

from residents.tables import (
    Ballot,
    Household,
    LoginCode,
    Poll,
    PollOption,
    Resident,
    Survey,
    SurveyAnswer,
    SurveyOfflineRow,
    SurveyUpload,
)

APP_CONFIG = AppConfig(
    app_name="residents",
    migrations_folder_path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "piccolo_migrations"),
    table_classes=[
        Household,
        Resident,
        LoginCode,
        Poll,
        PollOption,
        Ballot,
        Survey,
        SurveyAnswer,
        SurveyUpload,
        SurveyOfflineRow,
    ],
    migration_dependencies=["core.piccolo_app", "providers.piccolo_app", "market.piccolo_app"],
    commands=[],
)
