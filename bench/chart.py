"""How the job times grow with the data: a log-log chart of seconds against data scale, and the ratios.

    results = {"city":     {"scale": 1,  "jobs": {"rent_invoices": {"seconds": 1.3}, ...}},
               "province": {"scale": 5,  "jobs": {...}},
               "nation":   {"scale": 50, "jobs": {...}}}        # any of the sizes, at least one
    scaling_chart(results, Path("bench/results/scaling.png"))
    ratios(results)   # {"rent_invoices": {"province/city": 4.6, "nation/city": 51.2}, ...}

A job is a line of its measured points; the dashed line of the same colour is linear growth through the job's
city point (its smallest size when the city is missing): a job on or under its dashed line scales linearly
or better. A job's time may be given as {"seconds": s} or as a plain number; with "seconds_min" and
"seconds_max" beside "seconds" (the median of repeated runs), the point gets a bar from the fastest run to
the slowest.

    python -m bench.chart bench/results      # reads bench/results/*.json, writes bench/results/scaling.png

The command takes from each JSON file the sizes it finds: either the file is such a mapping (size -> {"scale",
"jobs"}), possibly under a "sizes" or "results" key, or it is one size: {"size": "city", "scale": 1,
"jobs": {...}}. Files with neither (the other benchmarks' results) are skipped.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

SIZE_ORDER = ("city", "province", "nation")
DEFAULT_SCALES = {"city": 1, "province": 5, "nation": 50}

__all__ = ["scaling_chart", "ratios", "load_results", "job_seconds", "job_spread"]


def job_seconds(value: object) -> float | None:
    """The seconds of one job entry: {"seconds": s}, or a number; None if neither."""
    if isinstance(value, dict):
        value = value.get("seconds")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def job_spread(value: object) -> tuple[float, float] | None:
    """(fastest, slowest) seconds of one job entry measured several times; None when it was not."""
    if not isinstance(value, dict):
        return None
    low, high = job_seconds(value.get("seconds_min")), job_seconds(value.get("seconds_max"))
    return (low, high) if low is not None and high is not None else None


def _sizes(results: dict[str, dict]) -> list[tuple[str, float, dict]]:
    """(size, scale, jobs) in ascending scale."""
    sizes = []
    for name, entry in results.items():
        scale = entry.get("scale", DEFAULT_SCALES.get(name))
        if scale is None:
            raise ValueError(f"size {name!r} has no scale")
        sizes.append((name, float(scale), entry.get("jobs", {})))
    if not sizes:
        raise ValueError("no sizes in the results")
    order = {name: i for i, name in enumerate(SIZE_ORDER)}
    return sorted(sizes, key=lambda s: (s[1], order.get(s[0], len(order))))


def _points(results: dict[str, dict]) -> dict[str, list[tuple[str, float, float]]]:
    """job -> [(size, scale, seconds)] in ascending scale, for the jobs' measured sizes."""
    points: dict[str, list[tuple[str, float, float]]] = {}
    for name, scale, jobs in _sizes(results):
        for job, value in jobs.items():
            seconds = job_seconds(value)
            if seconds is not None:
                points.setdefault(job, []).append((name, scale, seconds))
    return points


