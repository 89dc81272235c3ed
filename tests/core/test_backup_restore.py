"""`fcom backup` and `fcom restore`: a realistic database survives the round trip table by table, row by row."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from leasing import repository as leasing_repo
from tests.leasing.helpers import listing, space
from tests.leasing.test_payments import GOOD_CARD, ledger, rented
from tests.market.helpers import community

TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
SCHEMA = {
    # By name and kind: a CHECK or a partial index's predicate can come back spelled differently (casts around
    # ARRAY[...]) yet mean the same.
    "constraints": "SELECT conrelid::regclass::text AS t, conname, contype, convalidated "
    "FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
    "indexes": "SELECT i.indrelid::regclass::text AS t, c.relname, i.indisunique, i.indkey::text, "
    "i.indpred IS NOT NULL AS partial FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1, 2",
    "triggers": "SELECT tgrelid::regclass::text AS t, tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2",
    "functions": "SELECT proname, md5(prosrc) FROM pg_proc WHERE pronamespace = 'public'::regnamespace "
    "AND prokind = 'f' ORDER BY 1, 2",
    "extensions": "SELECT extname FROM pg_extension ORDER BY 1",
    "sequences": "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1",
}


def fcom(*args: str, database_url: str) -> subprocess.CompletedProcess:
    """The installed command line, as an operator would run it."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url, "MIGRATION_DATABASE_URL": database_url},
        timeout=300,
    )


async def snapshot(url: str) -> dict:
    """Every table's row count and content checksum, and the schema objects the application relies on."""
    connection = await asyncpg.connect(url)
    try:
        tables = {}
        for row in await connection.fetch(TABLES):
            name = row["tablename"]
            tables[name] = tuple(
                await connection.fetchrow(
                    f"SELECT count(*) AS n, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS sum "
                    f'FROM "{name}" t'
                )
            )
        schema = {kind: [tuple(r) for r in await connection.fetch(sql)] for kind, sql in SCHEMA.items()}
        return {"tables": tables, **schema}
    finally:
        await connection.close()


@pytest.fixture
async def fresh_database():
    """An empty database on the test server, dropped at the end whatever happens."""
    source = os.environ["MIGRATION_DATABASE_URL"]
    name = f"fcom_restore_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(source)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        database, _, query = source.partition("?")
        yield f"{database.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


async def realistic_state(world, frozen_clock) -> dict:
    """A published registry batch, a paid rent invoice with its ledger entry, an open listing, audit rows."""
    signed, invoice = await rented(world, frozen_clock)
    paid = await world.post(
        "tot", f"/api/v1/rent-invoices/{invoice['id']}/payments", json={"payment_method": GOOD_CARD}
    )
    assert paid.status_code == 201 and paid.json()["status"] == "succeeded", paid.text
    assert len(await ledger(world, signed["community_id"])) == 1
    other = await community(world, "street_x", "望江社区")
    await listing(world, (await space(world, community_id=other["id"]))["id"])
    return {"invoice": invoice, "payments": await leasing_repo.payments_for_invoice(invoice["id"])}


async def test_a_backup_restored_into_a_fresh_database_has_every_table_row_and_schema_object(
    world, frozen_clock, localstripe, fresh_database, tmp_path: Path
):
    state = await realistic_state(world, frozen_clock)
    source = os.environ["DATABASE_URL"]
    file = tmp_path / "fcom.dump"

    backed_up = fcom("backup", str(file), database_url=source)
    assert backed_up.returncode == 0, backed_up.stderr
    restored = fcom("restore", str(file), database_url=fresh_database)
    assert restored.returncode == 0, restored.stderr

    before, after = await snapshot(source), await snapshot(fresh_database)
    assert after["tables"] == before["tables"]
    for kind in SCHEMA:
        assert after[kind] == before[kind], (kind, set(after[kind]) ^ set(before[kind]))
    counts = {name: n for name, (n, _) in after["tables"].items()}
    for table in (
        "leasing_payment",
        "leasing_invoice",
        "leasing_listing",
        "leasing_lease",
        "market_ledger_entry",
        "provider_batch",
        "provider_listing",
        "audit_log",
        "migration",
    ):
        assert counts.get(table, 0) > 0, f"{table} should hold rows in this state: {sorted(counts)}"
    assert state["payments"][0].status == "succeeded"

    # The application takes the restored database as current: nothing to migrate, nothing rewritten.
    migrated = fcom("migrate", database_url=fresh_database)
    assert migrated.returncode == 0, migrated.stderr
    assert (await snapshot(fresh_database))["tables"] == before["tables"]


async def test_restoring_into_a_database_that_is_not_empty_fails_and_changes_nothing(
    world, frozen_clock, localstripe, fresh_database, tmp_path: Path
):
    await realistic_state(world, frozen_clock)
    file = tmp_path / "fcom.dump"
    assert fcom("backup", str(file), database_url=os.environ["DATABASE_URL"]).returncode == 0
    assert fcom("restore", str(file), database_url=fresh_database).returncode == 0
    restored = await snapshot(fresh_database)

    again = fcom("restore", str(file), database_url=fresh_database)

    assert again.returncode != 0
    assert "失败" in again.stderr and "already exists" in again.stderr
    assert await snapshot(fresh_database) == restored


def test_a_missing_backup_file_is_refused_before_touching_the_database(tmp_path: Path):
    missing = fcom("restore", str(tmp_path / "nowhere.dump"), database_url=os.environ["DATABASE_URL"])
    assert missing.returncode != 0 and "no backup file" in missing.stderr
