"""A PostgreSQL of the test's own, to stop and start under a running server without touching the shared one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bench.servers import PROJECT_ROOT, create_database, pg_bin_dir, start_embedded_postgres, stop_embedded_postgres


class OwnPostgres:
    """An embedded PostgreSQL on a data folder of its own, listening on a unix socket in that folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        server_url = start_embedded_postgres(folder)
        self.socket_dir = parse_qs(urlsplit(server_url).query)["host"][0]
        self.url = create_database(server_url, "fcom_faults")
        # As root, embedded_postgres runs the server as its own system user; pg_ctl must run as that user too.
        self._user = "embedded_postgres" if os.geteuid() == 0 else None

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [str(pg_bin_dir() / "pg_ctl"), "-D", str(self.folder), "-w", "-t", "30", *args],
            check=True,
            user=self._user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    def stop(self) -> None:
        """Fast shutdown: open sessions are cut, as when the database server is restarted."""
        self._pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        """Start again on the same data folder and socket, as embedded_postgres first started it."""
        self._pg_ctl("-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.folder / "log"), "start")

    def close(self) -> None:
        if not (self.folder / "postmaster.pid").exists():
            self.start()  # so the embedded server's own clean-up finds it and deletes the folder
        stop_embedded_postgres(self.folder)


@pytest.fixture
def own_postgres():
    root = Path(tempfile.mkdtemp(prefix="fcom-faults-"))
    server = OwnPostgres(root / "pg")
    try:
        yield server
    finally:
        server.close()
        shutil.rmtree(root, ignore_errors=True)


SEED = """
import asyncio
import json

import httpx

from app.app import create_app
from app.cli import database
from tests.market.helpers import community
from tests.world import build_world

async def main():
    async with database():
        app = create_app()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            world = await build_world(client)
            created = await community(world, "street_x", "江滨未来社区")
    print(json.dumps({"tokens": world.tokens, "community_id": created["id"]}))

asyncio.run(main())
"""


def seed_world(database_url: str) -> dict:
    """The tests' org tree, its users' tokens and one community, created in another database by a process of
    its own (this process's services are bound to the shared test database)."""
    done = subprocess.run(
        [sys.executable, "-c", SEED],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url, "MIGRATION_DATABASE_URL": database_url},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
