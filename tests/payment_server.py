"""A misbehaving payment server: a real HTTP server on its own port in front of localstripe.

It answers each request in turn with what the test scripted for that method and path (an error status, a
garbage or made-up answer, a hang, a cut connection, a request kept in progress), and otherwise carries the
request out at localstripe. Like Stripe (and unlike localstripe) it replays the first answer for a repeated
Idempotency-Key and refuses a key whose first request is still in progress, so the duplicates counted here are
the ones a real account would see. It records every request that arrived (with its headers, query and form)
and every request it carried out.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx
from aiohttp import web

from tests.servers import free_port


@dataclass(frozen=True)
class Fault:
    """What the server does with one request instead of answering it properly.

    kind: "status" (answer `status` with `body`), "hang" (never answer), "cut" (close the connection halfway
    through the body), "slow" (keep the request in progress until `release`, then carry it out).
    acts: carry the request out first, so the payment server did the work and only the answer is lost.
    """

    kind: str
    status: int = 500
    body: bytes = b'{"error": {"type": "api_error", "message": "An unknown error occurred"}}'
    acts: bool = False


def failing(status: int = 500, *, acts: bool = False) -> Fault:
    return Fault("status", status, acts=acts)


def garbage(body: bytes, status: int = 200, *, acts: bool = False) -> Fault:
    return Fault("status", status, body, acts=acts)


def answering(content: Any, status: int = 200) -> Fault:
    """A well-formed JSON answer made up by the test (a list page, an error only a real Stripe account gives)."""
    return Fault("status", status, json.dumps(content).encode())


def hanging(*, acts: bool = False) -> Fault:
    return Fault("hang", acts=acts)


def cut(*, acts: bool = False) -> Fault:
    return Fault("cut", acts=acts)


SLOW = Fault("slow")


@dataclass(frozen=True)
class Arrival:
    """One request as it reached the server."""

    method: str
    path: str
    headers: httpx.Headers
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]

    @property
    def key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


class FaultyPaymentServer:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[Arrival] = []
        self.carried_out: list[tuple[str, str, str | None]] = []
        self._scripts: dict[tuple[str, str], deque[Fault]] = {}
        self._answers: dict[str, tuple[int, bytes]] = {}
        self._in_progress: set[str] = set()
        self._closing = asyncio.Event()
        self._release = asyncio.Event()
        self._held: list[asyncio.Future] = []
        self._runner: web.AppRunner | None = None
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._http = httpx.AsyncClient(base_url=self.upstream, timeout=30)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        self._closing.set()
        self._release.set()
        await self._runner.cleanup()
        await self._http.aclose()

    @property
    def arrived(self) -> list[tuple[str, str, str | None]]:
        """(method, path, Idempotency-Key) of every request that reached the server, in order."""
        return [(r.method, r.path, r.key) for r in self.requests]

    def script(self, method: str, path: str, *faults: Fault) -> None:
        self._scripts.setdefault((method, path), deque()).extend(faults)

    def keys(self, method: str, path: str, log: list | None = None) -> list[str | None]:
        return [key for m, p, key in (self.arrived if log is None else log) if (m, p) == (method, path)]

    async def release(self) -> None:
        """Slow requests held so far are carried out now."""
        self._release.set()
        await asyncio.gather(*self._held)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        key = request.headers.get("Idempotency-Key")
        form = []
        if request.content_type == "application/x-www-form-urlencoded":
            form = parse_qsl(body.decode(), keep_blank_values=True)
        self.requests.append(
            Arrival(
                request.method,
                request.path,
                httpx.Headers(list(request.headers.items())),
                list(request.query.items()),
                form,
            )
        )
        queue = self._scripts.get((request.method, request.path))
        fault = queue.popleft() if queue else None
        if fault is None:
            return await self._carry_out(request, body, key)
        if fault.kind == "slow":
            return await self._slowly(request, body, key)
        if fault.acts:
            await self._carry_out(request, body, key)
        if fault.kind == "hang":
            await self._closing.wait()
            return web.Response(status=503)
        if fault.kind == "cut":
            response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "4096"})
            await response.prepare(request)
            await response.write(b'{"id": "pi_')
            request.transport.close()
            return response
        return web.Response(status=fault.status, body=fault.body, headers={"Content-Type": "application/json"})

    async def _slowly(self, request: web.Request, body: bytes, key: str | None) -> web.StreamResponse:
        done = asyncio.get_running_loop().create_future()
        self._held.append(done)
        self._in_progress.add(key)
        try:
            await self._release.wait()
            self._in_progress.discard(key)
            if self._closing.is_set():
                return web.Response(status=503)
            return await self._carry_out(request, body, key)
        finally:
            self._in_progress.discard(key)
            done.set_result(None)

    async def _carry_out(self, request: web.Request, body: bytes, key: str | None) -> web.Response:
        if key in self._answers:
            status, content = self._answers[key]
        elif key is not None and key in self._in_progress:
            status, content = (
                409,
                (
                    b'{"error": {"type": "idempotency_error", "message": "There is currently '
                    b'another in-progress request using this Idempotent Key."}}'
                ),
            )
        else:
            if key is not None:
                self._in_progress.add(key)
            try:
                self.carried_out.append((request.method, request.path, key))
                headers = {
                    name: request.headers[name] for name in ("Authorization", "Content-Type") if name in request.headers
                }
                answer = await self._http.request(request.method, request.path_qs, content=body, headers=headers)
                status, content = answer.status_code, answer.content
                if key is not None and status < 500:
                    self._answers[key] = (status, content)
            finally:
                self._in_progress.discard(key)
        return web.Response(status=status, body=content, headers={"Content-Type": "application/json"})
