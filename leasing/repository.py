"""Every query of leasing. Functions take and return plain values; callers hold transactions."""

from __future__ import annotations

import json
from datetime import date, datetime

from core.pagination import split_total
from leasing.tables import Lease, LeaseApplication, Payment, RentInvoice, Space, SpaceListing

# Spaces ----------------------------------------------------------------------------------------

SPACE_COLUMNS = """
    s.id, s.owner_org AS owner_org_id, owner.name AS owner_name, owner.path AS owner_path, s.owner_kind,
    s.community AS community_id, c.name AS community_name, corg.path AS community_path, c.street AS street_id,
    c.district AS district_id, s.address, s.area_m2, s.floor, s.condition, s.allowed_uses, s.photos, s.status,
    s.created_at, s.updated_at
"""
SPACE_FROM = """
    leasing_space s
    JOIN organisation owner ON owner.id = s.owner_org
    JOIN market_community c ON c.id = s.community
    JOIN organisation corg ON corg.id = c.org
"""


def _space(row: dict) -> dict:
    if isinstance(row.get("photos"), str):
        row["photos"] = json.loads(row["photos"])
    return row


async def insert_space(fields: dict, *, created_by: int, now: datetime) -> int:
    rows = await Space.raw(
        """
        INSERT INTO leasing_space (owner_org, owner_kind, community, address, area_m2, floor, condition,
            allowed_uses, photos, status, created_by, created_at, updated_at)
        VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}::jsonb, 'idle', {}, {}, {}) RETURNING id
        """,
        fields["owner_org_id"],
        fields["owner_kind"],
        fields["community_id"],
        fields["address"],
        fields["area_m2"],
        fields["floor"],
        fields["condition"],
        fields["allowed_uses"],
        json.dumps(fields["photos"]),
        created_by,
        now,
        now,
    )
    return rows[0]["id"]


async def any_space() -> bool:
    return await Space.exists()


async def get_space(space_id: int, *, for_update: bool = False) -> dict | None:
    lock = " FOR UPDATE OF s" if for_update else ""
    rows = await Space.raw(f"SELECT {SPACE_COLUMNS} FROM {SPACE_FROM} WHERE s.id = {{}}{lock}", space_id)
    return _space(rows[0]) if rows else None


async def list_spaces(
    *,
    patterns: list[str],
    owner_org_ids: list[int],
    community_id: int | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict], int]:
    rows = await Space.raw(
        f"""
        SELECT {SPACE_COLUMNS}, count(*) OVER () AS total FROM {SPACE_FROM}
        WHERE (corg.path LIKE ANY({{}}::text[]) OR s.owner_org = ANY({{}}::int[]))
          AND ({{}}::int IS NULL OR s.community = {{}})
          AND ({{}}::text IS NULL OR s.status = {{}})
        ORDER BY s.id LIMIT {{}} OFFSET {{}}
        """,
        patterns,
        owner_org_ids,
        community_id,
        community_id,
        status,
        status,
        limit,
        offset,
    )
    rows, total = split_total(rows)
    return [_space(r) for r in rows], total


async def set_space_status(space_id: int, status: str, now: datetime) -> None:
    await Space.update({Space.status: status, Space.updated_at: now}).where(Space.id == space_id)


async def update_space(space_id: int, changes: dict, now: datetime) -> None:
    if "photos" in changes:
        changes = {**changes, "photos": json.dumps(changes["photos"])}
    await Space.update({**{getattr(Space, k): v for k, v in changes.items()}, Space.updated_at: now}).where(
        Space.id == space_id
    )


# Listings --------------------------------------------------------------------------------------

LISTING_COLUMNS = """
    l.id, l.space AS space_id, l.track, l.rent_per_m2_month, l.public_welfare_discount, l.rent_free_months,
    l.min_term_months, l.max_term_months, l.deposit_months, l.opens_on, l.closes_on, l.criteria, l.status,
    l.created_at, s.address, s.area_m2, s.allowed_uses, s.community AS community_id, c.name AS community_name,
    corg.path AS community_path, s.owner_org AS owner_org_id
"""
LISTING_FROM = """
    leasing_listing l
    JOIN leasing_space s ON s.id = l.space
    JOIN market_community c ON c.id = s.community
    JOIN organisation corg ON corg.id = c.org
"""


