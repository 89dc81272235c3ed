"""The benchmark data generator (bench/data.py) at its test size, in the test database: what someone running a
benchmark on the data would notice first. The data is generated once for this module and removed after it."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal

import asyncpg
import msgspec
import pytest
from piccolo.engine import engine_finder

from bench.data import SIZES, Manifest, first_of_this_month, generate
from bench.residents import OPTIONS, TALLY_POLLS, measure_in_own_process
from core.accounts.service import load_principal
from core.accounts.tables import Role
from core.clock import add_months
from core.reference import load_reference_data
from core.schemas import as_fields
from leasing import rent
from leasing import service as leasing
from leasing.schemas import LeaseApplicationCreate
from providers import repository as providers_repo
from providers.credit_code import is_valid_credit_code

SIZE = SIZES["test"]


class _RollBack(Exception):
    pass


@pytest.fixture(scope="module")
async def manifest(app, table_names, owner_connection) -> Manifest:
    # generate() migrates, as the bench's own process does first thing: with the pool closed, as migrate() needs.
    engine = engine_finder()
    await engine.close_connection_pool()
    try:
        generated = await generate(os.environ["DATABASE_URL"], SIZE, progress=False)
    finally:
        await engine.start_connection_pool(min_size=2, max_size=30)
    yield generated
    await owner_connection.execute(f"TRUNCATE {', '.join(table_names)} RESTART IDENTITY CASCADE")
    await load_reference_data()


@pytest.fixture(autouse=True)
async def clean_database():
    """Overrides the per-test truncation: `manifest` removes the module's data once, at its end."""
    yield


@pytest.fixture(scope="module")
async def db(manifest) -> asyncpg.Connection:
    connection = await asyncpg.connect(os.environ["DATABASE_URL"])
    yield connection
    await connection.close()


async def test_counts_match_the_size_and_the_manifest(manifest, db):
    assert manifest.size == "test" and manifest.today == first_of_this_month().isoformat()
    for table, expected in [
        ("market_community", SIZE.communities),
        ("provider_operator", SIZE.operators),
        ("leasing_space", SIZE.spaces),
        ("leasing_lease", SIZE.leases),
    ]:
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == expected, table
    for table, rows in manifest.counts.items():
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == rows, table
    assert await db.fetchval("SELECT count(DISTINCT month) FROM market_ledger_entry") == SIZE.months
    assert manifest.counts["leasing_invoice"] > SIZE.leases
    json.dumps(asdict(manifest))  # what the command line writes
    assert manifest.total_seconds > 0 and manifest.seconds["leasing_invoice"] > 0


async def test_ids_continue_after_the_generated_rows(manifest, db):
    for table in ("organisation", "account_user", "leasing_lease", "leasing_invoice", "market_ledger_entry"):
        largest = await db.fetchval(f"SELECT max(id) FROM {table}")
        following = await db.fetchval(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))")
        assert following == largest + 1, table


async def test_every_credit_code_is_valid_and_unique(manifest, db):
    codes = [r["credit_code"] for r in await db.fetch("SELECT credit_code FROM provider_operator")]
    assert len(codes) == SIZE.operators == len(set(codes))
    assert all(is_valid_credit_code(code) for code in codes)


async def test_no_two_leases_of_a_space_overlap(manifest, db):
    overlapping = await db.fetchval(
        "SELECT count(*) FROM leasing_lease a JOIN leasing_lease b ON a.space = b.space AND a.id < b.id "
        "AND daterange(a.starts_on, a.ends_on) && daterange(b.starts_on, b.ends_on)"
    )
    assert overlapping == 0
    # The database refuses overlaps itself: the exclusion constraint was rebuilt after the load.
    assert await db.fetchval("SELECT count(*) FROM pg_constraint WHERE conname = 'leasing_lease_no_overlap'") == 1
    per_space = await db.fetchval("SELECT max(n) FROM (SELECT count(*) AS n FROM leasing_lease GROUP BY space) s")
    assert per_space > 1  # spaces carry a history of leases
    today = first_of_this_month()
    leased = await db.fetchval("SELECT count(*) FROM leasing_space WHERE status = 'leased'")
    current = await db.fetchval(
        "SELECT count(DISTINCT space) FROM leasing_lease WHERE status = 'active' AND starts_on <= $1 AND ends_on >= $1",
        today,
    )
    assert leased == current > 0


