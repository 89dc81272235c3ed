import os

from piccolo.conf.apps import AppConfig

from residents.tables import (
    Activity,
    Ballot,
    Household,
    LoginCode,
    PointsAccount,
    PointsPosting,
    PointsService,
    Poll,
    PollOption,
    Redemption,
    Resident,
    Signup,
    Survey,
    SurveyAnswer,
    SurveyOfflineRow,
    SurveyUpload,
    Withdrawal,
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
        Activity,
        PointsAccount,
        PointsPosting,
        PointsService,
        Redemption,
        Signup,
        Survey,
        SurveyAnswer,
        SurveyOfflineRow,
        SurveyUpload,
        Withdrawal,
    ],
    migration_dependencies=["core.piccolo_app", "providers.piccolo_app", "market.piccolo_app"],
    commands=[],
)