def _listing(row: dict) -> dict:
    if isinstance(row.get("criteria"), str):
        row["criteria"] = json.loads(row["criteria"])
    return row


async def insert_listing(space_id: int, terms: dict, *, created_by: int, now: datetime) -> int:
    rows = await SpaceListing.raw(
        """
        INSERT INTO leasing_listing (space, track, rent_per_m2_month, public_welfare_discount, rent_free_months,
            min_term_months, max_term_months, deposit_months, opens_on, closes_on, criteria, status, created_by,
            created_at)
        VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}::jsonb, 'open', {}, {}) RETURNING id
        """,
        space_id,
        terms["track"],
        terms["rent_per_m2_month"],
        terms["public_welfare_discount"],
        terms["rent_free_months"],
        terms["min_term_months"],
        terms["max_term_months"],
        terms["deposit_months"],
        terms["opens_on"],
        terms["closes_on"],
        json.dumps(terms["criteria"]),
        created_by,
        now,
    )
    return rows[0]["id"]


async def get_listing(listing_id: int, *, for_update: bool = False) -> dict | None:
    lock = " FOR UPDATE OF l" if for_update else ""
    rows = await SpaceListing.raw(f"SELECT {LISTING_COLUMNS} FROM {LISTING_FROM} WHERE l.id = {{}}{lock}", listing_id)
    return _listing(rows[0]) if rows else None


async def list_listings(
    *,
    patterns: list[str] | None,
    owner_org_ids: list[int],
    status: str | None,
    limit: int,
    offset: int,
    open_anywhere: bool = False,
) -> tuple[list[dict], int]:
    """patterns None: every listing (operators browsing); `open_anywhere` adds every open listing to those in
    `patterns` or of `owner_org_ids`."""
    rows = await SpaceListing.raw(
        f"""
        SELECT {LISTING_COLUMNS}, count(*) OVER () AS total FROM {LISTING_FROM}
        WHERE ({{}}::text[] IS NULL OR corg.path LIKE ANY({{}}::text[]) OR s.owner_org = ANY({{}}::int[])
               OR ({{}} AND l.status = 'open'))
          AND ({{}}::text IS NULL OR l.status = {{}})
        ORDER BY l.id DESC LIMIT {{}} OFFSET {{}}
        """,
        patterns,
        patterns,
        owner_org_ids,
        open_anywhere,
        status,
        status,
        limit,
        offset,
    )
    rows, total = split_total(rows)
    return [_listing(r) for r in rows], total


async def open_listing_track(space_id: int) -> str | None:
    rows = await SpaceListing.raw("SELECT track FROM leasing_listing WHERE space = {} AND status = 'open'", space_id)
    return rows[0]["track"] if rows else None


async def set_listing_status(listing_id: int, status: str) -> None:
    await SpaceListing.update({SpaceListing.status: status}).where(SpaceListing.id == listing_id)


# Applications ----------------------------------------------------------------------------------

APPLICATION_COLUMNS = """
    a.id, a.listing AS listing_id, a.operator AS operator_id, o.name AS operator_name, o.org AS operator_org_id,
    o.registry_status, o.contact_email, a.proposed_use, a.proposed_rent_per_m2_month, a.term_months, a.plan,
    a.status, a.score, a.decision_reason, a.created_at
"""
APPLICATION_FROM = "leasing_application a JOIN provider_operator o ON o.id = a.operator"


async def insert_application(listing_id: int, operator_id: int, fields: dict, *, created_by: int, now: datetime) -> int:
    rows = await LeaseApplication.raw(
        """
        INSERT INTO leasing_application (listing, operator, proposed_use, proposed_rent_per_m2_month, term_months,
            plan, status, decision_reason, created_by, created_at)
        VALUES ({}, {}, {}, {}, {}, {}, 'submitted', '', {}, {}) RETURNING id
        """,
        listing_id,
        operator_id,
        fields["proposed_use"],
        fields["proposed_rent_per_m2_month"],
        fields["term_months"],
        fields["plan"],
        created_by,
        now,
    )
    return rows[0]["id"]


async def get_application(application_id: int) -> dict | None:
    rows = await LeaseApplication.raw(
        f"SELECT {APPLICATION_COLUMNS} FROM {APPLICATION_FROM} WHERE a.id = {{}}", application_id
    )
    return rows[0] if rows else None


