"""Every query of leasing. Functions take plain values and return typed rows; callers hold transactions.

Rows that join the org tree (spaces, listings, applications, leases, invoices) are read with hand-written
SQL: Piccolo's joins follow foreign keys one way and cannot alias what scope checks need.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgspec

from core.pagination import split_total
from leasing.schemas import (
    ApplicationRow,
    CommunityFigures,
    DepositSettlementRow,
    InvoiceRow,
    LeaseAtRisk,
    LeaseRow,
    LeaseToBill,
    ListingRow,
    OverdueInvoice,
    OverdueRent,
    PanelScoreView,
    PaymentRow,
    RentCommitment,
    SpaceRow,
)
from leasing.tables import (
    DepositSettlement,
    Lease,
    LeaseApplication,
    PanelScore,
    Payment,
    PaymentCustomer,
    RentInvoice,
    Space,
    SpaceListing,
    WebhookEvent,
)

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


def _space(row: dict[str, Any]) -> SpaceRow:
    if isinstance(row.get("photos"), str):
        row["photos"] = json.loads(row["photos"])
    return msgspec.convert(row, SpaceRow)


def _values(value: Any) -> Any:
    """Enum members as their values, for Piccolo inserts and updates."""
    return getattr(value, "value", value)


async def insert_space(fields: dict[str, Any], *, created_by: int, now: datetime) -> int:
    space = Space(
        owner_org=fields["owner_org_id"],
        owner_kind=_values(fields["owner_kind"]),
        community=fields["community_id"],
        address=fields["address"],
        area_m2=fields["area_m2"],
        floor=fields["floor"],
        condition=fields["condition"],
        allowed_uses=[_values(u) for u in fields["allowed_uses"]],
        photos=json.dumps(fields["photos"]),
        status="idle",
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    rows = await Space.insert(space).returning(Space.id)
    return int(rows[0]["id"])


async def any_space() -> bool:
    return await Space.exists()


async def get_space(space_id: int, *, for_update: bool = False) -> SpaceRow | None:
    lock = " FOR UPDATE OF s" if for_update else ""
    # Joins the owner and community for names and scope.
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
) -> tuple[list[SpaceRow], int]:
    # Joins the community for scope, with a window count.
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


async def update_space(space_id: int, changes: dict[str, Any], now: datetime) -> None:
    if "photos" in changes:
        changes = {**changes, "photos": json.dumps(changes["photos"])}
    if "allowed_uses" in changes:
        changes = {**changes, "allowed_uses": [_values(u) for u in changes["allowed_uses"]]}
    await Space.update({**{getattr(Space, k): v for k, v in changes.items()}, Space.updated_at: now}).where(
        Space.id == space_id
    )


# Listings --------------------------------------------------------------------------------------

LISTING_COLUMNS = """
    l.id, l.space AS space_id, l.track, l.rent_per_m2_month, l.public_welfare_discount, l.rent_free_months,
    l.min_term_months, l.max_term_months, l.deposit_months, l.opens_on, l.closes_on, l.criteria, l.status,
    l.created_at, l.override_reason, l.awarded_at, s.address, s.area_m2, s.allowed_uses, s.community AS community_id,
    c.name AS community_name, corg.path AS community_path, s.owner_org AS owner_org_id, c.street AS street_id
"""
LISTING_FROM = """
    leasing_listing l
    JOIN leasing_space s ON s.id = l.space
    JOIN market_community c ON c.id = s.community
    JOIN organisation corg ON corg.id = c.org
