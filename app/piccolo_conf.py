from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

from app.domains import DOMAIN_PACKAGES
from core.db import resolve_database_url

DB = PostgresEngine(config={"dsn": resolve_database_url()}, log_queries=False)

APP_REGISTRY = AppRegistry(apps=["core.piccolo_app", *(f"{p.__name__}.piccolo_app" for p in DOMAIN_PACKAGES)])