async def applications_for(listing_id: int, *, operator_org_ids: list[int] | None = None) -> list[dict]:
    """Every application to the listing, with the applicant's recent evaluation average for ranking;
    `operator_org_ids` narrows them to one applicant's own."""
    return await LeaseApplication.raw(
        f"""
        SELECT {APPLICATION_COLUMNS},
               (SELECT avg(e.score) FROM (SELECT score FROM provider_evaluation e WHERE e.operator = a.operator
                                          ORDER BY period_end DESC LIMIT 5) e) AS evaluation_average
        FROM {APPLICATION_FROM}
        WHERE a.listing = {{}} AND ({{}}::int[] IS NULL OR o.org = ANY({{}}::int[]))
        ORDER BY a.id
        """,
        listing_id,
        operator_org_ids,
        operator_org_ids,
    )


async def decide_applications(listing_id: int, awarded_id: int, reason: str) -> None:
    await LeaseApplication.raw(
        "UPDATE leasing_application SET status = CASE WHEN id = {} THEN 'awarded' ELSE 'not_awarded' END, "
        "decision_reason = CASE WHEN id = {} THEN {} ELSE '' END "
        "WHERE listing = {} AND status = 'submitted'",
        awarded_id,
        awarded_id,
        reason,
        listing_id,
    )


async def set_application_scores(scores: dict[int, float]) -> None:
    await LeaseApplication.raw(
        "UPDATE leasing_application a SET score = s.score FROM unnest({}::int[], {}::numeric[]) AS s(id, score) "
        "WHERE a.id = s.id",
        list(scores),
        list(scores.values()),
    )


# Leases ----------------------------------------------------------------------------------------

LEASE_COLUMNS = """
    l.id, l.space AS space_id, s.address, s.area_m2, s.community AS community_id, c.name AS community_name,
    corg.path AS community_path, s.owner_org AS owner_org_id, l.lessee AS lessee_id, o.name AS lessee_name,
    o.org AS lessee_org_id, l.listing AS listing_id, l.application AS application_id, l.use, l.starts_on, l.ends_on,
    l.agreed_ends_on, l.monthly_rent, l.deposit, l.rent_free_months, l.payment_day, l.status, l.renewal_of,
    l.terminated_at, l.termination_reason, l.created_at
"""
LEASE_FROM = """
    leasing_lease l
    JOIN leasing_space s ON s.id = l.space
    JOIN market_community c ON c.id = s.community
    JOIN organisation corg ON corg.id = c.org
    JOIN provider_operator o ON o.id = l.lessee
"""


async def insert_lease(fields: dict, *, created_by: int, now: datetime) -> int:
    """Raises asyncpg's ExclusionViolationError when the term overlaps another lease of the space."""
    rows = await Lease.raw(
        """
        INSERT INTO leasing_lease (space, lessee, listing, application, use, starts_on, ends_on, agreed_ends_on,
            monthly_rent, deposit, rent_free_months, payment_day, status, renewal_of, created_by,
            termination_reason, created_at, updated_at)
        VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 'active', {}, {}, '', {}, {}) RETURNING id
        """,
        fields["space_id"],
        fields["lessee_id"],
        fields.get("listing_id"),
        fields.get("application_id"),
        fields["use"],
        fields["starts_on"],
        fields["ends_on"],
        fields["ends_on"],
        fields["monthly_rent"],
        fields["deposit"],
        fields["rent_free_months"],
        fields["payment_day"],
        fields.get("renewal_of"),
        created_by,
        now,
        now,
    )
    return rows[0]["id"]


async def get_lease(lease_id: int, *, for_update: bool = False) -> dict | None:
    lock = " FOR UPDATE OF l" if for_update else ""
    rows = await Lease.raw(f"SELECT {LEASE_COLUMNS} FROM {LEASE_FROM} WHERE l.id = {{}}{lock}", lease_id)
    return rows[0] if rows else None