async def test_invoices_are_the_lease_months_the_rent_rules_bill(manifest, db):
    today = first_of_this_month()
    first_month, last_month = add_months(today, -SIZE.months), add_months(today, -1)
    outside = await db.fetchval(
        "SELECT count(*) FROM leasing_invoice i JOIN leasing_lease l ON l.id = i.lease "
        "WHERE i.month < date_trunc('month', l.starts_on) OR i.month >= l.ends_on OR i.month < $1 OR i.month > $2",
        first_month,
        last_month,
    )
    assert outside == 0
    invoices: dict[int, list[tuple]] = {}
    for r in await db.fetch("SELECT lease, month, amount, due_on FROM leasing_invoice ORDER BY lease, month"):
        invoices.setdefault(r["lease"], []).append((r["month"], r["amount"], r["due_on"]))
    for lease in await db.fetch("SELECT * FROM leasing_lease"):
        terms = rent.LeaseTerms(
            lease["starts_on"], lease["ends_on"], lease["monthly_rent"], lease["rent_free_months"], lease["payment_day"]
        )
        expected = [
            (line.month, line.amount, line.due_on)
            for line in rent.invoices_through(terms, last_month)
            if line.month >= first_month
        ]
        assert invoices.get(lease["id"], []) == expected, lease["id"]
    statuses = {r[0] for r in await db.fetch("SELECT DISTINCT status FROM leasing_invoice")}
    assert "paid" in statuses and statuses & {"open", "overdue"}
    # Every month up to last month is billed already: the scheduler's generation has nothing to add before
    # this month.
    with contextlib.suppress(_RollBack):
        async with engine_finder().transaction():
            assert await leasing.generate_invoices(through=today - timedelta(days=1)) == 0
            raise _RollBack()


async def test_the_registry_and_market_keep_their_rules(manifest, db):
    today = first_of_this_month()
    listed_today = await db.fetchval(
        "SELECT count(DISTINCT operator) FROM provider_listing WHERE valid_from <= $1 AND $1 < valid_until", today
    )
    assert 0 < listed_today < SIZE.operators  # some listings have expired
    over_capacity = await db.fetchval(
        "SELECT count(*) FROM (SELECT c.operator FROM market_contract c JOIN provider_operator o ON o.id = c.operator "
        "WHERE c.status IN ('draft', 'active', 'expiring') GROUP BY c.operator, o.capacity "
        "HAVING count(*) > o.capacity) x"
    )
    assert over_capacity == 0
    foreign_fees = await db.fetchval(
        "SELECT count(*) FROM market_ledger_entry e JOIN market_contract c ON c.id = e.contract "
        "WHERE c.community <> e.community OR e.month < date_trunc('month', c.starts_on) OR e.month >= c.ends_on"
    )
    assert foreign_fees == 0
    last_month = await db.fetchval("SELECT max(month) FROM market_ledger_entry")
    assert last_month == add_months(today, -1)


async def test_the_manifest_principals_load_with_their_roles(manifest, db):
    city = await load_principal(manifest.city_official.user_id)
    assert city.roles == {Role.city} and city.read_paths() == ["/1/"]
    auditor = await load_principal(manifest.auditor.user_id)
    assert auditor.roles == {Role.auditor}
    districts = await db.fetch("SELECT id FROM organisation WHERE kind = 'district' ORDER BY id")
    assert manifest.district_ids == [r["id"] for r in districts] and len(manifest.district_officials) == 13
    for account in manifest.district_officials:
        principal = await load_principal(account.user_id)
        assert principal.roles == {Role.district} and principal.org_ids(Role.district) == [account.org_id]
    street = await load_principal(manifest.street_official.user_id)
    assert street.roles == {Role.street} and street.org_ids(Role.street) == [manifest.street_official.org_id]
    assert await db.fetchval("SELECT kind FROM organisation WHERE id = $1", manifest.street_official.org_id) == "street"
    assert manifest.operators
    for account in manifest.operators[:20]:
        principal = await load_principal(account.user_id)
        assert principal.roles == {Role.operator} and principal.username == account.username
        operator = await providers_repo.operator_for_org(principal.org_ids(Role.operator)[0])
        assert operator is not None
        assert operator.id == account.operator_id and operator.registry_status in ("listed", "warned")
    with_needs = await db.fetchval(
        "SELECT count(DISTINCT community) FROM market_need WHERE status = 'open' AND community = ANY($1::int[])",
        manifest.communities_with_open_needs,
    )
    assert with_needs == len(manifest.communities_with_open_needs) > 0