def ratios(results: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Per job, its time at each larger size over its time at the city size: {"province/city": r, ...}.

    Only sizes where both times are there (and the city time is above zero) give a ratio; jobs without any
    ratio are left out. Compare with the scale ratio (5 for the province, 50 for the nation) for linearity.
    """
    out: dict[str, dict[str, float]] = {}
    for job, points in _points(results).items():
        city = next((seconds for name, _, seconds in points if name == "city"), None)
        if not city:
            continue
        job_ratios = {f"{name}/city": seconds / city for name, _, seconds in points if name != "city"}
        if job_ratios:
            out[job] = job_ratios
    return out


def scaling_chart(results: dict[str, dict], out: Path, *, title: str = "Job time against data scale") -> Path:
    """Draw the log-log chart of every job's seconds against the data scale into the PNG `out`; return out."""
    sizes = _sizes(results)
    points = _points(results)
    if not points:
        raise ValueError("no job times in the results")
    scales = sorted({scale for _, scale, _ in sizes})
    labels = {scale: name for name, scale, _ in sizes}
    jobs_by_size = {name: jobs for name, _, jobs in sizes}

    figure, axes = plt.subplots(figsize=(9, 6), dpi=120)
    colours = plt.get_cmap("tab10" if len(points) <= 10 else "tab20")
    all_seconds = []
    references = 0
    for i, (job, job_points) in enumerate(sorted(points.items())):
        colour = colours(i % colours.N)
        xs = [scale for _, scale, _ in job_points]
        ys = [max(seconds, 1e-6) for _, _, seconds in job_points]
        all_seconds += ys
        axes.plot(xs, ys, marker="o", color=colour, linewidth=1.8, label=job)
        spreads = [
            (x, y, spread)
            for (name, x, _), y in zip(job_points, ys, strict=True)
            if (spread := job_spread(jobs_by_size[name].get(job))) is not None
        ]
        if spreads:
            axes.errorbar(
                [x for x, _, _ in spreads],
                [y for _, y, _ in spreads],
                yerr=[
                    [max(y - low, 0) for _, y, (low, _) in spreads],
                    [max(high - y, 0) for _, y, (_, high) in spreads],
                ],
                fmt="none",
                ecolor=colour,
                elinewidth=1,
                capsize=3,
            )
            all_seconds += [max(low, 1e-6) for _, _, (low, _) in spreads] + [high for _, _, (_, high) in spreads]
        base_scale, base_seconds = next(
            ((s, y) for (n, s, _), y in zip(job_points, ys, strict=True) if n == "city"), (xs[0], ys[0])
        )
        line_x = [scale for scale in scales if scale >= base_scale]
        if len(line_x) > 1:
            axes.plot(
                line_x,
                [base_seconds * x / base_scale for x in line_x],
                linestyle="--",
                color=colour,
                linewidth=1,
                alpha=0.7,
            )
            references += 1
    if references:
        through = "the city point" if "city" in results else "the smallest size"
        axes.plot([], [], linestyle="--", color="grey", linewidth=1, label=f"linear (through {through})")

    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xticks(scales)
    axes.set_xticklabels([f"{labels[s]}\n(x{s:g})" for s in scales])
    axes.minorticks_off()
    if len(scales) > 1:
        axes.set_xlim(scales[0] / 1.5, scales[-1] * 1.5)
    else:
        axes.set_xlim(scales[0] / 3, scales[0] * 3)
    low, high = min(all_seconds), max(all_seconds)
    axes.set_ylim(10 ** math.floor(math.log10(low)), 10 ** math.ceil(math.log10(high) + 1e-9))
    axes.set_xlabel("data scale (city = 1)")
    axes.set_ylabel("seconds (log)")
    axes.set_title(title)
    axes.grid(True, which="major", linestyle=":", alpha=0.6)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    figure.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
    return out


# Reading the results files ----------------------------------------------------------------------


def _is_size(entry: object) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("jobs"), dict) and ("scale" in entry or "size" in entry)


def _sizes_in(document: object) -> dict[str, dict]:
    if not isinstance(document, dict):
        return {}
    if _is_size(document) and isinstance(document.get("size"), str):
        return {document["size"]: document}
    for key in ("sizes", "results"):
        found = _sizes_in(document.get(key)) if isinstance(document.get(key), dict) else {}
        if found:
            return found
    return {
        name: entry
        for name, entry in document.items()
        if _is_size(entry) and ("scale" in entry or name in DEFAULT_SCALES)
    }


def load_results(folder: Path) -> dict[str, dict]:
    """The sizes found in folder/*.json (see the module doc), by size name; later files win on clashes."""
    results: dict[str, dict] = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for name, entry in _sizes_in(document).items():
            if name in results:
                print(f"{path.name}: size {name!r} also in an earlier file; this one is used", file=sys.stderr)
            results[name] = entry
    return results


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bench.chart RESULTS_FOLDER", file=sys.stderr)
        return 2
    folder = Path(args[0])
    results = load_results(folder)
    if not results:
        print(f"no scaling results (sizes with a scale and jobs) in {folder}/*.json", file=sys.stderr)
        return 1
    out = scaling_chart(results, folder / "scaling.png")
    print(f"sizes: {', '.join(name for name, _, _ in _sizes(results))}")
    for job, job_ratios in sorted(ratios(results).items()):
        print(f"  {job}: " + ", ".join(f"{label} {value:.2f}" for label, value in job_ratios.items()))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
