"""PostgreSQL restarted under a running API server: clean 503s while it is down, back to 200 by itself after,
and no acknowledged write lost."""

from __future__ import annotations

import asyncio
import itertools
import os

import httpx

from bench.servers import Server
from tests.faults.conftest import seed_world

LEDGER_MONTH = "2026-10-01"
UNAVAILABLE = {"code": "service.database_unavailable", "message": "数据库暂时无法访问，请稍后再试", "detail": None}


class Traffic:
    """Reads and writes against the server, recording every answer and every write acknowledged with 2xx."""

    def __init__(self, http: httpx.AsyncClient, token: str, community_id: int) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}
        self.ledger = f"/api/v1/communities/{community_id}/ledger"
        self.acknowledged: dict[int, str] = {}  # entry id → voucher reference
        self.answers: list[tuple[str, int, dict | None]] = []
        self._references = (f"FAULT-{n:05d}" for n in itertools.count())

    async def write(self) -> httpx.Response:
        reference = next(self._references)
        response = await self.http.post(
            self.ledger,
            headers=self.headers,
            json={"month": LEDGER_MONTH, "kind": "subsidy", "amount": 1_000, "reference": reference},
        )
        self._record("write", response)
        if response.is_success:
            self.acknowledged[response.json()["id"]] = reference
        return response

    async def read(self) -> httpx.Response:
        response = await self.http.get(self.ledger, headers=self.headers, params={"limit": 1})
        self._record("read", response)
        return response

    def _record(self, kind: str, response: httpx.Response) -> None:
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else None
        self.answers.append((kind, response.status_code, body))

    async def stored_references(self) -> dict[int, str]:
        stored, offset = {}, 0
        while True:
            response = await self.http.get(
                self.ledger,
                headers=self.headers,
                params={"start": LEDGER_MONTH, "end": "2026-11-01", "limit": 200, "offset": offset},
            )
            assert response.status_code == 200, response.text
            page = response.json()
            stored.update({item["id"]: item["source"].rsplit(":", 1)[-1] for item in page["items"]})
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return stored


async def keep_busy(traffic: Traffic, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await traffic.write()
        await traffic.read()
        await asyncio.sleep(0.02)  # steady, without starving the rest of a shared machine


async def test_requests_during_a_database_restart_get_a_clean_503_and_the_server_recovers_by_itself(
    own_postgres, tmp_path
):
    seeded = seed_world(own_postgres.url)
    server = Server(
        "database-restart",
        "app.app:create_app",
        workers=1,
        log_dir=tmp_path,
        env={
            **os.environ,
            "DATABASE_URL": own_postgres.url,
            "MIGRATION_DATABASE_URL": own_postgres.url,
            "DB_POOL_MIN": "2",
            "DB_POOL_MAX": "5",
        },
    )
    busy: list[asyncio.Task] = []
    try:
        await asyncio.to_thread(server.wait_until_healthy)
        served_by = server.worker_pids()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as http:
            traffic = Traffic(http, seeded["tokens"]["street_x"], seeded["community_id"])
            for _ in range(5):
                assert (await traffic.write()).status_code == 201
                assert (await traffic.read()).status_code == 200

            # Requests keep coming while the database goes away and comes back.
            stop = asyncio.Event()
            busy = [asyncio.create_task(keep_busy(traffic, stop)) for _ in range(3)]
            await asyncio.sleep(0)
            await asyncio.to_thread(own_postgres.stop)

            # While it is down, every read and write is refused the same way.
            down = [await traffic.write() for _ in range(3)] + [await traffic.read() for _ in range(3)]
            assert [(r.status_code, r.json()) for r in down] == [(503, UNAVAILABLE)] * 6
            assert all(r.headers["retry-after"] for r in down)

            await asyncio.to_thread(own_postgres.start)
            stop.set()
            await asyncio.gather(*busy)
            busy = []

            # Back without restarting the server: the first requests may still meet a connection cut by the
            # restart (a clean 503 too); then everything succeeds.
            for _ in range(50):
                if (await traffic.read()).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the server did not recover after the database came back")
            after = [await traffic.write() for _ in range(5)]
            assert [r.status_code for r in after] == [201] * 5
            assert (await traffic.read()).status_code == 200

            assert {status for _, status, _ in traffic.answers} <= {200, 201, 503}
            assert all(body == UNAVAILABLE for _, status, body in traffic.answers if status == 503)
            assert sum(status == 503 for _, status, _ in traffic.answers) >= 6
            stored = await traffic.stored_references()
            assert {i: stored.get(i) for i in traffic.acknowledged} == traffic.acknowledged
        assert server.process.poll() is None and server.worker_pids() == served_by
    finally:
        for task in busy:
            task.cancel()
        server.stop()
