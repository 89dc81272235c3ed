"""The benchmark's bookkeeping: rows counted per statement, nights summarised, copies of a settled database,
and the scaling chart with each job's spread."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import date
from urllib.parse import urlsplit

import asyncpg
import pytest

from bench import chart
from bench.instruments import CpuSeconds, StatementLog, rows_in
from bench.run import summarise_nights
from bench.servers import (
    cancel_running_queries,
    create_database,
    database_url,
    drop_database,
    server_settings,
    settle_database,
)


def test_rows_are_what_a_statement_returned_or_changed():
    assert rows_in("fetch", [1, 2, 3]) == 3
    assert rows_in("fetchrow", object()) == 1 and rows_in("fetchrow", None) == 0
    assert rows_in("fetchval", 0) == 1
    assert rows_in("execute", "UPDATE 12") == 12 and rows_in("execute", "INSERT 0 5") == 5
    assert rows_in("copy_records_to_table", "COPY 500") == 500
    assert rows_in("execute", "BEGIN") == 0 and rows_in("executemany", None) == 0


async def test_the_statement_log_counts_rows_and_leaves_out_what_it_is_told(app):
    connection = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        with StatementLog() as log:
            await connection.fetch("SELECT generate_series(1, 7)")
            await connection.execute("SELECT pg_advisory_unlock_all()")
            await connection.fetchrow("SELECT 1 AS advisory")
    finally:
        await connection.close()
    assert log.count() == 3 and log.rows() == 9
    assert log.count(leaving_out=("advisory",)) == 1 and log.rows(leaving_out=("advisory",)) == 7


def test_cpu_seconds_count_this_process_and_the_server_tree():
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with CpuSeconds(server.pid) as cpu:
            deadline = time.process_time() + 0.05
            while time.process_time() < deadline:
                pass
    finally:
        server.kill()
        server.wait()
    assert 0.05 <= cpu.seconds < 1


async def run_sql(url: str, sql: str):
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


def night(seconds: float, *, statements: int = 4, rows: int = 100, status: str = "succeeded") -> dict:
    return {
        "rent_invoices": {
            "period": "2026-11-01",
            "status": status,
            "result": {"created": 10},
            "seconds": seconds,
            "sql_s": seconds / 2,
            "statements": statements,
            "rows": rows,
            "rss_peak_delta_mb": seconds,
        },
        "report_build": {
            "seconds": seconds * 2,
            "sql_s": 0.1,
            "statements": 12,
            "rows": 50,
            "rss_peak_delta_mb": 1.0,
            "xlsx_bytes": 1000,
        },
    }


def test_nights_are_summarised_by_their_median_with_the_fastest_and_slowest():
    summary = summarise_nights([night(0.9), night(0.5), night(0.6)])
    job = summary["rent_invoices"]
    assert (job["seconds"], job["seconds_min"], job["seconds_max"]) == (0.6, 0.5, 0.9)
    assert job["runs_s"] == [0.9, 0.5, 0.6] and job["sql_s"] == 0.3
    assert job["statements"] == 4 and job["rows"] == 100 and job["result"] == {"created": 10}
    assert job["rss_peak_delta_mb"] == 0.9 and job["status"] == "succeeded"
    assert summary["report_build"]["seconds"] == 1.2 and summary["report_build"]["xlsx_bytes"] == 1000


def test_nights_that_disagree_show_every_value():
    summary = summarise_nights([night(0.5), night(0.6, rows=101, status="failed")])
    job = summary["rent_invoices"]
    assert job["rows"] == [100, 101] and job["status"] == ["succeeded", "failed"] and job["statements"] == 4


def test_a_copy_of_a_settled_database_holds_what_the_template_held():
    server = database_url(os.environ["MIGRATION_DATABASE_URL"], "postgres")
    template, copy = f"fcom_bench_template_{os.getpid()}", f"fcom_bench_copy_{os.getpid()}"

    try:
        url = create_database(server, template)
        asyncio.run(run_sql(url, "CREATE TABLE t AS SELECT generate_series(1, 1000) AS n"))
        settle_database(url)
        assert asyncio.run(run_sql(url, "SELECT reltuples FROM pg_class WHERE relname = 't'")) == 1000  # analysed
        copied = create_database(server, copy, template=template)
        assert asyncio.run(run_sql(copied, "SELECT sum(n) FROM t")) == 500500
        assert asyncio.run(run_sql(copied, "SELECT reltuples FROM pg_class WHERE relname = 't'")) == 1000
    finally:
        drop_database(server, copy)
        drop_database(server, template)
    with pytest.raises(ValueError):
        create_database(server, "x", template="no such; name")


def test_statements_a_load_run_left_running_are_cancelled_before_the_next_run():
    """Also those that start after the first are cancelled: requests queued in the server behind them."""
    url = os.environ["DATABASE_URL"]

    async def left_running() -> tuple[int, str]:
        first, queued = await asyncpg.connect(url), await asyncpg.connect(url)
        try:
            sleeping = asyncio.ensure_future(first.fetchval("SELECT pg_sleep(30)"))
            await asyncio.sleep(0.3)
            cancelling = asyncio.ensure_future(asyncio.to_thread(cancel_running_queries, url, quiet_s=1.0))
            with pytest.raises(asyncpg.QueryCanceledError):
                await asyncio.wait_for(sleeping, 5)
            with pytest.raises(asyncpg.QueryCanceledError):
                await asyncio.wait_for(queued.fetchval("SELECT pg_sleep(30)"), 5)
            return await asyncio.wait_for(cancelling, 5), await first.fetchval("SELECT 'still usable'")
        finally:
            await first.close()
            await queued.close()

    assert asyncio.run(left_running()) == (2, "still usable")
    assert cancel_running_queries(url, quiet_s=0.3) == 0


def test_the_results_record_the_server_settings():
    assert server_settings(os.environ["DATABASE_URL"], ("work_mem", "shared_buffers")) == {
        "work_mem": "32MB",
        "shared_buffers": "1GB",
    }


def test_the_chart_draws_each_job_with_its_spread(tmp_path):
    results = {
        "city": {"scale": 1, "jobs": {"a": {"seconds": 1.0, "seconds_min": 0.8, "seconds_max": 1.5}, "b": 2.0}},
        "province": {
            "scale": 5,
            "jobs": {"a": {"seconds": 5.0, "seconds_min": 4.0, "seconds_max": 6.0}, "b": {"seconds": 9.0}},
        },
    }
    assert chart.job_spread(results["city"]["jobs"]["a"]) == (0.8, 1.5)
    assert chart.job_spread(results["city"]["jobs"]["b"]) is None
    assert chart.job_spread(results["province"]["jobs"]["b"]) is None
    assert chart.ratios(results) == {"a": {"province/city": 5.0}, "b": {"province/city": 4.5}}
    out = chart.scaling_chart(results, tmp_path / "scaling.png")
    assert out.read_bytes().startswith(b"\x89PNG")


def test_the_nights_of_several_sizes_alternate_each_on_a_fresh_copy_after_one_not_counted(monkeypatch):
    """On the test server: two small templates, real copies; only the night itself is replaced, and it reads
    from the copy it was given which size it is on and whether an earlier night's copy was left behind."""
    from bench import run, servers

    server = database_url(os.environ["MIGRATION_DATABASE_URL"], "postgres")
    tag = os.getpid()
    templates = {size: f"fcom_bench_{size}_{tag}" for size in ("city", "province")}
    events = []
    real_create, real_drop = servers.create_database, servers.drop_database
    monkeypatch.setattr(
        servers,
        "create_database",
        lambda server_url, name, template=None: (
            events.append(("copy", name, template)) or real_create(server_url, name, template=template)
        ),
    )
    monkeypatch.setattr(
        servers, "drop_database", lambda server_url, name: events.append(("drop", name)) or real_drop(server_url, name)
    )

    async def on_the_copy(url: str) -> tuple[str, int]:
        connection = await asyncpg.connect(url)
        try:
            size = await connection.fetchval("SELECT size FROM marker")
            copies = await connection.fetchval("SELECT count(*) FROM pg_database WHERE datname LIKE '%_night_%'")
            await connection.execute("INSERT INTO marker VALUES ('changed by the night')")
            return size, copies
        finally:
            await connection.close()

    def a_night(url, today, postmaster):
        size, copies = asyncio.run(on_the_copy(url))
        events.append(("night", urlsplit(url).path.lstrip("/"), size, copies))
        return night(9.9 if "warmup" in url else 0.5 if size == "city" else 2.5)

    monkeypatch.setattr(run, "night_in_own_process", a_night)
    try:
        for size, template in templates.items():
            url = real_create(server, template)
            asyncio.run(run_sql(url, f"CREATE TABLE marker AS SELECT '{size}'::text AS size"))
        targets = {
            size: run.NightTarget(server, template, date(2026, 11, 1), 1) for size, template in templates.items()
        }
        jobs, how = run.measure_jobs(targets, 3)
        for template in templates.values():  # the nights changed only their copies
            check = real_create(server, template + "_check", template=template)
            assert asyncio.run(run_sql(check, "SELECT count(*) FROM marker")) == 1
            real_drop(server, template + "_check")
    finally:
        for template in templates.values():
            real_drop(server, template)
    nights = [e[1].removeprefix("fcom_bench_").replace(f"_{tag}", "") for e in events if e[0] == "night"]
    assert nights == [
        "city_night_warmup",
        "province_night_warmup",
        "city_night_1",
        "province_night_1",
        "province_night_2",
        "city_night_2",
        "city_night_3",
        "province_night_3",
    ]
    assert all(e[2] == ("city" if "city" in e[1] else "province") and e[3] == 1 for e in events if e[0] == "night")
    copies = [e for e in events if e[0] == "copy"]
    assert all(template in name for _, name, template in copies) and len(copies) == 8
    assert sum(e[0] == "drop" for e in events) == 16  # before each copy (a leftover) and after its night
    assert jobs["city"]["rent_invoices"]["seconds"] == 0.5 and jobs["province"]["rent_invoices"]["seconds"] == 2.5
    assert how["nights"] == 3 and how["nights_not_counted"] == 1 and how["sizes_alternating"] == ["city", "province"]


def test_a_run_that_skips_the_jobs_keeps_the_jobs_and_how_many_nights_they_took(tmp_path, monkeypatch):
    from bench import run

    monkeypatch.setattr(run, "RESULTS", tmp_path)
    monkeypatch.setattr(run, "redraw_chart", lambda: None)
    (tmp_path / "city.json").write_text(
        json.dumps(
            {
                "settings": {"job_repeats": 5, "skip_jobs": False},
                "endpoints": {"directory": {"app": 1}},
                "jobs": {"rent_invoices": {"seconds": 0.3}},
                "jobs_run": {"nights": 5},
            }
        )
    )
    run.write_results(
        "city", {"settings": {"job_repeats": 3, "skip_jobs": True}, "endpoints": {"directory": {"app": 2}}, "jobs": {}}
    )
    written = json.loads((tmp_path / "city.json").read_text())
    assert written["endpoints"] == {"directory": {"app": 2}}
    assert written["jobs"] == {"rent_invoices": {"seconds": 0.3}} and written["jobs_run"] == {"nights": 5}
    assert written["settings"]["job_repeats"] == 5
    assert written["kept_from_earlier_run"] == ["jobs", "jobs_run", "residents"]
