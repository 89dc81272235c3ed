"""/metrics in Prometheus' text format.

Requests (count and latency by route template, method and status) are counted here, read-cache hits and
misses by core.cache; with several web workers (fcom serve sets
PROMETHEUS_MULTIPROC_DIR) prometheus_client adds up what every worker counted. What is read at scrape time
is added to that: the connection pool of the worker that answers, the outbox queue and each job's latest runs.
"""

from __future__ import annotations

import hmac
import os
import time

from litestar import Controller, Request, Response, get
from litestar.config.app import AppConfig
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from core.db import postgres_engine
from core.outbox import repository as outbox_repo
from core.settings import get_settings
from scheduler import repository as scheduler_repo

METRICS_PATH = "/metrics"

_LABELS = ["method", "route", "status"]
REQUESTS = Counter("fcom_requests", "HTTP requests answered", _LABELS)
REQUEST_SECONDS = Histogram(
    "fcom_request_duration_seconds",
    "Time to answer an HTTP request",
    _LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def count_requests(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: each request by its route's template (one series per route, not per community)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"] == METRICS_PATH:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_noting_status)
        except Exception as exc:
            # Refusals raised by middleware (authentication, rate limits) are answered further out.
            status = getattr(exc, "status_code", 500)
            raise
        finally:
            labels = (scope["method"], scope.get("path_template") or "unmatched", str(status))
            REQUESTS.labels(*labels).inc()
            REQUEST_SECONDS.labels(*labels).observe(time.perf_counter() - started)

    return middleware


def count_every_request(app_config: AppConfig) -> AppConfig:
    """on_app_init hook, last: outermost, so requests refused by authentication or a rate limit count too."""
    app_config.middleware.insert(0, count_requests)
    return app_config


def _counted_registry() -> CollectorRegistry:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


class _Snapshot:
    """A collector of values read once at scrape time. Metric families rather than Gauges: with several
    workers a Gauge would be written to the shared files and counted again by the multiprocess collector."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> list[GaugeMetricFamily]:
        return self.families


async def _read_now() -> CollectorRegistry:
    connections = GaugeMetricFamily(
        "fcom_db_pool_connections", "Connections of the answering worker's pool", labels=["state"]
    )
    pool = postgres_engine().pool
    if pool is not None:
        size, idle = pool.get_size(), pool.get_idle_size()
        connections.add_metric(["in_use"], size - idle)
        connections.add_metric(["idle"], idle)
        connections.add_metric(["max"], pool.get_max_size())

    depth = await outbox_repo.queue_depth()
    waiting = GaugeMetricFamily("fcom_outbox_waiting", "Emails not yet delivered", value=depth.waiting)
    age = time.time() - depth.oldest_created_at.timestamp() if depth.oldest_created_at else 0
    oldest = GaugeMetricFamily("fcom_outbox_oldest_age_seconds", "Age of the oldest email not yet delivered", value=age)

    success = GaugeMetricFamily(
        "fcom_job_last_success_timestamp_seconds", "When each job last succeeded", labels=["job"]
    )
    duration = GaugeMetricFamily(
        "fcom_job_last_duration_seconds", "How long each job's latest run took", labels=["job"]
    )
    outcome = GaugeMetricFamily(
        "fcom_job_last_outcome",
        "Each job's latest run: 1 on its outcome (succeeded, failed)",
        labels=["job", "outcome"],
    )
    for job in await scheduler_repo.job_health():
        if job.last_success_at is not None:
            success.add_metric([job.job], job.last_success_at.timestamp())
        if job.last_duration_ms is not None:
            duration.add_metric([job.job], job.last_duration_ms / 1000)
        outcome.add_metric([job.job, job.last_status], 1)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot([connections, waiting, oldest, success, duration, outcome]))
    return registry


def _authorised(request: Request) -> None:
    settings = get_settings()
    if not settings.metrics_token:
        if settings.is_development:
            return
        raise NotFoundException()  # no token configured: no metrics outside development
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {settings.metrics_token}".encode()):
        raise NotAuthorizedException("需要 METRICS_TOKEN")


class MetricsController(Controller):
    path = METRICS_PATH
    include_in_schema = False
    opt = {"exclude_from_auth": True}  # its own token, not a user's

    @get("/", name="metrics")
    async def metrics(self, request: Request) -> Response[bytes]:
        _authorised(request)
        body = generate_latest(_counted_registry()) + generate_latest(await _read_now())
        return Response(body, media_type=CONTENT_TYPE_LATEST)