async def list_leases(
    *, patterns: list[str], org_ids: list[int], space_id: int | None, status: str | None, limit: int, offset: int
) -> tuple[list[dict], int]:
    """Leases of communities in `patterns`, plus those whose owner or lessee is one of `org_ids`."""
    rows = await Lease.raw(
        f"""
        SELECT {LEASE_COLUMNS}, count(*) OVER () AS total FROM {LEASE_FROM}
        WHERE (corg.path LIKE ANY({{}}::text[]) OR s.owner_org = ANY({{}}::int[]) OR o.org = ANY({{}}::int[]))
          AND ({{}}::int IS NULL OR l.space = {{}})
          AND ({{}}::text IS NULL OR l.status = {{}})
        ORDER BY l.id DESC LIMIT {{}} OFFSET {{}}
        """,
        patterns,
        org_ids,
        org_ids,
        space_id,
        space_id,
        status,
        status,
        limit,
        offset,
    )
    return split_total(rows)


async def update_lease(lease_id: int, changes: dict, now: datetime) -> None:
    await Lease.update({**{getattr(Lease, k): v for k, v in changes.items()}, Lease.updated_at: now}).where(
        Lease.id == lease_id
    )


async def leases_of_community(community_id: int) -> list[dict]:
    return await Lease.raw(
        f"SELECT {LEASE_COLUMNS} FROM {LEASE_FROM} WHERE s.community = {{}} ORDER BY l.starts_on", community_id
    )


async def rent_commitments(community_ids: list[int], first_month: date) -> list[dict]:
    return await Lease.raw(
        "SELECT s.community AS community_id, l.starts_on, l.ends_on, l.monthly_rent, l.rent_free_months "
        "FROM leasing_lease l JOIN leasing_space s ON s.id = l.space "
        "WHERE s.community = ANY({}::int[]) AND l.ends_on > {}",
        community_ids,
        first_month,
    )


# Invoices --------------------------------------------------------------------------------------


async def leases_to_bill(through: date) -> list[dict]:
    """Leases that may still lack an invoice for a month up to `through`: no invoice yet, or the last one
    before the month of `through` or the lease's last month, whichever comes first."""
    return await RentInvoice.raw(
        """
        SELECT l.id, l.starts_on, l.ends_on, l.monthly_rent, l.rent_free_months, l.payment_day,
               last.month AS last_month
        FROM leasing_lease l
        LEFT JOIN LATERAL (SELECT max(i.month) AS month FROM leasing_invoice i WHERE i.lease = l.id) last ON true
        WHERE l.starts_on <= {}
          AND (last.month IS NULL
               OR last.month < least(date_trunc('month', {}::date), date_trunc('month', l.ends_on - 1))::date)
        """,
        through,
        through,
    )


async def insert_invoices(lines: list[tuple[int, date, int, date]], now: datetime) -> int:
    """(lease, month, amount, due_on) rows; a month already billed is skipped. Returns how many were new."""
    if not lines:
        return 0
    rows = await RentInvoice.raw(
        """
        INSERT INTO leasing_invoice (lease, month, amount, due_on, status, last_decline, created_at)
        SELECT v.lease, v.month, v.amount, v.due_on, 'open', '', {}
        FROM unnest({}::int[], {}::date[], {}::bigint[], {}::date[]) AS v(lease, month, amount, due_on)
        ON CONFLICT (lease, month) DO NOTHING
        RETURNING 1
        """,
        now,
        [r[0] for r in lines],
        [r[1] for r in lines],
        [r[2] for r in lines],
        [r[3] for r in lines],
    )
    return len(rows)


async def void_invoices_from(lease_id: int, month: date) -> int:
    rows = await RentInvoice.raw(
        "UPDATE leasing_invoice SET status = 'void' WHERE lease = {} AND month >= {} AND status IN ('open', 'overdue') "
        "RETURNING id",
        lease_id,
        month,
    )
    return len(rows)


async def reprice_unpaid_invoice(lease_id: int, month: date, amount: int) -> None:
    await RentInvoice.raw(
        "UPDATE leasing_invoice SET amount = {}, status = CASE WHEN {} = 0 THEN 'void' ELSE status END "
        "WHERE lease = {} AND month = {} AND status IN ('open', 'overdue')",
        amount,
        amount,
        lease_id,
        month,
    )


async def end_leases(today: date, now: datetime) -> list[int]:
    rows = await Lease.raw(
        "UPDATE leasing_lease SET status = 'ended', updated_at = {} "
        "WHERE status IN ('active', 'expiring') AND ends_on <= {} RETURNING id",
        now,
        today,
    )
    return [r["id"] for r in rows]