"""


def _listing(row: dict[str, Any]) -> ListingRow:
    if isinstance(row.get("criteria"), str):
        row["criteria"] = json.loads(row["criteria"])
    return msgspec.convert(row, ListingRow)


async def insert_listing(space_id: int, terms: dict[str, Any], *, created_by: int, now: datetime) -> int:
    listing = SpaceListing(
        space=space_id,
        track=_values(terms["track"]),
        rent_per_m2_month=terms["rent_per_m2_month"],
        public_welfare_discount=terms["public_welfare_discount"],
        rent_free_months=terms["rent_free_months"],
        min_term_months=terms["min_term_months"],
        max_term_months=terms["max_term_months"],
        deposit_months=terms["deposit_months"],
        opens_on=terms["opens_on"],
        closes_on=terms["closes_on"],
        criteria=json.dumps(terms["criteria"]),
        status="open",
        created_by=created_by,
        created_at=now,
    )
    rows = await SpaceListing.insert(listing).returning(SpaceListing.id)
    return int(rows[0]["id"])


async def get_listing(listing_id: int, *, for_update: bool = False) -> ListingRow | None:
    lock = " FOR UPDATE OF l" if for_update else ""
    # Joins the space and community for terms and scope.
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
) -> tuple[list[ListingRow], int]:
    """patterns None: every listing (operators browsing); `open_anywhere` adds every open listing to those in
    `patterns` or of `owner_org_ids`."""
    # Joins the space and community for scope, with a window count.
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
    row = (
        await SpaceListing.select(SpaceListing.track)
        .where((SpaceListing.space == space_id) & (SpaceListing.status == "open"))
        .first()
    )
    return row["track"] if row else None


async def set_listing_status(listing_id: int, status: str) -> None:
    await SpaceListing.update({SpaceListing.status: status}).where(SpaceListing.id == listing_id)


async def set_listing_awarded(listing_id: int, override_reason: str, now: datetime) -> None:
    await SpaceListing.update(
        {SpaceListing.status: "awarded", SpaceListing.override_reason: override_reason, SpaceListing.awarded_at: now}
    ).where(SpaceListing.id == listing_id)


# Applications ----------------------------------------------------------------------------------

APPLICATION_COLUMNS = """
    a.id, a.listing AS listing_id, a.operator AS operator_id, o.name AS operator_name, o.org AS operator_org_id,
    o.registry_status, o.contact_email, a.proposed_use, a.proposed_rent_per_m2_month, a.term_months, a.plan,
    a.status, a.score, a.rank, a.decision_reason, a.created_at
"""
APPLICATION_FROM = "leasing_application a JOIN provider_operator o ON o.id = a.operator"


async def insert_application(
    listing_id: int, operator_id: int, fields: dict[str, Any], *, created_by: int, now: datetime
) -> int:
    """Raises asyncpg's UniqueViolationError when the operator applied to the listing before."""
    application = LeaseApplication(
        listing=listing_id,
        operator=operator_id,
        proposed_use=_values(fields["proposed_use"]),
        proposed_rent_per_m2_month=fields["proposed_rent_per_m2_month"],
        term_months=fields["term_months"],
        plan=fields["plan"],
        status="submitted",
        decision_reason="",
        created_by=created_by,
        created_at=now,
    )
    rows = await LeaseApplication.insert(application).returning(LeaseApplication.id)
    return int(rows[0]["id"])


async def get_application(application_id: int) -> ApplicationRow | None:
    # Joins the operator for its name and standing.
    rows = await LeaseApplication.raw(
        f"SELECT {APPLICATION_COLUMNS} FROM {APPLICATION_FROM} WHERE a.id = {{}}", application_id
    )
    return msgspec.convert(rows[0], ApplicationRow) if rows else None


