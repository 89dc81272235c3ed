"""HTTP load for the benchmarks: wrk when it is installed, otherwise a keep-alive asyncio client.

Both keep a fixed number of keep-alive connections busy for a fixed time, send the requests of a list in turn
and report requests/s with latency percentiles. A request is a path (a GET) or a Request with a method,
headers and a body:

    run_load(url, ["/api/v1/public/operators", "/api/v1/public/operators?sort=new"],
             connections=64, duration=15, use_wrk=True)
    run_load(url, [Request("/api/v1/applications", method="POST", body=json_bytes,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                   for token, json_bytes in ...],
             connections=16, duration=30, use_wrk=True, cycle=False)

Order: all connections share one position in the list; each request a connection sends is the next one.
With cycle=True (the default) the list starts over at its end and the run lasts `duration` seconds. With
cycle=False each request of the list is sent at most once: the run ends after `duration` seconds or as soon as
the list is used up and the last answer is in, whichever comes first; LoadResult then gives the requests
actually answered, the elapsed time until the last answer, and exhausted=True if the list ran out.

Non-cycling runs always use the Python client, whatever use_wrk says (LoadResult.generator tells which one
ran): wrk cannot stop early, its clock is the full --duration, and it cannot tell the latency of filler
requests from the real ones, so requests/s and percentiles would be wrong once the list runs out.

What counts:
  requests   answers received (any status); a request that failed on the connection is not one of them;
  errors     connection errors and timeouts (10 s) - with cycle=False such a request is not sent again;
  non_2xx    the Python client: answers whose status is not 2xx; wrk: answers with a status of 400 or more;
  status_counts  answers by status (Python client only; wrk gives {}).

The Python client runs in its own process (uvloop when installed):

    python -m bench.loadgen --url http://127.0.0.1:8000 --paths-file paths.txt --connections 64 --duration 15
    python -m bench.loadgen --url ... --requests-file requests.dat --no-cycle ...   # see write_requests_file

Every request is encoded once (encode_request) into the bytes both generators send, written to a requests file
that wrk's Lua script loads in init() (one string per request; 100,000 requests load in well under a second)
and the Python client reads the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import KW_ONLY, asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

RESULT_MARKER = "LOAD_RESULT "
REQUEST_TIMEOUT_S = 10.0

__all__ = [
    "Request",
    "LoadResult",
    "run_load",
    "wrk_available",
    "encode_request",
    "write_requests_file",
    "read_requests_file",
]


@dataclass(frozen=True)
class Request:
    """One HTTP request: Request("/path"), or Request("/path", method="POST", headers={...}, body=b"...").

    Host is added unless given; Content-Length is set from the body (a str body is sent as UTF-8). A body of
    None sends no Content-Length (fine for GET); b"" sends Content-Length: 0.
    """

    path: str
    _: KW_ONLY
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str | None = None

    def body_bytes(self) -> bytes | None:
        return self.body.encode() if isinstance(self.body, str) else self.body


@dataclass(frozen=True)
class LoadResult:
    requests: int
    duration_s: float
    errors: int
    non_2xx: int
    p50_ms: float
    p99_ms: float
    p90_ms: float = 0.0
    max_ms: float = 0.0
    status_counts: dict[str, int] = field(default_factory=dict)
    generator: str = ""
    exhausted: bool = False

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_load(
    base_url: str,
    requests: list[Request] | list[str],
    *,
    connections: int,
    duration: float,
    use_wrk: bool,
    cycle: bool = True,
    threads: int = 1,
) -> LoadResult:
    """Keep `connections` requests in flight against base_url for `duration` seconds (see the module doc).

    requests: paths (GETs) or Request objects, mixed as you like.
    threads: wrk threads (wrk only; the Python client is one process). wrk loads the list in each thread one
    after the other and a thread starts sending once its own copy is loaded, before wrk's clock starts: with
    threads > 1 and a long list (about 0.12 s per 100,000 requests) the first threads get a small head start.
    """
    if not requests:
        raise ValueError("run_load needs at least one request")
    normalized = [Request(r) if isinstance(r, str) else r for r in requests]
    for request in normalized:
        if not request.path.startswith("/"):
            raise ValueError(f"request path must start with '/': {request.path!r}")
    with tempfile.TemporaryDirectory(prefix="fcom-load-") as folder:
        requests_file = Path(folder) / "requests.dat"
        write_requests_file(requests_file, normalized, urlsplit(base_url).netloc)
        if use_wrk and cycle:
            return _run_wrk(base_url, requests_file, connections=connections, duration=duration, threads=threads)
        return _run_python_client(base_url, requests_file, connections=connections, duration=duration, cycle=cycle)


# The requests file: read by the wrk Lua script and by the Python client --------------------------
#
# The requests are encoded once, here, as the exact bytes to send, so that wrk and the Python client send the
# same bytes. Each request is written as <length in bytes>:<bytes>, one after the other.


def encode_request(request: Request, host: str) -> bytes:
    """The HTTP/1.1 bytes of a request: request line, Host (unless given), the headers, Content-Length from
    the body (any Content-Length given is replaced), a blank line and the body."""
    lines = [f"{request.method} {request.path} HTTP/1.1"]
    if not any(name.lower() == "host" for name in request.headers):
        lines.append(f"Host: {host}")
    for name, value in request.headers.items():
        if name.lower() == "content-length":
            continue
        if any(c in name or c in value for c in "\r\n"):
            raise ValueError(f"header {name!r} contains a line break")
        lines.append(f"{name}: {value}")
    body = request.body_bytes()
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1") + (body or b"")


def write_requests_file(path: Path, requests: list[Request], host: str) -> None:
    """Write the requests for the Host `host` (host:port, as in the base URL) to a requests file."""
    chunks = []
    for request in requests:
        raw = encode_request(request, host)
        chunks.append(b"%d:" % len(raw))
        chunks.append(raw)
    Path(path).write_bytes(b"".join(chunks))


def read_requests_file(path: Path) -> list[bytes]:
    """The encoded requests of a requests file."""
    data = Path(path).read_bytes()
    raws, position = [], 0
    while position < len(data):
        colon = data.index(b":", position)
        position = colon + 1 + int(data[position:colon])
        raws.append(data[colon + 1 : position])
    return raws


# wrk -------------------------------------------------------------------------------------------

WRK_SCRIPT = r"""
local requests_file = %(requests_file)s
local thread_count = %(threads)d
local next_id = 0