async def free_spaces_without_current_lease(today: date, now: datetime) -> list[int]:
    rows = await Space.raw(
        "UPDATE leasing_space s SET status = 'idle', updated_at = {} WHERE s.status = 'leased' "
        "AND NOT EXISTS (SELECT 1 FROM leasing_lease l WHERE l.space = s.id AND l.ends_on > {}) RETURNING s.id",
        now,
        today,
    )
    return [r["id"] for r in rows]


async def mark_expiring_leases(today: date, horizon: date, now: datetime) -> list[int]:
    rows = await Lease.raw(
        "UPDATE leasing_lease l SET status = 'expiring', updated_at = {} WHERE l.status = 'active' "
        "AND l.ends_on > {} AND l.ends_on <= {} "
        "AND NOT EXISTS (SELECT 1 FROM leasing_lease n WHERE n.renewal_of = l.id) RETURNING l.id",
        now,
        today,
        horizon,
    )
    return [r["id"] for r in rows]


async def mark_overdue(today: date) -> list[int]:
    rows = await RentInvoice.raw(
        "UPDATE leasing_invoice SET status = 'overdue' WHERE status = 'open' AND due_on < {} RETURNING id", today
    )
    return [r["id"] for r in rows]


INVOICE_COLUMNS = """
    i.id, i.lease AS lease_id, i.month, i.amount, i.due_on, i.status, i.last_decline, i.paid_at, i.created_at,
    l.lessee AS lessee_id, o.name AS lessee_name, o.org AS lessee_org_id, s.community AS community_id,
    c.name AS community_name, corg.path AS community_path, s.owner_org AS owner_org_id, s.address
"""
INVOICE_FROM = """
    leasing_invoice i
    JOIN leasing_lease l ON l.id = i.lease
    JOIN leasing_space s ON s.id = l.space
    JOIN market_community c ON c.id = s.community
    JOIN organisation corg ON corg.id = c.org
    JOIN provider_operator o ON o.id = l.lessee
"""


async def get_invoice(invoice_id: int, *, for_update: bool = False) -> dict | None:
    lock = " FOR UPDATE OF i" if for_update else ""
    rows = await RentInvoice.raw(f"SELECT {INVOICE_COLUMNS} FROM {INVOICE_FROM} WHERE i.id = {{}}{lock}", invoice_id)
    return rows[0] if rows else None


async def list_invoices(
    *, patterns: list[str], org_ids: list[int], lease_id: int | None, status: str | None, limit: int, offset: int
) -> tuple[list[dict], int]:
    rows = await RentInvoice.raw(
        f"""
        SELECT {INVOICE_COLUMNS}, count(*) OVER () AS total FROM {INVOICE_FROM}
        WHERE (corg.path LIKE ANY({{}}::text[]) OR s.owner_org = ANY({{}}::int[]) OR o.org = ANY({{}}::int[]))
          AND ({{}}::int IS NULL OR i.lease = {{}})
          AND ({{}}::text IS NULL OR i.status = {{}})
        ORDER BY i.month DESC, i.id DESC LIMIT {{}} OFFSET {{}}
        """,
        patterns,
        org_ids,
        org_ids,
        lease_id,
        lease_id,
        status,
        status,
        limit,
        offset,
    )
    return split_total(rows)


# Figures ---------------------------------------------------------------------------------------

