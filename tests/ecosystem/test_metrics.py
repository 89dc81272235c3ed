"""/metrics as Prometheus scrapes it: parsed with prometheus_client's own parser."""

from __future__ import annotations

import os

from prometheus_client.parser import text_string_to_metric_families

from core.outbox.service import enqueue
from core.settings import get_settings
from scheduler import engine
from scheduler.jobs import job_named


async def _scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    answer = await client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_requests_caches_pool_outbox_and_jobs_are_scraped(client, frozen_clock):
    directory = {"method": "GET", "route": "/api/v1/public/operators", "status": "200"}
    before = await _scrape(client)
    for _ in range(3):
        assert (await client.get("/api/v1/public/operators")).status_code == 200
    assert (await client.get("/api/v1/communities/1")).status_code == 401
    await enqueue("jianwei@example.org", "测试", "正文")
    job = job_named("registry_rules")
    assert job is not None
    (run,) = await engine.run_due(job)
    assert run.status == "succeeded"
    after = await _scrape(client)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("fcom_requests_total", **directory) == 3
    assert grew("fcom_request_duration_seconds_count", **directory) == 3
    refused = {**directory, "route": "/api/v1/communities/{community_id}", "status": "401"}
    assert grew("fcom_requests_total", **refused) == 1  # one series per route, not per community
    assert grew("fcom_cache_misses_total", cache="directory") >= 1
    assert grew("fcom_cache_hits_total", cache="directory") >= 1
    assert _value(after, "fcom_db_pool_connections", state="max") == 30
    assert _value(after, "fcom_db_pool_connections", state="in_use") >= 0
    assert _value(after, "fcom_outbox_waiting") == 1
    assert _value(after, "fcom_outbox_oldest_age_seconds") >= 0
    assert _value(after, "fcom_job_last_outcome", job="registry_rules", outcome="succeeded") == 1
    assert _value(after, "fcom_job_last_success_timestamp_seconds", job="registry_rules") > 0
    assert ("fcom_job_last_duration_seconds", (("job", "registry_rules"),)) in after


async def test_a_token_guards_the_metrics_and_production_has_none_without_one(client):
    saved = {name: os.environ.get(name) for name in ("METRICS_TOKEN", "APP_ENV")}

    def settings(**values: str) -> None:
        os.environ.update(values)
        get_settings.cache_clear()

    try:
        settings(METRICS_TOKEN="scrape-me")
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"authorization": "Bearer wrong"})).status_code == 401
        assert await _scrape(client, authorization="Bearer scrape-me")
        os.environ.pop("METRICS_TOKEN")
        settings(APP_ENV="production")
        assert (await client.get("/metrics")).status_code == 404
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
