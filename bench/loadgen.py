"""HTTP load for the benchmarks: wrk when it is installed, otherwise a keep-alive asyncio client.

Both keep a fixed number of connections busy for a fixed time, cycle through a list of paths, and report
requests/s with the 50th and 99th latency percentiles. The Python client runs in its own process:

    python -m bench.loadgen --url http://127.0.0.1:8000 --paths-file paths.txt --connections 64 --duration 15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

RESULT_MARKER = "LOAD_RESULT "

WRK_SCRIPT = """
local paths = {%(paths)s}
local next_path = 0

function request()
    next_path = next_path %% #paths + 1
    return wrk.format("GET", paths[next_path])
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        '%(marker)s{"requests": %%d, "duration_s": %%.6f, "errors": %%d, "non_2xx": %%d, '
        .. '"p50_ms": %%.3f, "p99_ms": %%.3f}\\n',
        summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout, e.status,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    duration_s: float
    errors: int
    non_2xx: int
    p50_ms: float
    p99_ms: float

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_load(base_url: str, paths: list[str], *, connections: int, duration: float, use_wrk: bool) -> LoadResult:
    """Keep `connections` requests in flight against base_url for `duration` seconds."""
    runner = _run_wrk if use_wrk else _run_python_client
    return runner(base_url, paths, connections=connections, duration=duration)


def _run_wrk(base_url: str, paths: list[str], *, connections: int, duration: float) -> LoadResult:
    lua_paths = ", ".join(json.dumps(p) for p in paths)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"paths": lua_paths, "marker": RESULT_MARKER})
    try:
        completed = subprocess.run(
            ["wrk", "--threads", "1", "--connections", str(connections), "--duration", f"{duration:g}s",
             "--timeout", "10s", "--script", script.name, base_url],
            capture_output=True, text=True, check=True,
        )
    finally:
        os.unlink(script.name)
    return _parse_result(completed.stdout)


def _run_python_client(base_url: str, paths: list[str], *, connections: int, duration: float) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as paths_file:
        paths_file.write("\n".join(paths))
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "bench.loadgen", "--url", base_url, "--paths-file", paths_file.name,
             "--connections", str(connections), "--duration", str(duration)],
            capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent,
        )
    finally:
        os.unlink(paths_file.name)
    return _parse_result(completed.stdout)


def _parse_result(output: str) -> LoadResult:
    for line in output.splitlines():
        if line.startswith(RESULT_MARKER):
            return LoadResult(**json.loads(line[len(RESULT_MARKER):]))
    raise RuntimeError(f"the load generator printed no result:\n{output}")


# The Python client -----------------------------------------------------------------------------

class _Connection:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads Content-Length bodies."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        length = None
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length is None:
            raise RuntimeError("response without Content-Length")
        await self.reader.readexactly(length)
        return int(status_line.split(" ", 2)[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def _client_loop(connection: _Connection, paths: list[str], deadline: float,
                       latencies: list[float], failures: list[str]) -> None:
    position = random.randrange(len(paths))
    while time.perf_counter() < deadline:
        position = (position + 1) % len(paths)
        started = time.perf_counter()
        try:
            status = await connection.get(paths[position])
        except (OSError, asyncio.IncompleteReadError, RuntimeError) as exc:
            failures.append(type(exc).__name__)
            await connection.close()
            continue
        latencies.append(time.perf_counter() - started)
        if not 200 <= status < 300:
            failures.append(f"status {status}")


async def _python_load(base_url: str, paths: list[str], connections: int, duration: float) -> LoadResult:
    url = urlsplit(base_url)
    clients = [_Connection(url.hostname, url.port or 80) for _ in range(connections)]
    latencies: list[float] = []
    failures: list[str] = []
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.gather(*(_client_loop(c, paths, deadline, latencies, failures) for c in clients))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.close()
    latencies.sort()
    non_2xx = sum(1 for f in failures if f.startswith("status"))
    return LoadResult(
        requests=len(latencies), duration_s=elapsed, errors=len(failures) - non_2xx, non_2xx=non_2xx,
        p50_ms=_percentile(latencies, 50) * 1000, p99_ms=_percentile(latencies, 99) * 1000,
    )


def _percentile(ordered: list[float], percent: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description="keep-alive HTTP load with latency percentiles")
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--paths-file", required=True, help="one request path per line")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds")
    args = parser.parse_args()
    paths = [line for line in Path(args.paths_file).read_text().splitlines() if line]
    result = asyncio.run(_python_load(args.url, paths, args.connections, args.duration))
    print(RESULT_MARKER + json.dumps(asdict(result)), flush=True)


if __name__ == "__main__":
    main()