FIGURES_SQL = """
        WITH area AS (
            SELECT s.community,
                   coalesce(sum(s.area_m2) FILTER (WHERE s.status = 'idle'), 0) AS idle_area,
                   coalesce(sum(s.area_m2) FILTER (WHERE s.status = 'listed'), 0) AS listed_area,
                   coalesce(sum(s.area_m2) FILTER (WHERE s.status = 'leased'), 0) AS leased_area,
                   count(*) AS spaces
            FROM leasing_space s GROUP BY s.community
        ),
        rent AS (
            SELECT s.community,
                   coalesce(sum(i.amount) FILTER (WHERE i.status <> 'void'), 0) AS invoiced,
                   coalesce(sum(i.amount) FILTER (WHERE i.status = 'paid'), 0) AS collected,
                   coalesce(sum(i.amount) FILTER (WHERE i.status = 'overdue'), 0) AS arrears
            FROM leasing_invoice i JOIN leasing_lease l ON l.id = i.lease JOIN leasing_space s ON s.id = l.space
            WHERE i.month >= {} AND i.month < {}
            GROUP BY s.community
        )
        SELECT c.id AS community_id, c.name AS community_name, c.street AS street_id, st.name AS street_name,
               c.district AS district_id, d.name AS district_name,
               area.spaces, area.idle_area, area.listed_area, area.leased_area,
               coalesce(rent.invoiced, 0)::bigint AS invoiced, coalesce(rent.collected, 0)::bigint AS collected,
               coalesce(rent.arrears, 0)::bigint AS arrears
        FROM area
        JOIN market_community c ON c.id = area.community
        JOIN organisation corg ON corg.id = c.org
        JOIN organisation st ON st.id = c.street
        JOIN organisation d ON d.id = c.district
        LEFT JOIN rent ON rent.community = area.community
        WHERE corg.path LIKE ANY({}::text[])
        ORDER BY d.id, st.id, c.id
        """


def figures_query(patterns: list[str], start: date, end: date) -> tuple[str, list]:
    return FIGURES_SQL, [start, end, patterns]


async def figures_by_community(patterns: list[str], start: date, end: date) -> list[dict]:
    """Per community in scope: idle, listed and leased area now, and rent invoiced, collected and in arrears
    for invoices of months in [start, end). One statement."""
    sql, args = figures_query(patterns, start, end)
    return await Space.raw(sql, *args)


# Payments --------------------------------------------------------------------------------------


async def count_attempts(invoice_id: int) -> int:
    rows = await Payment.raw("SELECT count(*) AS n FROM leasing_payment WHERE invoice = {}", invoice_id)
    return rows[0]["n"]


async def customer_ref(operator_id: int) -> str | None:
    rows = await Payment.raw("SELECT customer_ref FROM leasing_payment_customer WHERE operator = {}", operator_id)
    return rows[0]["customer_ref"] if rows else None


async def insert_customer(operator_id: int, ref: str, now: datetime) -> str:
    """Keeps the first customer recorded for the operator and returns it."""
    await Payment.raw(
        "INSERT INTO leasing_payment_customer (operator, customer_ref, created_at) VALUES ({}, {}, {}) "
        "ON CONFLICT (operator) DO NOTHING",
        operator_id,
        ref,
        now,
    )
    return await customer_ref(operator_id)


PAYMENT_COLUMNS = """
    p.id, p.invoice AS invoice_id, p.attempt, p.idempotency_key, p.amount, p.status, p.intent_ref, p.decline_code,
    p.error_message, p.created_at, p.settled_at
"""


async def insert_payment(
    invoice_id: int, attempt: int, key: str, amount: int, *, created_by: int | None, now: datetime
) -> int:
    """Raises asyncpg's UniqueViolationError while another attempt on the invoice is pending."""
    rows = await Payment.raw(
        "INSERT INTO leasing_payment (invoice, attempt, idempotency_key, amount, status, decline_code, error_message, "
        "created_by, created_at) VALUES ({}, {}, {}, {}, 'pending', '', '', {}, {}) RETURNING id",
        invoice_id,
        attempt,
        key,
        amount,
        created_by,
        now,
    )
    return rows[0]["id"]


async def get_payment(payment_id: int, *, for_update: bool = False) -> dict | None:
    lock = " FOR UPDATE" if for_update else ""
    rows = await Payment.raw(f"SELECT {PAYMENT_COLUMNS} FROM leasing_payment p WHERE p.id = {{}}{lock}", payment_id)
    return rows[0] if rows else None


async def payment_for_intent(intent_ref: str, key: str | None) -> dict | None:
    rows = await Payment.raw(
        f"SELECT {PAYMENT_COLUMNS} FROM leasing_payment p WHERE p.intent_ref = {{}} OR p.idempotency_key = {{}} "
        "ORDER BY p.id LIMIT 1",
        intent_ref,
        key,
    )
    return rows[0] if rows else None


async def payments_for_invoice(invoice_id: int) -> list[dict]:
    return await Payment.raw(
        f"SELECT {PAYMENT_COLUMNS} FROM leasing_payment p WHERE p.invoice = {{}} ORDER BY p.id", invoice_id
    )