function setup(thread)
    thread:set("thread_id", next_id)
    next_id = next_id + 1
end

local requests = {}
local position = 0

function init(args)
    local f = assert(io.open(requests_file, "rb"))
    local data = f:read("*a")
    f:close()
    local pos, count = 1, 0
    while pos <= #data do
        local colon = string.find(data, ":", pos, true)
        local length = tonumber(string.sub(data, pos, colon - 1))
        count = count + 1
        requests[count] = string.sub(data, colon + 1, colon + length)
        pos = colon + length + 1
    end
    -- threads start at different places of the list
    position = math.floor((thread_id or 0) * count / thread_count)
end

function request()
    position = position %% #requests + 1
    return requests[position]
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        '%(marker)s{"requests": %%d, "duration_s": %%.6f, "errors": %%d, "non_2xx": %%d, '
        .. '"p50_ms": %%.3f, "p90_ms": %%.3f, "p99_ms": %%.3f, "max_ms": %%.3f, "generator": "wrk"}\n',
        summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout, e.status,
        latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
        latency.max / 1000))
end
"""


def _lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


def _run_wrk(base_url: str, requests_file: Path, *, connections: int, duration: float, threads: int) -> LoadResult:
    threads = max(1, min(threads, connections))
    script = requests_file.with_suffix(".lua")
    script.write_text(
        WRK_SCRIPT % {"requests_file": _lua_string(str(requests_file)), "threads": threads, "marker": RESULT_MARKER}
    )
    completed = subprocess.run(
        [
            "wrk",
            "--threads",
            str(threads),
            "--connections",
            str(connections),
            "--duration",
            f"{duration:g}s",
            "--timeout",
            f"{REQUEST_TIMEOUT_S:g}s",
            "--script",
            str(script),
            base_url,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 120,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    return _parse_result(completed.stdout + completed.stderr)


def _run_python_client(
    base_url: str, requests_file: Path, *, connections: int, duration: float, cycle: bool
) -> LoadResult:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            "--url",
            base_url,
            "--requests-file",
            str(requests_file),
            "--connections",
            str(connections),
            "--duration",
            str(duration),
            *([] if cycle else ["--no-cycle"]),
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=duration + 120,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"the Python load client failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
        )
    return _parse_result(completed.stdout)


def _parse_result(output: str) -> LoadResult:
    for line in output.splitlines():
        if line.startswith(RESULT_MARKER):
            return LoadResult(**json.loads(line[len(RESULT_MARKER) :]))
    raise RuntimeError(f"the load generator printed no result:\n{output}")


# The Python client -----------------------------------------------------------------------------


class _Connection:
    """One keep-alive HTTP/1.1 connection: sends a prepared request, reads the answer (Content-Length,
    chunked, or until close), returns the status."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, raw: bytes, head_only: bool) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(raw)
        reader = self.reader
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length, chunked, close = None, False, status_line.startswith("HTTP/1.0")
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                close = value.strip().lower() == "close"
        if head_only or status in (204, 304) or 100 <= status < 200:
            pass
        elif chunked:
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length is not None:
            await reader.readexactly(length)
        else:
            await reader.read()
            close = True
        if close:
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = self.reader = None