async def test_the_manifest_password_logs_in(manifest, client):
    response = await client.post(
        "/api/v1/auth/login", json={"username": manifest.operators[0].username, "password": manifest.password}
    )
    assert response.status_code == 200, response.text


async def test_a_manifest_operator_may_apply_to_a_manifest_listing(manifest, db):
    assert manifest.open_listings and manifest.open_listing_ids == [o.listing_id for o in manifest.open_listings]
    listed = await db.fetch("SELECT id FROM leasing_listing WHERE status = 'open' AND track = 'competitive'")
    assert set(manifest.open_listing_ids) <= {r["id"] for r in listed}
    sampled = [o.operator_id for o in manifest.operators]
    already = await db.fetchval(
        "SELECT count(*) FROM leasing_application WHERE listing = ANY($1::int[]) AND operator = ANY($2::int[])",
        manifest.open_listing_ids,
        sampled,
    )
    assert already == 0  # so every pair of the manifest is a new application
    for account, listing in [
        (manifest.operators[0], manifest.open_listings[0]),
        (manifest.operators[-1], manifest.open_listings[-1]),
    ]:
        principal = await load_principal(account.user_id)
        fields = as_fields(msgspec.convert(listing.body, LeaseApplicationCreate))  # as the endpoint decodes it
        with contextlib.suppress(_RollBack):
            async with engine_finder().transaction():
                application = await leasing.apply(principal, listing.listing_id, fields)
                assert application.status == "submitted"
                assert application.operator_id == account.operator_id
                assert application.listing_id == listing.listing_id
                raise _RollBack()
    assert listing.path == f"/api/v1/space-listings/{listing.listing_id}/applications"


async def test_every_community_has_its_confirmed_households_and_the_tally_polls_their_ballots(manifest, db):
    per_community = await db.fetch(
        "SELECT c.id, count(h.id) FILTER (WHERE h.confirmed_at IS NOT NULL) AS confirmed FROM market_community c "
        "LEFT JOIN resident_household h ON h.community = c.id GROUP BY c.id"
    )
    tally_community = manifest.communities_with_open_needs[0]
    for row in per_community:
        expected = SIZE.poll_ballots if row["id"] == tally_community else SIZE.households_per_community
        assert row["confirmed"] == expected, row["id"]
    assert len(manifest.tally_poll_ids) == TALLY_POLLS and manifest.tally_ballots == SIZE.poll_ballots
    ballots = await db.fetch(
        "SELECT p.id, p.state, count(b.id) AS n FROM resident_poll p LEFT JOIN resident_ballot b ON b.poll = p.id "
        "WHERE p.id = ANY($1::int[]) GROUP BY p.id",
        manifest.tally_poll_ids,
    )
    assert {(r["state"], r["n"]) for r in ballots} == {("open", SIZE.poll_ballots)}