async def applications_for(listing_id: int, *, operator_org_ids: list[int] | None = None) -> list[ApplicationRow]:
    """Every application to the listing, with the applicant's recent evaluation average for ranking;
    `operator_org_ids` narrows them to one applicant's own."""
    # Joins the operator, with a subquery for its recent evaluations.
    rows = await LeaseApplication.raw(
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
    return msgspec.convert(rows, list[ApplicationRow])


async def decide_applications(listing_id: int, awarded_id: int | None, reason: str) -> None:
    """The awarded application (none when the listing is cancelled) and every other one still submitted."""
    submitted = (LeaseApplication.listing == listing_id) & (LeaseApplication.status == "submitted")
    if awarded_id is not None:
        await LeaseApplication.update(
            {LeaseApplication.status: "awarded", LeaseApplication.decision_reason: reason}
        ).where(submitted & (LeaseApplication.id == awarded_id))
    await LeaseApplication.update({LeaseApplication.status: "not_awarded", LeaseApplication.decision_reason: ""}).where(
        submitted
    )


async def set_application_ranks(ranks: dict[int, tuple[Decimal, int]]) -> None:
    """The final (score, rank) of each application."""
    # One statement for every applicant: an update from unnest, which the builder cannot express.
    await LeaseApplication.raw(
        "UPDATE leasing_application a SET score = s.score, rank = s.rank "
        "FROM unnest({}::int[], {}::numeric[], {}::int[]) AS s(id, score, rank) WHERE a.id = s.id",
        list(ranks),
        [score for score, _ in ranks.values()],
        [rank for _, rank in ranks.values()],
    )


PANEL_COLUMNS = (
    PanelScore.id,
    PanelScore.application.as_alias("application_id"),
    PanelScore.member.as_alias("member_id"),
    PanelScore.scores,
    PanelScore.comment,
    PanelScore.created_at,
)


def _panel(row: dict[str, Any]) -> PanelScoreView:
    if isinstance(row.get("scores"), str):
        row["scores"] = json.loads(row["scores"])
    row.setdefault("application_id", row.pop("application", None))
    row.setdefault("member_id", row.pop("member", None))
    return msgspec.convert(row, PanelScoreView)


async def insert_panel_score(
    application_id: int, member_id: int, scores: dict[str, int], comment: str, now: datetime
) -> PanelScoreView:
    """Raises asyncpg's UniqueViolationError when the member scored the application before."""
    score = PanelScore(
        application=application_id, member=member_id, scores=json.dumps(scores), comment=comment, created_at=now
    )
    rows = await PanelScore.insert(score).returning(
        PanelScore.id,
        PanelScore.application,
        PanelScore.member,
        PanelScore.scores,
        PanelScore.comment,
        PanelScore.created_at,
    )
    return _panel(rows[0])


async def panel_scores(listing_id: int) -> list[PanelScoreView]:
    """Every panel score filed on the listing's applications."""
    rows = await (
        PanelScore.select(*PANEL_COLUMNS).where(PanelScore.application.listing == listing_id).order_by(PanelScore.id)
    )
    return [_panel(row) for row in rows]


# Leases ----------------------------------------------------------------------------------------

LEASE_COLUMNS = """
    l.id, l.space AS space_id, s.address, s.area_m2, s.community AS community_id, c.name AS community_name,
    corg.path AS community_path, s.owner_org AS owner_org_id, l.lessee AS lessee_id, o.name AS lessee_name,
    o.org AS lessee_org_id, l.listing AS listing_id, l.application AS application_id, l.use, l.starts_on, l.ends_on,
    l.agreed_ends_on, l.monthly_rent, l.deposit, l.rent_free_months, l.payment_day, l.status, l.renewal_of,
    l.terminated_at, l.termination_reason, l.created_at, l.late_fee_bp_per_day
"""
LEASE_FROM = """
    leasing_lease l
    JOIN leasing_space s ON s.id = l.space
    JOIN market_community c ON c.id = s.community
    JOIN organisation corg ON corg.id = c.org
    JOIN provider_operator o ON o.id = l.lessee
"""


async def insert_lease(fields: dict[str, Any], *, created_by: int, now: datetime) -> int:
    """Raises asyncpg's ExclusionViolationError when the term overlaps another lease of the space."""
    lease = Lease(
        space=fields["space_id"],
        lessee=fields["lessee_id"],
        listing=fields.get("listing_id"),
        application=fields.get("application_id"),
        use=_values(fields["use"]),
        starts_on=fields["starts_on"],
        ends_on=fields["ends_on"],
        agreed_ends_on=fields["ends_on"],
        monthly_rent=fields["monthly_rent"],
        deposit=fields["deposit"],
        rent_free_months=fields["rent_free_months"],
        payment_day=fields["payment_day"],
        late_fee_bp_per_day=fields.get("late_fee_bp_per_day", 0),
        status="active",
        renewal_of=fields.get("renewal_of"),
        created_by=created_by,
        termination_reason="",
        created_at=now,
        updated_at=now,
    )
    rows = await Lease.insert(lease).returning(Lease.id)
    return int(rows[0]["id"])


async def get_lease(lease_id: int, *, for_update: bool = False) -> LeaseRow | None:
    lock = " FOR UPDATE OF l" if for_update else ""
    # Joins the space, community and lessee for names and scope.
    rows = await Lease.raw(f"SELECT {LEASE_COLUMNS} FROM {LEASE_FROM} WHERE l.id = {{}}{lock}", lease_id)
    return msgspec.convert(rows[0], LeaseRow) if rows else None


async def list_leases(
    *, patterns: list[str], org_ids: list[int], space_id: int | None, status: str | None, limit: int, offset: int
) -> tuple[list[LeaseRow], int]:
    """Leases of communities in `patterns`, plus those whose owner or lessee is one of `org_ids`."""
    # Joins the space, community and lessee for scope, with a window count.
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
    rows, total = split_total(rows)
    return msgspec.convert(rows, list[LeaseRow]), total


async def update_lease(lease_id: int, changes: dict[str, Any], now: datetime) -> None:
    await Lease.update({**{getattr(Lease, k): v for k, v in changes.items()}, Lease.updated_at: now}).where(
        Lease.id == lease_id
    )


async def leases_of_community(community_id: int) -> list[LeaseRow]:
    # Joins the space, community and lessee for the report.
    rows = await Lease.raw(
        f"SELECT {LEASE_COLUMNS} FROM {LEASE_FROM} WHERE s.community = {{}} ORDER BY l.starts_on", community_id
    )
    return msgspec.convert(rows, list[LeaseRow])


async def rent_commitments(community_ids: list[int], first_month: date) -> list[RentCommitment]:
    # Joins the space for its community.
    rows = await Lease.raw(
        "SELECT s.community AS community_id, l.starts_on, l.ends_on, l.monthly_rent, l.rent_free_months "
        "FROM leasing_lease l JOIN leasing_space s ON s.id = l.space "
        "WHERE s.community = ANY({}::int[]) AND l.ends_on > {}",
        community_ids,
        first_month,
    )
    return msgspec.convert(rows, list[RentCommitment])


# Invoices --------------------------------------------------------------------------------------


async def leases_to_bill(through: date) -> list[LeaseToBill]:
    """Leases that may still lack an invoice for a month up to `through`: no invoice yet, or the last one
    before the month of `through` or the lease's last month, whichever comes first."""
    # A lateral join for each lease's last invoiced month.
    rows = await RentInvoice.raw(
        """
        SELECT l.id, l.starts_on, l.ends_on, l.monthly_rent, l.rent_free_months, l.payment_day, l.deposit,
               last.month AS last_month
        FROM leasing_lease l
        LEFT JOIN LATERAL (SELECT max(i.month) AS month FROM leasing_invoice i
                           WHERE i.lease = l.id AND i.kind = 'rent') last ON true
        WHERE l.starts_on <= {}
          AND (last.month IS NULL
               OR last.month < least(date_trunc('month', {}::date), date_trunc('month', l.ends_on - 1))::date)
        """,
        through,
        through,
    )
    return msgspec.convert(rows, list[LeaseToBill])


async def insert_invoices(lines: list[tuple[int, date, int, date, str]], now: datetime) -> int:
    """(lease, month, amount, due_on, kind) rows; a rent month or a deposit already billed is skipped.
    Returns how many were new."""
    if not lines:
        return 0
    # Every line in one statement from unnest, skipping what the partial unique indexes already hold.
    rows = await RentInvoice.raw(
        """
        INSERT INTO leasing_invoice (lease, month, amount, due_on, status, last_decline, created_at, kind)
        SELECT v.lease, v.month, v.amount, v.due_on, 'open', '', {}, v.kind
        FROM unnest({}::int[], {}::date[], {}::bigint[], {}::date[], {}::text[]) AS v(lease, month, amount, due_on, kind)
        ON CONFLICT DO NOTHING
        RETURNING 1
        """,
        now,
        [r[0] for r in lines],
        [r[1] for r in lines],
        [r[2] for r in lines],
        [r[3] for r in lines],
        [r[4] for r in lines],
    )
    return len(rows)


async def overdue_rent_with_late_fees() -> list[OverdueRent]:
    """Unpaid rent invoices past due on leases that charge late-payment interest."""
    # Joins the lease for its rate.
    rows = await RentInvoice.raw(
        """
        SELECT i.id, i.lease AS lease_id, i.month, i.amount, i.due_on, l.late_fee_bp_per_day
        FROM leasing_invoice i JOIN leasing_lease l ON l.id = i.lease
        WHERE i.kind = 'rent' AND i.status = 'overdue' AND l.late_fee_bp_per_day > 0
        """
    )
    return msgspec.convert(rows, list[OverdueRent])


async def upsert_late_fees(lines: list[tuple[int, int, date, int, date]], now: datetime) -> int:
    """(rent invoice, lease, month, amount, due_on): each rent invoice's late fee set to `amount`, created
    when missing, left alone once paid or void. Returns how many were written."""
    if not lines:
        return 0
    # One statement from unnest with an upsert on the partial unique index, which the builder cannot say.
    rows = await RentInvoice.raw(
        """
        INSERT INTO leasing_invoice (charge_for, lease, month, amount, due_on, status, last_decline, created_at, kind)
        SELECT v.charge_for, v.lease, v.month, v.amount, v.due_on, 'open', '', {}, 'late_fee'
        FROM unnest({}::int[], {}::int[], {}::date[], {}::bigint[], {}::date[])
             AS v(charge_for, lease, month, amount, due_on)
        ON CONFLICT (charge_for) WHERE kind = 'late_fee'
        DO UPDATE SET amount = EXCLUDED.amount
        WHERE leasing_invoice.status = 'open' AND leasing_invoice.amount <> EXCLUDED.amount
        RETURNING 1
        """,
        now,
        [r[0] for r in lines],
        [r[1] for r in lines],
        [r[2] for r in lines],
        [r[3] for r in lines],
        [r[4] for r in lines],
    )
    return len(rows)


UNPAID = ["open", "overdue"]


async def void_invoices_from(lease_id: int, month: date) -> int:
    rows = await (
        RentInvoice.update({RentInvoice.status: "void"})
        .where(
            (RentInvoice.lease == lease_id)
            & (RentInvoice.month >= month)
            & RentInvoice.status.is_in(UNPAID)
            & (RentInvoice.kind != "deposit")
        )
        .returning(RentInvoice.id)
    )
    return len(rows)


async def reprice_unpaid_invoice(lease_id: int, month: date, amount: int) -> None:
    """An unpaid invoice of `month` billed `amount` instead; nothing left to bill voids it."""
    values: dict[Any, Any] = {RentInvoice.amount: amount}
    if amount == 0:
        values[RentInvoice.status] = "void"
    await RentInvoice.update(values).where(
        (RentInvoice.lease == lease_id)
        & (RentInvoice.month == month)
        & RentInvoice.status.is_in(UNPAID)
        & (RentInvoice.kind == "rent")
    )


async def end_leases(today: date, now: datetime) -> list[int]:
    rows = await (
        Lease.update({Lease.status: "ended", Lease.updated_at: now})
        .where(Lease.status.is_in(["active", "expiring"]) & (Lease.ends_on <= today))
        .returning(Lease.id)
    )
    return [r["id"] for r in rows]


async def free_spaces_without_current_lease(today: date, now: datetime) -> list[int]:
    # NOT EXISTS over the space's leases.
    rows = await Space.raw(
        "UPDATE leasing_space s SET status = 'idle', updated_at = {} WHERE s.status = 'leased' "
        "AND NOT EXISTS (SELECT 1 FROM leasing_lease l WHERE l.space = s.id AND l.ends_on > {}) RETURNING s.id",
        now,
        today,
    )
    return [r["id"] for r in rows]


async def mark_expiring_leases(today: date, horizon: date, now: datetime) -> list[int]:
    # NOT EXISTS over the lease's renewals.
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
    rows = await (
        RentInvoice.update({RentInvoice.status: "overdue"})
        # Late fees never fall overdue themselves: interest is charged on rent only.
        .where((RentInvoice.status == "open") & (RentInvoice.due_on < today) & (RentInvoice.kind != "late_fee"))
        .returning(RentInvoice.id)
    )
    return [r["id"] for r in rows]


INVOICE_COLUMNS = """
    i.id, i.lease AS lease_id, i.month, i.amount, i.due_on, i.status, i.last_decline, i.paid_at, i.created_at,
    i.kind, i.charge_for,
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


async def get_invoice(invoice_id: int, *, for_update: bool = False) -> InvoiceRow | None:
    lock = " FOR UPDATE OF i" if for_update else ""
    # Joins the lease, space, community and lessee for names and scope.
    rows = await RentInvoice.raw(f"SELECT {INVOICE_COLUMNS} FROM {INVOICE_FROM} WHERE i.id = {{}}{lock}", invoice_id)
    return msgspec.convert(rows[0], InvoiceRow) if rows else None


async def list_invoices(
    *, patterns: list[str], org_ids: list[int], lease_id: int | None, status: str | None, limit: int, offset: int
) -> tuple[list[InvoiceRow], int]:
    # Joins the lease, space, community and lessee for scope, with a window count.
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
    rows, total = split_total(rows)
    return msgspec.convert(rows, list[InvoiceRow]), total


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
            WHERE i.month >= {} AND i.month < {} AND i.kind = 'rent'
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


def figures_query(patterns: list[str], start: date, end: date) -> tuple[str, list[Any]]:
    return FIGURES_SQL, [start, end, patterns]


async def figures_by_community(patterns: list[str], start: date, end: date) -> list[CommunityFigures]:
    """Per community in scope: idle, listed and leased area now, and rent invoiced, collected and in arrears
    for invoices of months in [start, end). One statement."""
    # An aggregation over four tables: the one statement the figures are built from.
    sql, args = figures_query(patterns, start, end)
    return msgspec.convert(await Space.raw(sql, *args), list[CommunityFigures])


# Payments --------------------------------------------------------------------------------------

PAYMENT_COLUMNS = (
    Payment.id,
    Payment.invoice.as_alias("invoice_id"),
    Payment.attempt,
    Payment.idempotency_key,
    Payment.amount,
    Payment.status,
    Payment.intent_ref,
    Payment.decline_code,
    Payment.error_message,
    Payment.created_at,
    Payment.settled_at,
)


RETURNED_PAYMENT_COLUMNS = (
    Payment.id,
    Payment.invoice,
    Payment.attempt,
    Payment.idempotency_key,
    Payment.amount,
    Payment.status,
    Payment.intent_ref,
    Payment.decline_code,
    Payment.error_message,
    Payment.created_at,
    Payment.settled_at,
)


def _payments(rows: list[dict[str, Any]]) -> list[PaymentRow]:
    # RETURNING names the foreign key by its column; a select by its alias.
    for row in rows:
        if "invoice" in row:
            row["invoice_id"] = row.pop("invoice")
    return msgspec.convert(rows, list[PaymentRow])


async def count_attempts(invoice_id: int) -> int:
    return int(await Payment.count().where(Payment.invoice == invoice_id))


async def customer_ref(operator_id: int) -> str | None:
    row = (
        await PaymentCustomer.select(PaymentCustomer.customer_ref)
        .where(PaymentCustomer.operator == operator_id)
        .first()
    )
    return row["customer_ref"] if row else None


async def insert_customer(operator_id: int, ref: str, now: datetime) -> str:
    """Keeps the first customer recorded for the operator and returns it."""
    await PaymentCustomer.insert(PaymentCustomer(operator=operator_id, customer_ref=ref, created_at=now)).on_conflict(
        target=PaymentCustomer.operator
    )
    return await customer_ref(operator_id) or ref


async def insert_payment(
    invoice_id: int, attempt: int, key: str, amount: int, *, created_by: int | None, now: datetime
) -> PaymentRow:
    """Raises asyncpg's UniqueViolationError while another attempt on the invoice is pending."""
    payment = Payment(
        invoice=invoice_id,
        attempt=attempt,
        idempotency_key=key,
        amount=amount,
        status="pending",
        decline_code="",
        error_message="",
        created_by=created_by,
        created_at=now,
    )
    rows = await Payment.insert(payment).returning(*RETURNED_PAYMENT_COLUMNS)
    return _payments(rows)[0]


async def get_payment(payment_id: int, *, for_update: bool = False) -> PaymentRow | None:
    query = Payment.select(*PAYMENT_COLUMNS).where(Payment.id == payment_id)
    if for_update:
        query = query.lock_rows("UPDATE")
    rows = _payments(await query)
    return rows[0] if rows else None


async def payment_for_intent(intent_ref: str, key: str | None) -> PaymentRow | None:
    rows = _payments(
        await Payment.select(*PAYMENT_COLUMNS)
        .where((Payment.intent_ref == intent_ref) | (Payment.idempotency_key == key))
        .order_by(Payment.id)
        .limit(1)
    )
    return rows[0] if rows else None


async def payments_for_invoice(invoice_id: int) -> list[PaymentRow]:
    return _payments(await Payment.select(*PAYMENT_COLUMNS).where(Payment.invoice == invoice_id).order_by(Payment.id))


async def pending_payments(created_before: datetime, limit: int) -> list[PaymentRow]:
    return _payments(
        await Payment.select(*PAYMENT_COLUMNS)
        .where((Payment.status == "pending") & (Payment.created_at < created_before))
        .order_by(Payment.id)
        .limit(limit)
    )


async def settle_payment(
    payment_id: int, *, status: str, intent_ref: str | None, decline_code: str, error_message: str, now: datetime
) -> PaymentRow:
    values: dict[Any, Any] = {
        Payment.status: status,
        Payment.decline_code: decline_code,
        Payment.error_message: error_message,
        Payment.settled_at: None if status == "pending" else now,
    }
    if intent_ref is not None:
        values[Payment.intent_ref] = intent_ref
    rows = await Payment.update(values).where(Payment.id == payment_id).returning(*RETURNED_PAYMENT_COLUMNS)
    return _payments(rows)[0]


async def mark_invoice_paid(invoice_id: int, now: datetime) -> None:
    await RentInvoice.update(
        {RentInvoice.status: "paid", RentInvoice.paid_at: now, RentInvoice.last_decline: ""}
    ).where(RentInvoice.id == invoice_id)


async def set_invoice_decline(invoice_id: int, text: str) -> None:
    await RentInvoice.update({RentInvoice.last_decline: text}).where(RentInvoice.id == invoice_id)


async def record_webhook_event(event_ref: str, event_type: str, now: datetime) -> bool:
    """False when the event id was seen before."""
    rows = (
        await WebhookEvent.insert(WebhookEvent(event_ref=event_ref, event_type=event_type, received_at=now))
        .on_conflict(target=WebhookEvent.event_ref)
        .returning(WebhookEvent.id)
    )
    return bool(rows)


async def webhook_event_seen(event_ref: str) -> bool:
    return bool(await WebhookEvent.exists().where(WebhookEvent.event_ref == event_ref))


# Renewals --------------------------------------------------------------------------------------


async def leases_ending(after: date, until: date) -> list[dict[str, Any]]:
    """Leases not renewed nor terminated whose term ends in (after, until]; `ends_on` is exclusive. Plain
    rows, as the scheduler's renewal flags read contracts' and registry listings' the same way."""
    # Joins the org tree for names and scope.
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


async def overdue_invoices(excluding: list[int]) -> list[OverdueInvoice]:
    """Overdue invoices other than `excluding` (those already known), so a night's work is the new arrears."""
    # Joins the lease, space, community and operator for the flag's title and scope.
    rows = await RentInvoice.raw(
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
    return msgspec.convert(rows, list[OverdueInvoice])


async def invoices_no_longer_overdue(invoice_ids: list[int]) -> list[int]:
    if not invoice_ids:
        return []
    rows = await RentInvoice.select(RentInvoice.id).where(
        RentInvoice.id.is_in(invoice_ids) & (RentInvoice.status != "overdue")
    )
    return [r["id"] for r in rows]


NOT_IN_GOOD_STANDING = ["suspended", "removed", "expired"]


async def leases_of_lessees_not_in_good_standing() -> list[LeaseAtRisk]:
    """Active leases whose lessee the registry has suspended, removed or let expire."""
    # Joins the space, community and operator for the flag's title, scope and the lessee's status.
    rows = await Lease.raw(
        """
        SELECT l.id, s.address, c.name AS community_name, corg.path AS community_path, l.lessee AS lessee_id,
               o.name AS lessee_name, o.registry_status, l.ends_on
        FROM leasing_lease l
        JOIN leasing_space s ON s.id = l.space
        JOIN market_community c ON c.id = s.community
        JOIN organisation corg ON corg.id = c.org
        JOIN provider_operator o ON o.id = l.lessee
        WHERE l.status IN ('active', 'expiring') AND o.registry_status = ANY({}::text[])
        ORDER BY l.id
        """,
        NOT_IN_GOOD_STANDING,
    )
    return msgspec.convert(rows, list[LeaseAtRisk])


async def leases_no_longer_at_risk(lease_ids: list[int]) -> list[int]:
    """Of these leases, those that ended, or whose lessee is back in good standing."""
    if not lease_ids:
        return []
    # Joins the operator for its registry status.
    rows = await Lease.raw(
        "SELECT l.id FROM leasing_lease l JOIN provider_operator o ON o.id = l.lessee "
        "WHERE l.id = ANY({}::int[]) AND (l.status NOT IN ('active', 'expiring') "
        "OR NOT o.registry_status = ANY({}::text[]))",
        lease_ids,
        NOT_IN_GOOD_STANDING,
    )
    return [r["id"] for r in rows]


# Deposits --------------------------------------------------------------------------------------

DEPOSIT_COLUMNS = (
    DepositSettlement.id,
    DepositSettlement.lease,
    DepositSettlement.invoice,
    DepositSettlement.refund_amount,
    DepositSettlement.retained_amount,
    DepositSettlement.reason,
    DepositSettlement.status,
    DepositSettlement.idempotency_key,
    DepositSettlement.refund_ref,
    DepositSettlement.error_message,
    DepositSettlement.created_at,
    DepositSettlement.settled_at,
)


def _settlement(row: dict[str, Any]) -> DepositSettlementRow:
    row["lease_id"], row["invoice_id"] = row.pop("lease"), row.pop("invoice")
    return msgspec.convert(row, DepositSettlementRow)


async def deposit_invoice(lease_id: int) -> tuple[int, str, int] | None:
    """(invoice id, status, amount) of the lease's deposit invoice, locked."""
    rows = await (
        RentInvoice.select(RentInvoice.id, RentInvoice.status, RentInvoice.amount)
        .where((RentInvoice.lease == lease_id) & (RentInvoice.kind == "deposit"))
        .lock_rows("UPDATE")
    )
    return (rows[0]["id"], rows[0]["status"], rows[0]["amount"]) if rows else None


async def succeeded_intent(invoice_id: int) -> str | None:
    row = (
        await Payment.select(Payment.intent_ref)
        .where((Payment.invoice == invoice_id) & (Payment.status == "succeeded"))
        .first()
    )
    return row["intent_ref"] if row else None


async def insert_settlement(
    lease_id: int,
    invoice_id: int,
    *,
    refund: int,
    retained: int,
    reason: str,
    status: str,
    key: str,
    created_by: int,
    now: datetime,
) -> DepositSettlementRow:
    """Raises asyncpg's UniqueViolationError when the lease's deposit was settled before."""
    settlement = DepositSettlement(
        lease=lease_id,
        invoice=invoice_id,
        refund_amount=refund,
        retained_amount=retained,
        reason=reason,
        status=status,
        idempotency_key=key,
        error_message="",
        created_by=created_by,
        created_at=now,
        settled_at=now if status == "retained" else None,
    )
    rows = await DepositSettlement.insert(settlement).returning(*DEPOSIT_COLUMNS)
    return _settlement(rows[0])


async def finish_settlement(
    settlement_id: int, *, status: str, refund_ref: str | None, error_message: str, now: datetime
) -> DepositSettlementRow | None:
    """The refund's answer on a pending settlement; None when it was no longer pending."""
    rows = await (
        DepositSettlement.update(
            {
                DepositSettlement.status: status,
                DepositSettlement.refund_ref: refund_ref,
                DepositSettlement.error_message: error_message,
                DepositSettlement.settled_at: now,
            }
        )
        .where((DepositSettlement.id == settlement_id) & (DepositSettlement.status == "pending"))
        .returning(*DEPOSIT_COLUMNS)
    )
    return _settlement(rows[0]) if rows else None


async def lessee_arrears(start: date, end: date, end_at: datetime) -> dict[tuple[int, int], int]:
    """For each (lessee, community) with a lease in force during [start, end): its rent invoices due before
    `end` and still unpaid at `end_at`. A pair with no arrears counts 0; a pair not listed leased nothing."""
    # A grouped count over leases, spaces and invoices, with the unpaid ones filtered inside the aggregate.
    rows = await RentInvoice.raw(
        """
        SELECT l.lessee AS operator_id, s.community AS community_id,
               count(i.id) FILTER (
                   WHERE i.kind = 'rent' AND i.status <> 'void' AND i.due_on < {}
                     AND (i.paid_at IS NULL OR i.paid_at >= {})
               ) AS invoices
        FROM leasing_lease l
        JOIN leasing_space s ON s.id = l.space
        LEFT JOIN leasing_invoice i ON i.lease = l.id
        WHERE l.starts_on < {} AND l.ends_on > {}
        GROUP BY l.lessee, s.community
        """,
        end,
        end_at,
        end,
        start,
    )
    return {(r["operator_id"], r["community_id"]): r["invoices"] for r in rows}