async def pending_payments(created_before: datetime, limit: int) -> list[dict]:
    return await Payment.raw(
        f"SELECT {PAYMENT_COLUMNS} FROM leasing_payment p WHERE p.status = 'pending' AND p.created_at < {{}} "
        "ORDER BY p.id LIMIT {}",
        created_before,
        limit,
    )


async def settle_payment(
    payment_id: int, *, status: str, intent_ref: str | None, decline_code: str, error_message: str, now: datetime
) -> None:
    await Payment.raw(
        "UPDATE leasing_payment SET status = {}, intent_ref = coalesce({}, intent_ref), decline_code = {}, "
        "error_message = {}, settled_at = CASE WHEN {} = 'pending' THEN NULL ELSE {}::timestamptz END WHERE id = {}",
        status,
        intent_ref,
        decline_code,
        error_message,
        status,
        now,
        payment_id,
    )


async def mark_invoice_paid(invoice_id: int, now: datetime) -> None:
    await RentInvoice.update(
        {RentInvoice.status: "paid", RentInvoice.paid_at: now, RentInvoice.last_decline: ""}
    ).where(RentInvoice.id == invoice_id)


async def set_invoice_decline(invoice_id: int, text: str) -> None:
    await RentInvoice.update({RentInvoice.last_decline: text}).where(RentInvoice.id == invoice_id)


async def record_webhook_event(event_ref: str, event_type: str, now: datetime) -> bool:
    """False when the event id was seen before."""
    rows = await Payment.raw(
        "INSERT INTO leasing_webhook_event (event_ref, event_type, received_at) VALUES ({}, {}, {}) "
        "ON CONFLICT (event_ref) DO NOTHING RETURNING id",
        event_ref,
        event_type,
        now,
    )
    return bool(rows)


async def webhook_event_seen(event_ref: str) -> bool:
    rows = await Payment.raw("SELECT 1 FROM leasing_webhook_event WHERE event_ref = {}", event_ref)
    return bool(rows)


# Renewals --------------------------------------------------------------------------------------


async def leases_ending(after: date, until: date) -> list[dict]:
    """Leases not renewed nor terminated whose term ends in (after, until]; `ends_on` is exclusive."""
    return await Lease.raw(
        """
        SELECT l.id, s.address, s.area_m2, c.name AS community_name, st.name AS street_name,
               d.name AS district_name, o.name AS lessee_name, l.use, l.starts_on, l.ends_on, l.monthly_rent, l.status,
               corg.path AS community_path, c.street AS street_id, o.contact_email
        FROM leasing_lease l
        JOIN leasing_space s ON s.id = l.space
        JOIN market_community c ON c.id = s.community
        JOIN organisation corg ON corg.id = c.org
        JOIN organisation st ON st.id = c.street
        JOIN organisation d ON d.id = c.district
        JOIN provider_operator o ON o.id = l.lessee
        WHERE l.status IN ('active', 'expiring', 'ended') AND l.ends_on > {} AND l.ends_on <= {}
          AND NOT EXISTS (SELECT 1 FROM leasing_lease n WHERE n.renewal_of = l.id)
        ORDER BY l.ends_on, l.id
        """,
        after,
        until,
    )


async def overdue_invoices(excluding: list[int]) -> list[dict]:
    """Overdue invoices other than `excluding` (those already known), so a night's work is the new arrears."""
    return await RentInvoice.raw(
        """
        SELECT i.id, i.month, i.amount, i.due_on, corg.path AS community_path, c.name AS community_name,
               o.name AS operator_name
        FROM leasing_invoice i
        JOIN leasing_lease l ON l.id = i.lease
        JOIN leasing_space s ON s.id = l.space
        JOIN market_community c ON c.id = s.community
        JOIN organisation corg ON corg.id = c.org
        JOIN provider_operator o ON o.id = l.lessee
        WHERE i.status = 'overdue'
          AND NOT EXISTS (SELECT 1 FROM unnest({}::int[]) AS known(id) WHERE known.id = i.id)
        """,
        excluding,
    )


async def invoices_no_longer_overdue(invoice_ids: list[int]) -> list[int]:
    rows = await RentInvoice.raw(
        "SELECT id FROM leasing_invoice WHERE id = ANY({}::int[]) AND status <> 'overdue'", invoice_ids
    )
    return [r["id"] for r in rows]