async def test_a_sampled_resident_sees_their_polls_and_checks_their_receipts(manifest, client):
    from core.auth import build_jwt_auth

    assert manifest.resident_accounts and len(manifest.resident_accounts[0].receipts) == 2
    account = manifest.resident_accounts[0]
    headers = {"Authorization": f"Bearer {build_jwt_auth().create_token(identifier=str(account.user_id))}"}
    listed = await client.get("/api/v1/polls", headers=headers)
    assert listed.status_code == 200, listed.text
    assert sorted(p["state"] for p in listed.json()["items"]) == ["closed", "open"]
    closed = next(p for p in listed.json()["items"] if p["state"] == "closed")
    assert closed["result"]["ballots"] == SIZE.households_per_community
    for receipt in account.receipts:
        own = (await client.get(f"/api/v1/public/poll-receipts/{receipt}", headers=headers)).json()
        assert own["counted"] is True and own["option_label"] in OPTIONS
        public = (await client.get(f"/api/v1/public/poll-receipts/{receipt}")).json()
        assert public["counted"] is True and public["option_label"] is None


@pytest.fixture(scope="module")
def tally_measured(manifest) -> dict:
    """The tally scenario as the benchmark runs it: a process of its own, here on the test database."""
    return measure_in_own_process(os.environ["DATABASE_URL"], manifest.tally_poll_ids)


def test_the_tally_scenario_closes_each_poll_once_through_the_app_and_its_ceiling(tally_measured):
    tally = tally_measured["poll tally (close)"]
    assert tally["ballots"] == SIZE.poll_ballots
    for side in ("app", "ceiling"):
        assert tally[side]["closed"] == [1] * (TALLY_POLLS // 2 - 1) and tally[side]["statements"] > 0
        assert 0 < tally[side]["seconds_min"] <= tally[side]["seconds"] <= tally[side]["seconds_max"]
    assert tally["app_over_ceiling"] > 0


async def test_both_closers_leave_the_same_result_on_the_poll_and_the_need(manifest, tally_measured, db):
    results = [
        json.loads(r["result"])
        for r in await db.fetch(
            "SELECT result FROM resident_poll WHERE id = ANY($1::int[]) ORDER BY id", manifest.tally_poll_ids
        )
    ]
    assert all(r["ballots"] == SIZE.poll_ballots for r in results)
    # Same ballots, same shares: each side's result names the same counts per position.
    shapes = {tuple(sorted(r["votes"].values())) for r in results}
    assert len(shapes) == 1 and {r["quorum_met"] for r in results} == {True}
    need = await db.fetchrow(
        "SELECT vote_poll_id, vote_quorum_met, vote_winner_label FROM market_need WHERE id = "
        "(SELECT need FROM resident_poll WHERE id = $1)",
        manifest.tally_poll_ids[0],
    )
    assert need["vote_poll_id"] in manifest.tally_poll_ids and need["vote_quorum_met"] is True
    assert need["vote_winner_label"] == OPTIONS[0]
    closes = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'poll.close' AND entity_id = ANY($1::text[])",
        [str(i) for i in manifest.tally_poll_ids],
    )
    assert closes == TALLY_POLLS


# Points ----------------------------------------------------------------------------------------


async def test_the_points_ledger_holds_last_months_redemptions_and_balances_its_postings(manifest, db):
    assert manifest.points_redemptions == SIZE.month_redemptions
    assert await db.fetchval("SELECT count(*) FROM points_redemption") == SIZE.month_redemptions
    # Every balance is the signed sum of its postings; no resident or operator overdrawn; the ledger sums to 0.
    wrong = await db.fetchval(
        "SELECT count(*) FROM points_account a WHERE a.balance <> "
        "coalesce((SELECT sum(amount) FROM points_posting WHERE to_account = a.id), 0) "
        "- coalesce((SELECT sum(amount) FROM points_posting WHERE from_account = a.id), 0)"
    )
    assert wrong == 0
    assert await db.fetchval("SELECT count(*) FROM points_account WHERE balance < 0 AND kind <> 'pool'") == 0
    assert await db.fetchval("SELECT sum(balance) FROM points_account") == 0
    # Each redemption moved its points to its operator's clearing account, once.
    assert await db.fetchval("SELECT count(*) FROM points_posting WHERE source_kind = 'redemption'") == (
        SIZE.month_redemptions
    )


def resident_headers(account) -> dict[str, str]:
    from core.auth import build_jwt_auth

    return {"Authorization": f"Bearer {build_jwt_auth().create_token(identifier=str(account.user_id))}"}


