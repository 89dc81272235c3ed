import os

from piccolo.conf.apps import AppConfig

from leasing.tables import (
    DepositSettlement,
    Lease,
    LeaseApplication,
    PanelScore,
    Payment,
    PaymentCustomer,
    RentInvoice,
    Space,
    SpaceListing,
    WebhookEvent,
)

APP_CONFIG = AppConfig(
    app_name="leasing",
    migrations_folder_path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "piccolo_migrations"),
    table_classes=[
        Space,
        SpaceListing,
        LeaseApplication,
        PanelScore,
        Lease,
        RentInvoice,
        DepositSettlement,
        PaymentCustomer,
        Payment,
        WebhookEvent,
    ],
    migration_dependencies=["market.piccolo_app"],
    commands=[],
)