class _Run:
    def __init__(self, raws: list[bytes], cycle: bool, deadline: float) -> None:
        self.raw = [(raw, raw.startswith(b"HEAD ")) for raw in raws]
        self.cycle = cycle
        self.deadline = deadline
        self.position = 0
        self.exhausted = False
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.last_answer = 0.0

    def next_request(self) -> tuple[bytes, bool] | None:
        if time.perf_counter() >= self.deadline:
            return None
        if self.position >= len(self.raw):
            if not self.cycle:
                self.exhausted = True
                return None
            self.position = 0
        request = self.raw[self.position]
        self.position += 1
        return request


async def _client_loop(connection: _Connection, run: _Run) -> None:
    while (request := run.next_request()) is not None:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                status = await connection.send(*request)
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            ValueError,
            IndexError,
        ) as exc:
            run.errors[type(exc).__name__] += 1
            await connection.close()
            continue
        run.last_answer = time.perf_counter()
        run.latencies.append(run.last_answer - started)
        run.statuses[status] += 1


async def _python_load(
    base_url: str, raws: list[bytes], connections: int, duration: float, cycle: bool = True
) -> LoadResult:
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    clients = [_Connection(host, port) for _ in range(connections)]
    started = time.perf_counter()
    run = _Run(raws, cycle, started + duration)
    await asyncio.gather(*(_client_loop(c, run) for c in clients))
    # cycling: the full run including the answers still in flight at the deadline; not cycling: until the
    # last answer (the list may run out before the deadline)
    elapsed = (time.perf_counter() if cycle else max(run.last_answer, started)) - started
    for client in clients:
        await client.close()
    latencies = sorted(run.latencies)
    non_2xx = sum(count for status, count in run.statuses.items() if not 200 <= status < 300)
    return LoadResult(
        requests=len(latencies),
        duration_s=round(elapsed, 6),
        errors=sum(run.errors.values()),
        non_2xx=non_2xx,
        p50_ms=round(_percentile(latencies, 50) * 1000, 3),
        p99_ms=round(_percentile(latencies, 99) * 1000, 3),
        p90_ms=round(_percentile(latencies, 90) * 1000, 3),
        max_ms=round(latencies[-1] * 1000, 3) if latencies else 0.0,
        status_counts={str(status): count for status, count in sorted(run.statuses.items())},
        generator="python",
        exhausted=run.exhausted,
    )


def _percentile(ordered: list[float], percent: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description="keep-alive HTTP load with latency percentiles")
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--paths-file", help="one GET path per line")
    source.add_argument("--requests-file", help="requests written by bench.loadgen.write_requests_file")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds")
    parser.add_argument("--no-cycle", action="store_true", help="send each request once; stop when the list is used up")
    args = parser.parse_args()
    if args.paths_file:
        host = urlsplit(args.url).netloc
        raws = [encode_request(Request(line), host) for line in Path(args.paths_file).read_text().splitlines() if line]
    else:
        raws = read_requests_file(Path(args.requests_file))
    coroutine = _python_load(args.url, raws, args.connections, args.duration, cycle=not args.no_cycle)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(coroutine)
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            result = runner.run(coroutine)
    print(RESULT_MARKER + json.dumps(asdict(result)), flush=True)


if __name__ == "__main__":
    main()