async def test_a_sampled_resident_sees_their_balance_and_last_months_statement(manifest, client):
    from bench.run import last_month

    account = manifest.resident_accounts[0]
    balance = await client.get("/api/v1/points/me", headers=resident_headers(account))
    assert balance.status_code == 200, balance.text
    assert balance.json()["points"] > 0
    month = last_month(manifest.today)
    statement = await client.get(f"/api/v1/points/me/statement?month={month}", headers=resident_headers(account))
    assert statement.status_code == 200, statement.text
    found = statement.json()
    kinds = {line["source_kind"] for line in found["lines"]}
    assert kinds == {"activity", "redemption"}, kinds
    assert Decimal(found["opening"]) + sum(Decimal(line["amount"]) for line in found["lines"]) == Decimal(
        found["closing"]
    )


async def test_the_ceiling_answers_the_same_balance_and_statement_lines(manifest, client):
    from litestar.testing import AsyncTestClient

    from bench.ceiling import create_app as create_ceiling
    from bench.run import last_month

    account = manifest.resident_accounts[1]
    month = last_month(manifest.today)
    app_balance = (await client.get("/api/v1/points/me", headers=resident_headers(account))).json()
    app_statement = (
        await client.get(f"/api/v1/points/me/statement?month={month}", headers=resident_headers(account))
    ).json()
    async with AsyncTestClient(app=create_ceiling()) as ceiling:
        balance = (await ceiling.get(f"/api/v1/points/me?user_id={account.user_id}")).json()
        statement = (await ceiling.get(f"/api/v1/points/me/statement?month={month}&user_id={account.user_id}")).json()
    assert Decimal(balance["points"]) == app_balance["points"]
    assert Decimal(statement["opening"]) == Decimal(app_statement["opening"])
    assert [(line["source_kind"], line["source_id"], Decimal(str(line["amount"]))) for line in statement["lines"]] == [
        (line["source_kind"], line["source_id"], Decimal(line["amount"])) for line in app_statement["lines"]
    ]


def test_the_redemptions_scenario_delivers_every_one_once_through_the_app_and_its_ceiling(tally_measured):
    from bench.residents import UNCOUNTED_DELIVERIES

    found = tally_measured["month's redemptions (deliver)"]
    assert found["redemptions"] == SIZE.month_redemptions
    counted = SIZE.month_redemptions - 2 * UNCOUNTED_DELIVERIES
    assert found["app"]["delivered"] + found["ceiling"]["delivered"] == counted
    for side in ("app", "ceiling"):
        assert found[side]["statements"] > 0 and 0 < found[side]["seconds"] <= found[side]["seconds_p99"]
    assert found["app_over_ceiling"] > 0


async def test_both_deliverers_leave_the_same_ledger(tally_measured, db):
    redemptions = await db.fetch("SELECT id, state, points, fen_per_point FROM points_redemption ORDER BY id")
    assert {r["state"] for r in redemptions} == {"delivered"}
    ids = [r["id"] for r in redemptions]
    payouts = await db.fetch(
        "SELECT source_id, amount FROM points_posting WHERE source_kind = 'payout' AND source_id = ANY($1::int[])",
        ids,
    )
    assert sorted(p["source_id"] for p in payouts) == ids
    costs = await db.fetchval(
        "SELECT count(*) FROM market_ledger_entry WHERE source = ANY($1::text[]) AND direction = 'cost'",
        [f"points-redemption:{i}" for i in ids],
    )
    assert costs == len(ids)
    audited = await db.fetchval(
        "SELECT count(DISTINCT entity_id) FROM audit_log WHERE action = 'points.redemption_deliver' "
        "AND entity_id = ANY($1::text[])",
        [str(i) for i in ids],
    )
    assert audited == len(ids)
    # Every point redeemed went back to the pool: the clearing accounts are empty, the ledger still sums to 0.
    assert await db.fetchval("SELECT sum(balance) FROM points_account WHERE kind = 'clearing'") == 0
    assert await db.fetchval("SELECT sum(balance) FROM points_account") == 0
