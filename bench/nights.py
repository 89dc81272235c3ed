"""The nightly jobs of several sizes with their nights alternating: the ratios between sizes on one machine.

    .venv/bin/python -m bench.nights city=/tmp/bcity/pg province=/tmp/bprov/pg --repeats 5

Each PGDATA is a data folder kept by `python -m bench --size SIZE --pgdata PGDATA`, with the manifest its run
wrote beside it. Every size gets --repeats nights, each in a new process on a copy of the size's settled
database (bench.run.measure_jobs), and the sizes take turns: city then province, then province then city. Two
runs of `python -m bench`, one per size, measure each size minutes apart, and on a machine shared with other
work the ratio between them also measured how busy the machine was in each. The jobs section of each size's
bench/results/<size>.json is replaced, the rest kept, and the scaling chart redrawn; the ratios are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from datetime import date
from pathlib import Path

from bench.run import (
    POSTGRESQL_SETTINGS,
    SCALES,
    SECRET_KEY,
    NightTarget,
    load_manifest,
    measure_jobs,
    print_jobs,
    say,
    write_jobs,
)
from bench.servers import database_url, postmaster_pid, server_settings, start_embedded_postgres, stop_embedded_postgres


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.nights", description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", metavar="SIZE=PGDATA", help="a size and its kept data folder")
    parser.add_argument("--repeats", type=int, default=5, help="nights per size (default 5)")
    args = parser.parse_args(argv)
    args.sizes = {}
    for item in args.folders:
        size, _, folder = item.partition("=")
        if size not in SCALES or not folder:
            parser.error(f"{item!r}: SIZE=PGDATA with SIZE one of {', '.join(SCALES)}")
        manifest = Path(folder).parent / f"fcom_bench_{size}.manifest.json"
        if not manifest.exists():
            parser.error(f"no {manifest}: generate the {size} data with python -m bench --pgdata {folder}")
        args.sizes[size] = (Path(folder), manifest)
    return args


def ratios(jobs: dict[str, dict[str, dict]]) -> None:
    """Each larger size against the smallest: median seconds, CPU seconds and rows."""
    sizes = sorted(jobs, key=SCALES.get)
    base = sizes[0]
    for size in sizes[1:]:
        say(f"\n{size} ÷ {base} ({SCALES[size] / SCALES[base]:g}× the data)")
        say(f"{'job':<22}{'seconds':>10}{'CPU s':>10}{'rows':>10}")
        for name, job in jobs[size].items():
            small = jobs[base][name]
            rows = job["rows"] / small["rows"] if isinstance(job["rows"], int) and small["rows"] else float("nan")
            say(
                f"{name:<22}{job['seconds'] / small['seconds']:>10.2f}{job['cpu_s'] / small['cpu_s']:>10.2f}"
                f"{rows:>10.2f}"
            )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ["SECRET_KEY"] = SECRET_KEY
    started: list[Path] = []
    try:
        targets, manifests, settings = {}, {}, {}
        for size, (folder, saved) in args.sizes.items():
            server_url = start_embedded_postgres(folder, delete_on_stop=False)
            started.append(folder)
            manifests[size] = manifest = load_manifest(saved)
            settings[size] = server_settings(server_url, POSTGRESQL_SETTINGS)
            targets[size] = NightTarget(
                database_url(server_url, "postgres"),
                f"fcom_bench_{size}",
                date.fromisoformat(str(manifest.today)),
                postmaster_pid(folder),
            )
        say(f"nightly jobs on the 1st, {args.repeats} nights per size, the sizes alternating")
        jobs, how = measure_jobs(targets, args.repeats)
        for size, found in jobs.items():
            path = write_jobs(size, found, {**how, "postgresql": settings[size]}, manifests[size])
            say(f"\n{size}: written to {path}")
            print_jobs({"settings": {"job_repeats": args.repeats}, "jobs": found})
        if len(jobs) > 1:
            ratios(jobs)
    finally:
        for folder in started:
            with contextlib.suppress(Exception):
                stop_embedded_postgres(folder)


if __name__ == "__main__":
    main(sys.argv[1:])
