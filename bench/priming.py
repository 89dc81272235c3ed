"""Priming: before an "app" run, every web worker answers every distinct request of the mix from its own cache.

Read caches are per worker process, and the kernel hands a new connection to whichever worker accepts it first:
a request cannot be addressed to a worker. So priming opens connections until it holds CONNECTIONS_PER_WORKER
to each worker, asking the operating system which worker process owns each one (psutil), then over each
worker's own connections:

1. fill: sends every distinct request once; the worker builds whatever it does not hold yet;
2. check: sends every distinct request again and times each answer. A worker that answers all of them from
   its cache answers each within a few milliseconds at this concurrency; a miss of the matching, overview or
   figures endpoints takes far longer than AIM_P99_MS. Fill and check are repeated (at most ROUNDS times)
   until no check answer of any worker takes AIM_P99_MS or more.

    found = prime_every_worker(server, requests)   # {"steady": True, "rounds": 1, "workers": {...}}

Every request goes through the whole application, as in the measured run; nothing is skipped or faked.
"""

from __future__ import annotations

import asyncio
import time

import psutil

from bench.loadgen import Request, _Connection, encode_request
from bench.servers import Server

CONNECTIONS_PER_WORKER = 2  # a worker builds two shortlists at a time (market.service._builds_at_once)
MAX_CONNECT_ATTEMPTS = 400
ROUNDS = 3
AIM_P99_MS = 50


def prime_every_worker(server: Server, requests: list[Request]) -> dict:
    """Fill and check every worker's cache with the distinct requests of `requests` (see the module doc)."""
    return asyncio.run(_prime(server, requests))


async def _prime(server: Server, requests: list[Request]) -> dict:
    host, port = "127.0.0.1", server.port
    netloc = f"{host}:{port}"
    distinct = list({(r.method, r.path, tuple(r.headers.items()), r.body_bytes()): r for r in requests}.values())
    raws = [encode_request(r, netloc) for r in distinct]
    held, attempts = await _connections_to_every_worker(server, host, port)
    found: dict = {
        "distinct_requests": len(distinct),
        "connect_attempts": attempts,
        "connections_per_worker": {str(pid): len(c) for pid, c in held.items()},
    }
    try:
        if any(not connections for connections in held.values()):
            return {**found, "steady": False, "rounds": 0, "workers": {}}
        rounds = []
        for _ in range(ROUNDS):
            fill = await asyncio.gather(*(_send_all(connections, raws) for connections in held.values()))
            check = await asyncio.gather(*(_send_all(connections, raws) for connections in held.values()))
            workers = {
                str(pid): {
                    "fill_s": round(f["seconds"], 2),
                    "check_s": round(c["seconds"], 2),
                    "check_p50_ms": c["p50_ms"],
                    "check_max_ms": c["max_ms"],
                    "statuses": c["statuses"],
                }
                for pid, f, c in zip(held, fill, check, strict=True)
            }
            rounds.append(workers)
            if all(w["check_max_ms"] < AIM_P99_MS for w in workers.values()):
                break
        steady = all(w["check_max_ms"] < AIM_P99_MS for w in rounds[-1].values())
        return {**found, "steady": steady, "rounds": len(rounds), "workers": rounds[-1], "earlier_rounds": rounds[:-1]}
    finally:
        for connections in held.values():
            for connection in connections:
                await connection.close()


async def _connections_to_every_worker(server: Server, host: str, port: int) -> tuple[dict[int, list], int]:
    """CONNECTIONS_PER_WORKER open connections to each worker (fewer if the kernel never hands it one)."""
    workers = server.worker_pids()
    held: dict[int, list[_Connection]] = {pid: [] for pid in workers}
    probe = encode_request(Request("/health"), f"{host}:{port}")
    attempts = 0
    while any(len(c) < CONNECTIONS_PER_WORKER for c in held.values()) and attempts < MAX_CONNECT_ATTEMPTS:
        attempts += 1
        connection = _Connection(host, port)
        await connection.send(probe, False)  # answered, so accepted: one worker owns it now
        owner = _owner(workers, port, connection.writer.get_extra_info("sockname")[1])
        if owner is not None and len(held[owner]) < CONNECTIONS_PER_WORKER:
            held[owner].append(connection)
        else:
            await connection.close()
            await asyncio.sleep(0.005)
    return held, attempts


def _owner(workers: list[int], server_port: int, client_port: int) -> int | None:
    """The worker process holding the server end of the connection from `client_port`."""
    for pid in workers:
        try:
            sockets = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(s.laddr and s.laddr.port == server_port and s.raddr and s.raddr.port == client_port for s in sockets):
            return pid
    return None


def connections_per_worker(server: Server) -> dict[str, int]:
    """How many client connections each worker holds now: the kernel's split of a load generator's connections,
    which need not be even (one worker may take a whole burst of new connections)."""
    found = {}
    for pid in server.worker_pids():
        try:
            sockets = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        found[str(pid)] = sum(
            1
            for s in sockets
            if s.laddr and s.laddr.port == server.port and s.raddr and s.status == psutil.CONN_ESTABLISHED
        )
    return found


async def _send_all(connections: list[_Connection], raws: list[bytes]) -> dict:
    """Every request once over one worker's connections (each takes the next request); latency per answer."""
    position = 0
    latencies: list[float] = []
    statuses: dict[str, int] = {}

    async def loop(connection: _Connection) -> None:
        nonlocal position
        while position < len(raws):
            raw = raws[position]
            position += 1
            started = time.perf_counter()
            status = await connection.send(raw, raw.startswith(b"HEAD "))
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[str(status)] = statuses.get(str(status), 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in connections))
    latencies.sort()
    return {
        "seconds": time.perf_counter() - started,
        "p50_ms": round(latencies[len(latencies) // 2], 1),
        "max_ms": round(latencies[-1], 1),
        "statuses": statuses,
    }
