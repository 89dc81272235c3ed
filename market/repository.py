"""Every query of the market. Functions return typed rows (or Piccolo instances); callers hold transactions.

Statements on one table use Piccolo's query builder; hand-written SQL is kept for joins, aggregates and
bulk statements, each saying why."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import msgspec

from market.schemas import (
    AssignmentRow,
    CandidateRow,
    CommunityRow,
    CommunityTotals,
    ComplaintView,
    ContractLineRow,
    ContractRow,
    FranchiseInvoiceRow,
    FundMovementRow,
    FundRow,
    KindTotal,
    LedgerEntryRow,
    MasterContractRow,
    MonthFigures,
    NeedRow,
    PlanLineRow,
    PlanRow,
    PlatformRow,
    PostedVoucher,
    ScopedNeed,
    ServingOperator,
)
from market.tables import (
    AllocationLine,
    AllocationPlan,
    Community,
    Complaint,
    ContractLine,
    ContractRegistryDecision,
    FranchiseInvoice,
    Fund,
    FundMovement,
    LedgerEntry,
    Need,
    Platform,
    PlatformAssignment,
    PlatformContract,
    ServiceContract,
)
from providers.tables import Category, Listing, Operator

R = TypeVar("R", bound=msgspec.Struct)


def _one(rows: list[dict[str, Any]], row_type: type[R]) -> R | None:
    return msgspec.convert(rows[0], row_type) if rows else None


def _all(rows: list[dict[str, Any]], row_type: type[R]) -> list[R]:
    return msgspec.convert(rows, list[row_type])  # type: ignore[valid-type]


def _counted(rows: list[dict[str, Any]], row_type: type[R]) -> tuple[list[R], int]:
    """Rows fetched with `count(*) OVER () AS total`: the typed rows and that total."""
    return _all(rows, row_type), rows[0]["total"] if rows else 0


# Contracts in these states hold one unit of the operator's capacity until they end.
HOLDING_STATES = ("draft", "active", "expiring")
# Contracts in these states were (or are) in force: they count as experience and allow revenue reports.
IN_FORCE_STATES = ("active", "expiring", "renewed", "terminated")

# Communities -----------------------------------------------------------------------------------

COMMUNITY_COLUMNS = """
    c.id, c.org AS org_id, org.path AS org_path, c.name, c.district AS district_id, d.name AS district_name,
    c.street AS street_id, s.name AS street_name, c.community_type, c.tier, c.pool, c.creation_level,
    c.planned_start, c.planned_finish, c.area_hectares, c.households, c.elderly_share, c.children_share,
    c.status, c.created_at, c.updated_at, c.accepted_at, c.accepted_satisfaction
"""
COMMUNITY_FROM = """
    market_community c
    JOIN organisation org ON org.id = c.org
    JOIN organisation d ON d.id = c.district
    JOIN organisation s ON s.id = c.street
"""


async def insert_community(*, org_id: int, district_id: int, street_id: int, fields: dict, now: datetime) -> int:
    community = Community(
        org=org_id,
        name=fields["name"],
        district=district_id,
        street=street_id,
        community_type=fields["community_type"],
        tier=fields["tier"],
        pool=fields["pool"],
        creation_level=fields["creation_level"],
        planned_start=fields["planned_start"],
        planned_finish=fields["planned_finish"],
        area_hectares=fields["area_hectares"],
        households=fields["households"],
        elderly_share=fields["elderly_share"],
        children_share=fields["children_share"],
        status=fields["status"],
        created_at=now,
        updated_at=now,
    )
    rows = await Community.insert(community).returning(Community.id)
    return rows[0]["id"]


async def any_community() -> bool:
    return await Community.exists()


async def community_name_taken(street_id: int, name: str) -> bool:
    return await Community.exists().where((Community.street == street_id) & (Community.name == name))


async def get_community(community_id: int, *, for_update: bool = False) -> CommunityRow | None:
    # SQL: the file joins its org node, district and street.
    lock = " FOR UPDATE OF c" if for_update else ""
    rows = await Community.raw(
        f"SELECT {COMMUNITY_COLUMNS} FROM {COMMUNITY_FROM} WHERE c.id = {{}}{lock}", community_id
    )
    return _one(rows, CommunityRow)


async def record_acceptance(community_id: int, *, user_id: int, satisfaction: object, now: datetime) -> bool:
    """验收通过, once: False when the community was accepted before (the caller holds its row locked)."""
    rows = (
        await Community.update(
            {
                Community.accepted_at: now,
                Community.accepted_by: user_id,
                Community.accepted_satisfaction: satisfaction,
                Community.updated_at: now,
            }
        )
        .where(Community.id == community_id, Community.accepted_at.is_null())
        .returning(Community.id)
    )
    # A community still being planned or built moves on to 已验收; one already operating stays so.
    await Community.update({Community.status: "accepted"}).where(
        Community.id == community_id, Community.status.is_in(["planning", "building"])
    )
    return bool(rows)


async def list_communities(
    *,
    patterns: list[str],
    operator_org_ids: list[int],
    district_id: int | None,
    street_id: int | None,
    status: str | None,
    pool: str | None,
    q: str | None,
    limit: int,
    offset: int,
) -> tuple[list[CommunityRow], int]:
    """Communities inside the scope `patterns`, plus those any of `operator_org_ids` holds a contract with."""
    # SQL: joins, a correlated EXISTS and the window total.
    rows = await Community.raw(
        f"""
        SELECT {COMMUNITY_COLUMNS}, count(*) OVER () AS total FROM {COMMUNITY_FROM}
        WHERE (org.path LIKE ANY({{}}::text[])
               OR EXISTS (SELECT 1 FROM market_contract k JOIN provider_operator o ON o.id = k.operator
                          WHERE k.community = c.id AND o.org = ANY({{}}::int[])))
          AND ({{}}::int IS NULL OR c.district = {{}})
          AND ({{}}::int IS NULL OR c.street = {{}})
          AND ({{}}::text IS NULL OR c.status = {{}})
          AND ({{}}::text IS NULL OR c.pool = {{}})
          AND ({{}}::text IS NULL OR c.name LIKE '%' || {{}} || '%')
        ORDER BY c.district, c.street, c.id LIMIT {{}} OFFSET {{}}
        """,
        patterns,
        operator_org_ids,
        district_id,
        district_id,
        street_id,
        street_id,
        status,
        status,
        pool,
        pool,
        q,
        q,
        limit,
        offset,
    )
    return _counted(rows, CommunityRow)


async def update_community(community_id: int, changes: dict, now: datetime) -> None:
    await Community.update({**{getattr(Community, k): v for k, v in changes.items()}, Community.updated_at: now}).where(
        Community.id == community_id
    )


async def operator_has_contract(community_id: int, operator_org_ids: list[int]) -> bool:
    # SQL: a contract joined to its operator's organisation.
    rows = await Community.raw(
        "SELECT 1 FROM market_contract k JOIN provider_operator o ON o.id = k.operator "
        "WHERE k.community = {} AND o.org = ANY({}::int[]) LIMIT 1",
        community_id,
        operator_org_ids,
    )
    return bool(rows)


# Needs -----------------------------------------------------------------------------------------

NEED_COLUMNS = """
    n.id, n.community AS community_id, c.name AS community_name, c.district AS district_id, org.path AS org_path,
    n.category, cat.name AS category_name, n.priority, n.text, n.status, n.created_at, n.updated_at,
    n.vote_poll_id, n.vote_winner_operator_id, n.vote_winner_label, n.vote_closed_at, n.vote_quorum_met,
    n.vote_decision_follows, n.vote_decision_operator_id, n.vote_decision_label, n.vote_decision_reason,
    n.vote_decided_at
"""
NEED_FROM = """
    market_need n
    JOIN market_community c ON c.id = n.community
    JOIN organisation org ON org.id = c.org
    JOIN provider_category cat ON cat.code = n.category
"""


async def insert_need(
    *, community_id: int, category: str, priority: int, text: str, created_by: int, now: datetime
) -> int:
    need = Need(
        community=community_id,
        category=category,
        priority=priority,
        text=text,
        status="open",
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    rows = await Need.insert(need).returning(Need.id)
    return rows[0]["id"]


async def get_need(need_id: int, *, for_update: bool = False) -> NeedRow | None:
    # SQL: the need joins its community, org node and category name.
    lock = " FOR UPDATE OF n" if for_update else ""
    rows = await Need.raw(f"SELECT {NEED_COLUMNS} FROM {NEED_FROM} WHERE n.id = {{}}{lock}", need_id)
    return _one(rows, NeedRow)


async def list_needs(
    *,
    patterns: list[str] | None,
    community_id: int | None,
    status: str | None,
    category: str | None,
    limit: int,
    offset: int,
    open_anywhere: bool = False,
) -> tuple[list[NeedRow], int]:
    """patterns None: every community (operators browsing open needs); `open_anywhere` adds the open needs of
    every community to those in `patterns`."""
    # SQL: joins and the window total.
    rows = await Need.raw(
        f"""
        SELECT {NEED_COLUMNS}, count(*) OVER () AS total FROM {NEED_FROM}
        WHERE ({{}}::text[] IS NULL OR org.path LIKE ANY({{}}::text[]) OR ({{}} AND n.status = 'open'))
          AND ({{}}::int IS NULL OR n.community = {{}})
          AND ({{}}::text IS NULL OR n.status = {{}})
          AND ({{}}::text IS NULL OR n.category = {{}})
        ORDER BY n.priority, n.id LIMIT {{}} OFFSET {{}}
        """,
        patterns,
        patterns,
        open_anywhere,
        community_id,
        community_id,
        status,
        status,
        category,
        category,
        limit,
        offset,
    )
    return _counted(rows, NeedRow)


async def set_need_status(need_ids: list[int], status: str, now: datetime, *, only_from: str | None = None) -> None:
    if not need_ids:
        return
    query = Need.update({Need.status: status, Need.updated_at: now}).where(Need.id.is_in(need_ids))
    if only_from is not None:
        query = query.where(Need.status == only_from)
    await query


async def record_vote_result(
    need_id: int,
    *,
    poll_id: int,
    closed_at: datetime,
    quorum_met: bool,
    winner_operator_id: int | None,
    winner_label: str,
    now: datetime,
) -> bool:
    """The latest closed poll's result on the need; a decision taken on an earlier poll no longer stands."""
    rows = (
        await Need.update(
            {
                Need.vote_poll_id: poll_id,
                Need.vote_closed_at: closed_at,
                Need.vote_quorum_met: quorum_met,
                Need.vote_winner_operator_id: winner_operator_id,
                Need.vote_winner_label: winner_label,
                Need.vote_decision_follows: None,
                Need.vote_decision_operator_id: None,
                Need.vote_decision_label: "",
                Need.vote_decision_reason: "",
                Need.vote_decided_by: None,
                Need.vote_decided_at: None,
                Need.updated_at: now,
            }
        )
        .where(Need.id == need_id)
        .returning(Need.id)
    )
    return bool(rows)


async def record_vote_decision(
    need_id: int,
    *,
    poll_id: int,
    follows: bool,
    operator_id: int | None,
    label: str,
    reason: str,
    by: int,
    now: datetime,
    replace: bool = False,
) -> bool:
    """The decision on the need's vote, once (`replace`: over an earlier one, for a signature that departs
    from it with a reason). False when the poll is not the need's latest or a decision already stands."""
    query = Need.update(
        {
            Need.vote_decision_follows: follows,
            Need.vote_decision_operator_id: operator_id,
            Need.vote_decision_label: label,
            Need.vote_decision_reason: reason,
            Need.vote_decided_by: by,
            Need.vote_decided_at: now,
            Need.updated_at: now,
        }
    ).where(Need.id == need_id, Need.vote_poll_id == poll_id)
    if not replace:
        query = query.where(Need.vote_decided_at.is_null())
    return bool(await query.returning(Need.id))


async def needs_of_community(community_id: int, need_ids: list[int]) -> list[Need]:
    if not need_ids:
        return []
    return await Need.objects().where((Need.community == community_id) & Need.id.is_in(need_ids)).lock_rows()


async def open_needs(community_id: int) -> list[Need]:
    return (
        await Need.objects()
        .where((Need.community == community_id) & (Need.status == "open"))
        .order_by(Need.priority, Need.id)
    )


async def open_needs_in_scope(patterns: list[str]) -> list[ScopedNeed]:
    # SQL: needs joined to their community and org node.
    rows = await Need.raw(
        """
        SELECT n.id, n.category, n.priority, c.id AS community_id, c.name AS community_name,
               c.district AS district_id, c.community_type,
               CASE WHEN n.vote_quorum_met THEN n.vote_winner_operator_id END AS vote_winner_operator_id
        FROM market_need n JOIN market_community c ON c.id = n.community JOIN organisation org ON org.id = c.org
        WHERE n.status = 'open' AND org.path LIKE ANY({}::text[])
        ORDER BY n.id
        """,
        patterns,
    )
    return _all(rows, ScopedNeed)


async def operators_serving(category: str, district_id: int, today: date) -> list[ServingOperator]:
    """Operators listed today for `category`, in good standing, who serve `district_id`."""
    # SQL: operators joined to their listings.
    rows = await Need.raw(
        """
        SELECT DISTINCT o.id, o.name, o.contact_email FROM provider_operator o
        JOIN provider_listing l ON l.operator = o.id
        WHERE l.category = {} AND l.valid_from <= {} AND l.valid_until > {}
          AND o.registry_status IN ('listed', 'warned') AND {} = ANY(o.district_ids)
        ORDER BY o.id
        """,
        category,
        today,
        today,
        district_id,
    )
    return _all(rows, ServingOperator)


# Matching candidates ---------------------------------------------------------------------------

MATCH_CANDIDATES_SQL = """
        WITH listed AS (
            SELECT l.operator, array_agg(DISTINCT l.category) AS categories
            FROM provider_listing l
            WHERE l.category = ANY({}::text[]) AND l.valid_from <= {} AND l.valid_until > {}
            GROUP BY l.operator
        ),
        holding AS (
            SELECT k.operator, count(*) AS contracts FROM market_contract k
            WHERE k.status IN ('draft', 'active', 'expiring') AND k.ends_on > {}
            GROUP BY k.operator
        ),
        experience AS (
            SELECT k.operator,
                   count(DISTINCT k.community) FILTER (WHERE c.community_type = 'renovation') AS renovation,
                   count(DISTINCT k.community) FILTER (WHERE c.community_type = 'new_build') AS new_build
            FROM market_contract k JOIN market_community c ON c.id = k.community
            WHERE k.status IN ('active', 'expiring', 'renewed', 'terminated') AND k.starts_on <= {}
            GROUP BY k.operator
        ),
        recent AS (
            SELECT e.operator, e.period_end, e.score,
                   row_number() OVER (PARTITION BY e.operator ORDER BY e.period_end DESC, e.id DESC) AS n
            FROM provider_evaluation e JOIN listed ON listed.operator = e.operator
        ),
        evaluations AS (
            SELECT operator, array_agg(period_end ORDER BY period_end DESC) AS ends,
                   array_agg(score ORDER BY period_end DESC) AS scores
            FROM recent WHERE n <= 12 GROUP BY operator
        )
        SELECT o.id, o.name, o.registry_status, o.capacity, o.district_ids, listed.categories,
               coalesce(holding.contracts, 0) AS contracts,
               coalesce(experience.renovation, 0) AS renovation_experience,
               coalesce(experience.new_build, 0) AS new_build_experience,
               coalesce(evaluations.ends, '{{}}') AS evaluation_ends,
               coalesce(evaluations.scores, '{{}}') AS evaluation_scores
        FROM listed
        JOIN provider_operator o ON o.id = listed.operator
        LEFT JOIN holding ON holding.operator = o.id
        LEFT JOIN experience ON experience.operator = o.id
        LEFT JOIN evaluations ON evaluations.operator = o.id
        WHERE o.registry_status IN ('listed', 'warned')
        ORDER BY o.id
        """


def match_candidates_query(categories: list[str], today: date) -> tuple[str, list]:
    return MATCH_CANDIDATES_SQL, [categories, today, today, today, today]


async def match_candidates(categories: list[str], today: date) -> list[CandidateRow]:
    """Every operator in good standing listed today for any of `categories`, with what scoring needs:
    the categories it covers, capacity held by contracts, its last twelve evaluations, and the number of
    communities of each type it has run. One statement, whatever the number of operators."""
    # SQL: window functions and aggregates over five tables.
    sql, args = match_candidates_query(categories, today)
    return _all(await Need.raw(sql, *args), CandidateRow)


async def category_names() -> dict[str, str]:
    rows = await Category.select(Category.code, Category.name)
    return {r["code"]: r["name"] for r in rows}


# Contracts -------------------------------------------------------------------------------------

CONTRACT_COLUMNS = """
    k.id, k.street AS street_id, s.name AS street_name, s.path AS street_path, k.community AS community_id,
    c.name AS community_name, k.operator AS operator_id, o.name AS operator_name, o.org AS operator_org_id,
    k.categories, k.starts_on, k.ends_on, k.annual_fee, k.revenue_share, k.kpis, k.status, k.renewal_of,
    coalesce(k.need_ids, ARRAY[]::int[]) AS need_ids, k.signed_at, k.terminated_at, k.termination_reason, k.created_at,
    k.kind, k.scope, k.franchise_fee, k.renewal_terms, k.termination_terms, k.master_contract AS master_contract_id,
    k.alliance AS alliance_id
"""
CONTRACT_FROM = """
    market_contract k
    JOIN organisation s ON s.id = k.street
    JOIN provider_operator o ON o.id = k.operator
    LEFT JOIN market_community c ON c.id = k.community
"""


DRAFTING_LOCK_SPACE = 7_130_004  # advisory lock space for drafting between one community and one operator


async def lock_drafting(community_id: int, operator_id: int) -> None:
    """Until commit, one transaction at a time drafts between the community and the operator. A row lock
    cannot do this: before the first draft there is no row to lock."""
    # SQL: an advisory lock has no query builder form.
    await ServiceContract.raw(
        "SELECT pg_advisory_xact_lock({}, hashtext({}))", DRAFTING_LOCK_SPACE, f"{community_id}:{operator_id}"
    )


async def lock_operator(operator_id: int) -> Operator | None:
    """Locks the operator row: every change to the contracts holding its capacity queues up behind it."""
    return await Operator.objects().where(Operator.id == operator_id).lock_rows().first()


async def holding_count(operator_id: int, today: date) -> int:
    return await ServiceContract.count().where(
        (ServiceContract.operator == operator_id)
        & ServiceContract.status.is_in(list(HOLDING_STATES))
        & (ServiceContract.ends_on > today)
    )


async def listed_categories(operator_id: int, on: date) -> set[str]:
    rows = await Listing.select(Listing.category).where(
        (Listing.operator == operator_id) & (Listing.valid_from <= on) & (Listing.valid_until > on)
    )
    return {r["category"] for r in rows}


async def insert_contract(fields: dict, *, status: str, created_by: int, now: datetime) -> int:
    signed = status == "active"
    contract = ServiceContract(
        street=fields["street_id"],
        community=fields["community_id"],
        operator=fields["operator_id"],
        categories=fields["categories"],
        starts_on=fields["starts_on"],
        ends_on=fields["ends_on"],
        annual_fee=fields["annual_fee"],
        revenue_share=fields["revenue_share"],
        kpis=fields["kpis"],
        status=status,
        renewal_of=fields.get("renewal_of"),
        need_ids=fields["need_ids"],
        kind=fields.get("kind", "service"),
        scope=fields.get("scope", ""),
        franchise_fee=fields.get("franchise_fee", 0),
        renewal_terms=fields.get("renewal_terms", ""),
        termination_terms=fields.get("termination_terms", ""),
        master_contract=fields.get("master_contract_id"),
        alliance=fields.get("alliance_id"),
        created_by=created_by,
        signed_by=created_by if signed else None,
        signed_at=now if signed else None,
        termination_reason="",
        created_at=now,
        updated_at=now,
    )
    rows = await ServiceContract.insert(contract).returning(ServiceContract.id)
    return rows[0]["id"]


async def get_contract(contract_id: int, *, for_update: bool = False) -> ContractRow | None:
    # SQL: the contract joins its street, operator and community.
    lock = " FOR UPDATE OF k" if for_update else ""
    rows = await ServiceContract.raw(
        f"SELECT {CONTRACT_COLUMNS} FROM {CONTRACT_FROM} WHERE k.id = {{}}{lock}", contract_id
    )
    return _one(rows, ContractRow)


async def draft_contract_for(community_id: int, operator_id: int) -> ContractRow | None:
    # SQL: the same joins as get_contract.
    rows = await ServiceContract.raw(
        f"SELECT {CONTRACT_COLUMNS} FROM {CONTRACT_FROM} "
        "WHERE k.community = {} AND k.operator = {} AND k.status = 'draft' AND k.kind = 'service' ORDER BY k.id LIMIT 1 FOR UPDATE OF k",
        community_id,
        operator_id,
    )
    return _one(rows, ContractRow)


async def list_contracts(
    *,
    patterns: list[str],
    operator_org_ids: list[int],
    community_id: int | None,
    operator_id: int | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[ContractRow], int]:
    # SQL: joins and the window total.
    rows = await ServiceContract.raw(
        f"""
        SELECT {CONTRACT_COLUMNS}, count(*) OVER () AS total FROM {CONTRACT_FROM}
        WHERE (s.path LIKE ANY({{}}::text[]) OR o.org = ANY({{}}::int[]))
          AND ({{}}::int IS NULL OR k.community = {{}})
          AND ({{}}::int IS NULL OR k.operator = {{}})
          AND ({{}}::text IS NULL OR k.status = {{}})
        ORDER BY k.id DESC LIMIT {{}} OFFSET {{}}
        """,
        patterns,
        operator_org_ids,
        community_id,
        community_id,
        operator_id,
        operator_id,
        status,
        status,
        limit,
        offset,
    )
    return _counted(rows, ContractRow)


async def update_contract(contract_id: int, changes: dict, now: datetime) -> None:
    await ServiceContract.update(
        {**{getattr(ServiceContract, k): v for k, v in changes.items()}, ServiceContract.updated_at: now}
    ).where(ServiceContract.id == contract_id)


async def mark_expiring(today: date, horizon: date, now: datetime) -> list[int]:
    rows = (
        await ServiceContract.update({ServiceContract.status: "expiring", ServiceContract.updated_at: now})
        .where(
            (ServiceContract.status == "active")
            & (ServiceContract.ends_on > today)
            & (ServiceContract.ends_on <= horizon)
        )
        .returning(ServiceContract.id)
    )
    return [r["id"] for r in rows]


async def contract_commitments(community_ids: list[int], first_month: date) -> list[ServiceContract]:
    """Contracts in force from `first_month` on: what they already promise each month."""
    if not community_ids:
        return []
    return await ServiceContract.objects().where(
        ServiceContract.community.is_in(community_ids)
        & ServiceContract.status.is_in(["active", "expiring"])
        & (ServiceContract.ends_on > first_month)
        & (ServiceContract.annual_fee > 0)
    )


# Ledger ----------------------------------------------------------------------------------------

ENTRY_RETURNING = (
    LedgerEntry.id,
    LedgerEntry.community.as_alias("community_id"),
    LedgerEntry.month,
    LedgerEntry.direction,
    LedgerEntry.kind,
    LedgerEntry.amount,
    LedgerEntry.source,
    LedgerEntry.contract.as_alias("contract_id"),
    LedgerEntry.note,
    LedgerEntry.created_at,
)


async def insert_entries(
    entries: list[dict], *, posted_by: int | None, posted_by_org: int | None, now: datetime
) -> list[LedgerEntryRow]:
    """All or nothing: a source already posted raises asyncpg's UniqueViolationError."""
    written = [
        LedgerEntry(
            community=e["community_id"],
            month=e["month"],
            direction=e["direction"],
            kind=e["kind"],
            amount=e["amount"],
            source=e["source"],
            contract=e.get("contract_id"),
            note=e.get("note", ""),
            posted_by=posted_by,
            posted_by_org=posted_by_org,
            created_at=now,
        )
        for e in entries
    ]
    rows = await LedgerEntry.insert(*written).returning(*ENTRY_RETURNING)
    return _all(rows, LedgerEntryRow)


async def entry_by_source(source: str) -> PostedVoucher | None:
    # SQL: the entry joins the organisation that posted it.
    rows = await LedgerEntry.raw(
        "SELECT e.id, e.posted_by_org AS posted_by_org_id, o.name AS posted_by_org_name "
        "FROM market_ledger_entry e LEFT JOIN organisation o ON o.id = e.posted_by_org WHERE e.source = {}",
        source,
    )
    return _one(rows, PostedVoucher)


async def insert_entries_once(entries: list[dict], *, now: datetime) -> list[int]:
    """Like insert_entries for the system's own postings: a source already posted is skipped."""
    # SQL: a bulk insert that skips conflicts (ON CONFLICT DO NOTHING).
    rows = await LedgerEntry.raw(
        """
        INSERT INTO market_ledger_entry (community, month, direction, kind, amount, source, contract, note,
            posted_by, posted_by_org, created_at)
        SELECT e.community, e.month, e.direction, e.kind, e.amount, e.source, NULL, e.note, NULL, NULL, {}
        FROM unnest({}::int[], {}::date[], {}::text[], {}::text[], {}::bigint[], {}::text[], {}::text[])
             AS e(community, month, direction, kind, amount, source, note)
        ON CONFLICT (source) DO NOTHING
        RETURNING id
        """,
        now,
        [e["community_id"] for e in entries],
        [e["month"] for e in entries],
        [e["direction"] for e in entries],
        [e["kind"] for e in entries],
        [e["amount"] for e in entries],
        [e["source"] for e in entries],
        [e.get("note", "") for e in entries],
    )
    return [r["id"] for r in rows]


async def list_entries(
    community_id: int, start: date, end: date, limit: int, offset: int, *, posted_by_orgs: list[int] | None = None
) -> tuple[list[LedgerEntryRow], int]:
    """`posted_by_orgs`: only the entries those organisations posted (None: all)."""
    # SQL: joins the posting organisation and counts the window total.
    rows = await LedgerEntry.raw(
        """
        SELECT e.id, e.month, e.direction, e.kind, e.amount, e.source, e.contract AS contract_id, e.note,
               e.created_at, coalesce(org.name, '') AS posted_by_org_name, count(*) OVER () AS total
        FROM market_ledger_entry e LEFT JOIN organisation org ON org.id = e.posted_by_org
        WHERE e.community = {} AND e.month >= {} AND e.month < {}
          AND ({}::int[] IS NULL OR e.posted_by_org = ANY({}::int[]))
        ORDER BY e.month DESC, e.id DESC LIMIT {} OFFSET {}
        """,
        community_id,
        start,
        end,
        posted_by_orgs,
        posted_by_orgs,
        limit,
        offset,
    )
    return _counted(rows, LedgerEntryRow)


async def monthly_totals(community_id: int, start: date, end: date) -> list[MonthFigures]:
    # SQL: conditional aggregates (FILTER) per month.
    rows = await LedgerEntry.raw(
        """
        SELECT month,
               coalesce(sum(amount) FILTER (WHERE direction = 'income'), 0)::bigint AS income,
               coalesce(sum(amount) FILTER (WHERE direction = 'cost'), 0)::bigint AS cost
        FROM market_ledger_entry WHERE community = {} AND month >= {} AND month < {}
        GROUP BY month ORDER BY month
        """,
        community_id,
        start,
        end,
    )
    return _all(rows, MonthFigures)


async def totals_by_kind(community_id: int, start: date, end: date) -> list[KindTotal]:
    # SQL: a grouped sum cast to bigint (Piccolo's Sum would return numeric).
    rows = await LedgerEntry.raw(
        "SELECT direction, kind, sum(amount)::bigint AS amount FROM market_ledger_entry "
        "WHERE community = {} AND month >= {} AND month < {} GROUP BY direction, kind ORDER BY direction, kind",
        community_id,
        start,
        end,
    )
    return _all(rows, KindTotal)


BALANCE_OVERVIEW_SQL = f"""
        SELECT c.id, c.name, org.path AS org_path, c.district AS district_id, d.name AS district_name,
               c.street AS street_id,
               s.name AS street_name, c.status, c.community_type,
               coalesce(t.income, 0)::bigint AS income, coalesce(t.cost, 0)::bigint AS cost
        FROM {COMMUNITY_FROM}
        LEFT JOIN (
            SELECT community,
                   sum(amount) FILTER (WHERE direction = 'income') AS income,
                   sum(amount) FILTER (WHERE direction = 'cost') AS cost
            FROM market_ledger_entry WHERE month >= {{}} AND month < {{}}
            GROUP BY community
        ) t ON t.community = c.id
        WHERE org.path LIKE ANY({{}}::text[]) AND ({{}}::int IS NULL OR c.district = {{}})
        ORDER BY c.district, c.street, c.id
        """


def balance_overview_query(patterns: list[str], district_id: int | None, start: date, end: date) -> tuple[str, list]:
    return BALANCE_OVERVIEW_SQL, [start, end, patterns, district_id, district_id]


async def balance_overview(
    patterns: list[str], district_id: int | None, start: date, end: date
) -> list[CommunityTotals]:
    """Every community in scope with its income and cost over [start, end): one statement."""
    # SQL: joins and a grouped subquery, shared with bench/.
    sql, args = balance_overview_query(patterns, district_id, start, end)
    return _all(await LedgerEntry.raw(sql, *args), CommunityTotals)


# Allocation ------------------------------------------------------------------------------------


async def insert_plan(
    *,
    scope_org_id: int,
    created_by: int,
    total: float,
    greedy_total: float,
    need_count: int,
    weights: dict,
    now: datetime,
) -> int:
    plan = AllocationPlan(
        scope_org=scope_org_id,
        created_by=created_by,
        total_score=Decimal(str(total)),
        greedy_score=Decimal(str(greedy_total)),
        need_count=need_count,
        weights=json.dumps(weights),
        created_at=now,
    )
    rows = await AllocationPlan.insert(plan).returning(AllocationPlan.id)
    return rows[0]["id"]


async def insert_plan_lines(
    plan_id: int,
    lines: list[tuple[int, int | None, float | None]],
    alliances: dict[int, tuple[int, str]] | None = None,
) -> None:
    """`alliances`: need → (alliance, explanation) for the lines that give a community to an alliance."""
    # SQL: one bulk insert from arrays, however many lines.
    alliances = alliances or {}
    await AllocationLine.raw(
        "INSERT INTO market_allocation_line (plan, need, operator, score, state, reason, alliance, explanation) "
        "SELECT {}, l.need, l.operator, l.score, 'proposed', '', l.alliance, l.explanation "
        "FROM unnest({}::int[], {}::int[], {}::numeric[], {}::int[], {}::text[]) "
        "AS l(need, operator, score, alliance, explanation)",
        plan_id,
        [n for n, _, _ in lines],
        [o for _, o, _ in lines],
        [s for _, _, s in lines],
        [alliances[n][0] if n in alliances else None for n, _, _ in lines],
        [alliances[n][1] if n in alliances else "" for n, _, _ in lines],
    )


async def get_plan(plan_id: int) -> PlanRow | None:
    # SQL: the plan joins its scope organisation.
    rows = await AllocationPlan.raw(
        "SELECT p.id, p.scope_org AS scope_org_id, org.name AS scope_name, org.path AS scope_path, p.total_score, "
        "p.greedy_score, p.need_count, p.weights, p.created_at FROM market_allocation_plan p "
        "JOIN organisation org ON org.id = p.scope_org WHERE p.id = {}",
        plan_id,
    )
    if not rows:
        return None
    plan = rows[0]
    if isinstance(plan["weights"], str):
        plan["weights"] = json.loads(plan["weights"])
    return msgspec.convert(plan, PlanRow)


PLAN_LINE_COLUMNS = """
    l.id, l.plan AS plan_id, l.need AS need_id, n.category, cat.name AS category_name, n.community AS community_id,
    c.name AS community_name, org.path AS community_path, l.operator AS operator_id,
    coalesce(o.name, '') AS operator_name, l.score, l.state, l.contract AS contract_id, l.reason,
    l.alliance AS alliance_id, coalesce(a.name, '') AS alliance_name, a.lead AS alliance_lead_id, l.explanation,
    c.street AS street_id
"""
PLAN_LINE_FROM = """
    market_allocation_line l
    JOIN market_need n ON n.id = l.need
    JOIN provider_category cat ON cat.code = n.category
    JOIN market_community c ON c.id = n.community
    JOIN organisation org ON org.id = c.org
    LEFT JOIN provider_operator o ON o.id = l.operator
    LEFT JOIN provider_alliance a ON a.id = l.alliance
"""


async def plan_lines(plan_id: int) -> list[PlanLineRow]:
    # SQL: each line joins its need, category, community and operator.
    rows = await AllocationLine.raw(
        f"SELECT {PLAN_LINE_COLUMNS} FROM {PLAN_LINE_FROM} WHERE l.plan = {{}} ORDER BY l.need", plan_id
    )
    return _all(rows, PlanLineRow)


async def get_plan_line(plan_id: int, line_id: int, *, for_update: bool = False) -> PlanLineRow | None:
    # SQL: the same joins as plan_lines.
    lock = " FOR UPDATE OF l" if for_update else ""
    rows = await AllocationLine.raw(
        f"SELECT {PLAN_LINE_COLUMNS} FROM {PLAN_LINE_FROM} WHERE l.plan = {{}} AND l.id = {{}}{lock}",
        plan_id,
        line_id,
    )
    return _one(rows, PlanLineRow)


async def alliance_plan_lines(plan_id: int, community_id: int, alliance_id: int) -> list[PlanLineRow]:
    """The lines of a plan that give one community to one alliance, locked in id order so that deciding any of
    them at once waits rather than deadlocks."""
    # SQL: the same joins as plan_lines, locking the group's rows.
    rows = await AllocationLine.raw(
        f"SELECT {PLAN_LINE_COLUMNS} FROM {PLAN_LINE_FROM} "
        "WHERE l.plan = {} AND n.community = {} AND l.alliance = {} ORDER BY l.id FOR UPDATE OF l",
        plan_id,
        community_id,
        alliance_id,
    )
    return _all(rows, PlanLineRow)


async def decide_plan_line(
    line_id: int, *, state: str, contract_id: int | None, by: int, reason: str, now: datetime
) -> None:
    await AllocationLine.update(
        {
            AllocationLine.state: state,
            AllocationLine.contract: contract_id,
            AllocationLine.decided_by: by,
            AllocationLine.decided_at: now,
            AllocationLine.reason: reason,
        }
    ).where(AllocationLine.id == line_id)


# City-wide figures for the monthly balance report ---------------------------------------------


async def city_monthly_totals(start: date, end: date) -> list[dict]:
    """Income and cost of all communities together, per month of [start, end) that has entries."""
    # SQL: conditional aggregates (FILTER) per month.
    return await LedgerEntry.raw(
        """
        SELECT month,
               coalesce(sum(amount) FILTER (WHERE direction = 'income'), 0)::bigint AS income,
               coalesce(sum(amount) FILTER (WHERE direction = 'cost'), 0)::bigint AS cost
        FROM market_ledger_entry WHERE month >= {} AND month < {}
        GROUP BY month ORDER BY month
        """,
        start,
        end,
    )


async def kind_totals_by_community(community_ids: list[int], start: date, end: date) -> list[dict]:
    """Income and cost per ledger kind over [start, end) of each of these communities: one statement."""
    # SQL: a grouped sum cast to bigint.
    return await LedgerEntry.raw(
        "SELECT community AS community_id, direction, kind, sum(amount)::bigint AS amount FROM market_ledger_entry "
        "WHERE community = ANY({}::int[]) AND month >= {} AND month < {} "
        "GROUP BY community, direction, kind ORDER BY community, direction, kind",
        community_ids,
        start,
        end,
    )


async def contracts_ending(after: date, until: date) -> list[dict]:
    """Contracts in force whose term ends in (after, until]; `ends_on` is the first day no longer covered."""
    # SQL: joins four tables and aggregates category names.
    return await ServiceContract.raw(
        """
        SELECT k.id, k.community AS community_id, coalesce(c.name, '') AS community_name, st.name AS street_name,
               d.name AS district_name, o.name AS operator_name, k.categories, k.starts_on, k.ends_on,
               k.annual_fee, k.status, st.path AS community_path, k.street AS street_id, o.contact_email,
               (SELECT string_agg(cat.name, '、' ORDER BY cat.sort_order, cat.id) FROM provider_category cat
                WHERE cat.code = ANY(k.categories)) AS category_names
        FROM market_contract k
        JOIN organisation st ON st.id = k.street
        JOIN organisation d ON d.id = st.parent
        JOIN provider_operator o ON o.id = k.operator
        LEFT JOIN market_community c ON c.id = k.community
        WHERE k.status IN ('active', 'expiring') AND k.ends_on > {} AND k.ends_on <= {}
        ORDER BY k.ends_on, k.id
        """,
        after,
        until,
    )


# Complaints and quarterly performance ----------------------------------------------------------

COMPLAINT_COLUMNS = (
    Complaint.id,
    Complaint.contract.as_alias("contract_id"),
    Complaint.received_on,
    Complaint.text,
    Complaint.filed_by_org.as_alias("filed_by_org_id"),
    Complaint.created_at,
)


async def insert_complaint(
    contract_id: int, received_on: date, text: str, by: int, org_id: int, now: datetime
) -> ComplaintView:
    complaint = Complaint(
        contract=contract_id, received_on=received_on, text=text, filed_by=by, filed_by_org=org_id, created_at=now
    )
    rows = await Complaint.insert(complaint).returning(*COMPLAINT_COLUMNS)
    return msgspec.convert(rows[0], ComplaintView)


async def complaints_for(contract_id: int, limit: int, offset: int) -> tuple[list[ComplaintView], int]:
    query = Complaint.select(*COMPLAINT_COLUMNS).where(Complaint.contract == contract_id)
    rows = (
        await query.order_by(Complaint.received_on, ascending=False)
        .order_by(Complaint.id, ascending=False)
        .limit(limit)
        .offset(offset)
    )
    total = await Complaint.count().where(Complaint.contract == contract_id)
    return msgspec.convert(rows, list[ComplaintView]), total


class QuarterContract(msgspec.Struct, kw_only=True):
    id: int
    operator_id: int
    street_id: int
    community_id: int
    starts_on: date
    ends_on: date
    terminated_on: date | None
    already_evaluated: bool


async def contracts_in_force_during(start: date, end: date) -> list[QuarterContract]:
    """Signed contracts with a community in force over part of [start, end), and whether the quarter's
    computed evaluation exists already."""
    # Raw for the business-date conversion and the look at the registry's evaluations.
    rows = await ServiceContract.raw(
        """
        SELECT k.id, k.operator AS operator_id, k.street AS street_id, k.community AS community_id, k.starts_on,
               k.ends_on, (k.terminated_at AT TIME ZONE 'Asia/Shanghai')::date AS terminated_on,
               EXISTS (SELECT 1 FROM provider_evaluation e
                       WHERE e.kind = 'computed' AND e.contract_id = k.id AND e.period_start = {}) AS already_evaluated
        FROM market_contract k
        WHERE k.status <> 'draft' AND k.community IS NOT NULL AND k.starts_on < {} AND k.ends_on > {}
          AND (k.terminated_at IS NULL OR (k.terminated_at AT TIME ZONE 'Asia/Shanghai')::date > {})
        ORDER BY k.id
        """,
        start,
        end,
        start,
        start,
    )
    return msgspec.convert(rows, list[QuarterContract])


class ReportMonth(msgspec.Struct, kw_only=True):
    contract_id: int
    month: date
    kinds: list[str]
    first_filed: datetime


async def report_months(contract_ids: list[int], start: date, end: date) -> list[ReportMonth]:
    """What each contract's operator reported for each month of [start, end), and when it first did."""
    if not contract_ids:
        return []
    rows = await LedgerEntry.raw(
        """
        SELECT contract AS contract_id, month, array_agg(DISTINCT kind) AS kinds, min(created_at) AS first_filed
        FROM market_ledger_entry
        WHERE contract = ANY({}::int[]) AND month >= {} AND month < {} AND source LIKE 'contract:%'
        GROUP BY contract, month
        """,
        contract_ids,
        start,
        end,
    )
    return msgspec.convert(rows, list[ReportMonth])


async def complaint_counts(contract_ids: list[int], start: date, end: date) -> dict[int, int]:
    if not contract_ids:
        return {}
    rows = await Complaint.raw(
        "SELECT contract, count(*) AS n FROM market_complaint "
        "WHERE contract = ANY({}::int[]) AND received_on >= {} AND received_on < {} GROUP BY contract",
        contract_ids,
        start,
        end,
    )
    return {r["contract"]: r["n"] for r in rows}


async def ledger_totals(community_ids: list[int], start: date, end: date) -> dict[int, tuple[int, int]]:
    """(income, cost) in fen of each community over the months [start, end)."""
    if not community_ids:
        return {}
    rows = await LedgerEntry.raw(
        """
        SELECT community, coalesce(sum(amount) FILTER (WHERE direction = 'income'), 0) AS income,
               coalesce(sum(amount) FILTER (WHERE direction = 'cost'), 0) AS cost
        FROM market_ledger_entry WHERE community = ANY({}::int[]) AND month >= {} AND month < {}
        GROUP BY community
        """,
        community_ids,
        start,
        end,
    )
    return {r["community"]: (int(r["income"]), int(r["cost"])) for r in rows}


# Contracts of suspended or removed operators ---------------------------------------------------


class AwaitingDecision(msgspec.Struct, kw_only=True):
    """An active contract whose operator the registry suspended or removed, with no decision on it yet."""

    contract_id: int
    street_id: int
    street_path: str
    community_name: str | None
    operator_name: str
    registry_status: str
    status_decision_id: int
    status_reason: str
    ends_on: date


# Raw for the latest status decision of each operator (a lateral join) and the decisions already taken.
_AWAITING = """
    SELECT k.id AS contract_id, k.street AS street_id, s.path AS street_path, c.name AS community_name,
           o.name AS operator_name, o.registry_status, d.id AS status_decision_id, d.reason AS status_reason,
           k.ends_on
    FROM market_contract k
    JOIN provider_operator o ON o.id = k.operator AND o.registry_status IN ('suspended', 'removed')
    JOIN LATERAL (SELECT sd.id, sd.reason FROM provider_status_decision sd
                  WHERE sd.operator = o.id AND sd.to_status = o.registry_status
                  ORDER BY sd.at DESC, sd.id DESC LIMIT 1) d ON true
    JOIN organisation s ON s.id = k.street
    LEFT JOIN market_community c ON c.id = k.community
    WHERE k.status IN ('active', 'expiring')
      AND NOT EXISTS (SELECT 1 FROM market_contract_registry_decision r
                      WHERE r.contract = k.id AND r.status_decision = d.id)
"""


async def contracts_awaiting_decision() -> list[AwaitingDecision]:
    rows = await ServiceContract.raw(_AWAITING + " ORDER BY k.id")
    return msgspec.convert(rows, list[AwaitingDecision])


async def awaiting_decision(contract_id: int) -> AwaitingDecision | None:
    rows = await ServiceContract.raw(_AWAITING + " AND k.id = {}", contract_id)
    return _one(rows, AwaitingDecision)


async def insert_registry_decision(
    contract_id: int, status_decision_id: int, decision: str, reason: str, by: int, now: datetime
) -> None:
    await ContractRegistryDecision.insert(
        ContractRegistryDecision(
            contract=contract_id,
            status_decision=status_decision_id,
            decision=decision,
            reason=reason,
            decided_by=by,
            decided_at=now,
        )
    )


async def resolve_registry_flag(contract_id: int, status_decision_id: int, resolution: str, now: datetime) -> int:
    """The street's flag for this decision goes once the street has decided."""
    # scheduler_flag by name: the scheduler keeps the flags but sits above the market, which cannot import it,
    # and the flag should go with the decision rather than on the next night.
    rows = await ServiceContract.raw(
        """
        UPDATE scheduler_flag SET resolved_at = {}, resolution = {}
        WHERE kind = 'contract_registry_status' AND subject_type = 'contract' AND subject_id = {} AND mark = {}
          AND resolved_at IS NULL
        RETURNING id
        """,
        now,
        resolution,
        contract_id,
        str(status_decision_id),
    )
    return len(rows)


# Community fund --------------------------------------------------------------------------------

FUND_COLUMNS = """
    f.id, f.community AS community_id, c.name AS community_name, org.path AS org_path, f.name, f.charter,
    f.balance, f.opened_at
"""
FUND_FROM = """
    market_fund f
    JOIN market_community c ON c.id = f.community
    JOIN organisation org ON org.id = c.org
"""


async def insert_fund(*, community_id: int, name: str, charter: str, opened_by: int, now: datetime) -> int:
    rows = await Fund.insert(
        Fund(
            community=community_id,
            name=name,
            charter=charter,
            balance=0,
            opened_by=opened_by,
            opened_at=now,
            updated_at=now,
        )
    ).returning(Fund.id)
    return rows[0]["id"]


async def fund_of_community(community_id: int, *, for_update: bool = False) -> FundRow | None:
    # SQL: the fund joins its community and the community's place in the org tree.
    lock = " FOR UPDATE OF f" if for_update else ""
    rows = await Fund.raw(f"SELECT {FUND_COLUMNS} FROM {FUND_FROM} WHERE f.community = {{}}{lock}", community_id)
    return _one(rows, FundRow)


async def movement_by_source(source: str) -> FundMovementRow | None:
    rows = await FundMovement.select(*MOVEMENT_RETURNING).where(FundMovement.source == source)
    return _one(rows, FundMovementRow)


MOVEMENT_RETURNING = (
    FundMovement.id,
    FundMovement.fund.as_alias("fund_id"),
    FundMovement.direction,
    FundMovement.kind,
    FundMovement.amount,
    FundMovement.balance_after,
    FundMovement.source,
    FundMovement.counterparty,
    FundMovement.purpose,
    FundMovement.reference,
    FundMovement.ledger_entry.as_alias("ledger_entry_id"),
    FundMovement.created_at,
)


async def move_fund(
    *, fund_id: int, kind: str, amount: int, source: str, fields: dict, now: datetime
) -> FundMovementRow:
    """Changes the fund's balance by `amount` (in for donations and subsidies, out otherwise) and records the
    movement. A balance that would go below zero raises asyncpg's CheckViolationError; a source already
    recorded raises UniqueViolationError."""
    direction = "in" if kind in ("donation", "subsidy") else "out"
    delta = amount if direction == "in" else -amount
    updated = (
        await Fund.update({Fund.balance: Fund.balance + delta, Fund.updated_at: now})
        .where(Fund.id == fund_id)
        .returning(Fund.balance)
    )
    movement = FundMovement(
        fund=fund_id,
        direction=direction,
        kind=kind,
        amount=amount,
        balance_after=updated[0]["balance"],
        source=source,
        counterparty=fields.get("counterparty", ""),
        purpose=fields.get("purpose", ""),
        reference=fields.get("reference", ""),
        approved_by=fields.get("approved_by"),
        ledger_entry=fields.get("ledger_entry_id"),
        created_at=now,
    )
    rows = await FundMovement.insert(movement).returning(*MOVEMENT_RETURNING)
    return msgspec.convert(rows[0], FundMovementRow)


async def list_fund_movements(fund_id: int, limit: int, offset: int) -> tuple[list[FundMovementRow], int]:
    # SQL: movements join their approver's name, with the window total.
    rows = await FundMovement.raw(
        """
        SELECT m.id, m.fund AS fund_id, m.direction, m.kind, m.amount, m.balance_after, m.source, m.counterparty,
               m.purpose, m.reference, coalesce(nullif(u.display_name, ''), u.username) AS approved_by_name, m.ledger_entry AS ledger_entry_id,
               m.created_at, count(*) OVER () AS total
        FROM market_fund_movement m LEFT JOIN account_user u ON u.id = m.approved_by
        WHERE m.fund = {} ORDER BY m.id DESC LIMIT {} OFFSET {}
        """,
        fund_id,
        limit,
        offset,
    )
    return _counted(rows, FundMovementRow)


# Franchises ------------------------------------------------------------------------------------


async def franchise_in_force(community_id: int, scope: str) -> int | None:
    """The franchise of the community and scope that is in force now, if any."""
    rows = await ServiceContract.select(ServiceContract.id).where(
        (ServiceContract.community == community_id)
        & (ServiceContract.scope == scope)
        & (ServiceContract.kind == "franchise")
        & ServiceContract.status.is_in(["active", "expiring"])
    )
    return rows[0]["id"] if rows else None


async def insert_franchise_invoice(fields: dict, *, invoiced_by: int, now: datetime) -> FranchiseInvoiceRow:
    """Raises asyncpg's UniqueViolationError when the contract's month is already invoiced."""
    rows = await FranchiseInvoice.insert(
        FranchiseInvoice(
            contract=fields["contract_id"],
            month=fields["month"],
            revenue=fields["revenue"],
            fee_amount=fields["fee_amount"],
            share_amount=fields["share_amount"],
            amount=fields["amount"],
            ledger_entry=fields["ledger_entry_id"],
            invoiced_by=invoiced_by,
            created_at=now,
        )
    ).returning(
        FranchiseInvoice.id,
        FranchiseInvoice.contract.as_alias("contract_id"),
        FranchiseInvoice.month,
        FranchiseInvoice.revenue,
        FranchiseInvoice.fee_amount,
        FranchiseInvoice.share_amount,
        FranchiseInvoice.amount,
        FranchiseInvoice.ledger_entry.as_alias("ledger_entry_id"),
        FranchiseInvoice.created_at,
    )
    return msgspec.convert(rows[0], FranchiseInvoiceRow)


# State-owned platforms -------------------------------------------------------------------------

PLATFORM_COLUMNS = """
    p.id, p.org AS org_id, o.name AS org_name, o.path AS org_path, p.level, p.district AS district_id,
    d.name AS district_name, p.reason, p.designated_at
"""
PLATFORM_FROM = """
    market_platform p
    JOIN organisation o ON o.id = p.org
    LEFT JOIN organisation d ON d.id = p.district
"""


async def insert_platform(fields: dict, *, designated_by: int, now: datetime) -> int:
    """Raises asyncpg's UniqueViolationError when the organisation is already a platform."""
    rows = await Platform.insert(
        Platform(
            org=fields["org_id"],
            level=fields["level"],
            district=fields.get("district_id"),
            reason=fields["reason"],
            designated_by=designated_by,
            designated_at=now,
        )
    ).returning(Platform.id)
    return rows[0]["id"]


async def get_platform(platform_id: int) -> PlatformRow | None:
    # SQL: the platform joins its organisation and district.
    rows = await Platform.raw(f"SELECT {PLATFORM_COLUMNS} FROM {PLATFORM_FROM} WHERE p.id = {{}}", platform_id)
    return _one(rows, PlatformRow)


async def list_platforms(org_ids: list[int] | None, limit: int, offset: int) -> tuple[list[PlatformRow], int]:
    """Every platform, or those of `org_ids`."""
    # SQL: joins and the window total.
    rows = await Platform.raw(
        f"""
        SELECT {PLATFORM_COLUMNS}, count(*) OVER () AS total FROM {PLATFORM_FROM}
        WHERE {{}}::int[] IS NULL OR p.org = ANY({{}}::int[])
        ORDER BY p.id LIMIT {{}} OFFSET {{}}
        """,
        org_ids,
        org_ids,
        limit,
        offset,
    )
    return _counted(rows, PlatformRow)


async def insert_assignment(fields: dict, *, assigned_by: int, now: datetime) -> int:
    """Raises asyncpg's ExclusionViolationError when the community is under a platform in the period."""
    rows = await PlatformAssignment.insert(
        PlatformAssignment(
            platform=fields["platform_id"],
            community=fields["community_id"],
            starts_on=fields["starts_on"],
            ends_on=None,
            reason=fields["reason"],
            assigned_by=assigned_by,
            created_at=now,
        )
    ).returning(PlatformAssignment.id)
    return rows[0]["id"]


ASSIGNMENT_QUERY = """
    SELECT a.id, a.platform AS platform_id, a.community AS community_id, c.name AS community_name,
           c.community_type, d.name AS district_name, s.name AS street_name, a.starts_on, a.ends_on, a.reason
    FROM market_platform_assignment a
    JOIN market_community c ON c.id = a.community
    JOIN organisation d ON d.id = c.district
    JOIN organisation s ON s.id = c.street
"""


async def assignments_of(platform_id: int) -> list[AssignmentRow]:
    # SQL: assignments join their community's names.
    rows = await PlatformAssignment.raw(f"{ASSIGNMENT_QUERY} WHERE a.platform = {{}} ORDER BY a.id", platform_id)
    return _all(rows, AssignmentRow)


async def get_assignment(assignment_id: int) -> AssignmentRow | None:
    # SQL: the assignment joins its community's names.
    rows = await PlatformAssignment.raw(f"{ASSIGNMENT_QUERY} WHERE a.id = {{}}", assignment_id)
    return _one(rows, AssignmentRow)


async def platform_of_community(community_id: int, on: date) -> int | None:
    rows = await PlatformAssignment.select(PlatformAssignment.platform).where(
        (PlatformAssignment.community == community_id)
        & (PlatformAssignment.starts_on <= on)
        & ((PlatformAssignment.ends_on.is_null()) | (PlatformAssignment.ends_on > on))
    )
    return rows[0]["platform"] if rows else None


async def platform_run_communities(on: date) -> set[int]:
    """The communities a platform runs on `on`."""
    rows = await PlatformAssignment.select(PlatformAssignment.community).where(
        (PlatformAssignment.starts_on <= on)
        & ((PlatformAssignment.ends_on.is_null()) | (PlatformAssignment.ends_on > on))
    )
    return {r["community"] for r in rows}


MASTER_RETURNING = (
    PlatformContract.id,
    PlatformContract.platform.as_alias("platform_id"),
    PlatformContract.starts_on,
    PlatformContract.ends_on,
    PlatformContract.annual_fee,
    PlatformContract.terms,
    PlatformContract.status,
    PlatformContract.signed_at,
)


async def insert_master_contract(fields: dict, *, signed_by: int, now: datetime) -> MasterContractRow:
    """Raises asyncpg's UniqueViolationError when the platform already has a master contract in force."""
    rows = await PlatformContract.insert(
        PlatformContract(
            platform=fields["platform_id"],
            starts_on=fields["starts_on"],
            ends_on=fields["ends_on"],
            annual_fee=fields["annual_fee"],
            terms=fields["terms"],
            status="active",
            signed_by=signed_by,
            signed_at=now,
        )
    ).returning(*MASTER_RETURNING)
    return msgspec.convert(rows[0], MasterContractRow)


async def get_master_contract(contract_id: int) -> MasterContractRow | None:
    rows = await PlatformContract.select(*MASTER_RETURNING).where(PlatformContract.id == contract_id)
    return _one(rows, MasterContractRow)


async def master_contract_of(platform_id: int) -> MasterContractRow | None:
    rows = await PlatformContract.select(*MASTER_RETURNING).where(
        (PlatformContract.platform == platform_id) & (PlatformContract.status == "active")
    )
    return _one(rows, MasterContractRow)


async def sub_contract_count(master_contract_id: int) -> int:
    return await ServiceContract.count().where(ServiceContract.master_contract == master_contract_id)


async def community_totals(community_ids: list[int], start: date, end: date) -> dict[int, tuple[int, int]]:
    """(income, cost) of each community over [start, end)."""
    # SQL: a grouped sum over the ledger.
    rows = await LedgerEntry.raw(
        """
        SELECT community,
               coalesce(sum(amount) FILTER (WHERE direction = 'income'), 0)::bigint AS income,
               coalesce(sum(amount) FILTER (WHERE direction = 'cost'), 0)::bigint AS cost
        FROM market_ledger_entry
        WHERE community = ANY({}::int[]) AND month >= {} AND month < {}
        GROUP BY community
        """,
        community_ids,
        start,
        end,
    )
    return {r["community"]: (r["income"], r["cost"]) for r in rows}


# Consortium contracts --------------------------------------------------------------------------


async def insert_contract_lines(contract_id: int, lines: list[dict]) -> None:
    await ContractLine.insert(
        *(
            ContractLine(
                contract=contract_id,
                operator=line["operator_id"],
                category=line["category"],
                fee_share=line["fee_share"],
            )
            for line in lines
        )
    )


async def contract_lines(contract_id: int) -> list[ContractLineRow]:
    # SQL: lines join their operators' names.
    rows = await ContractLine.raw(
        "SELECT l.id, l.operator AS operator_id, o.name AS operator_name, l.category, l.fee_share "
        "FROM market_contract_line l JOIN provider_operator o ON o.id = l.operator WHERE l.contract = {} ORDER BY l.id",
        contract_id,
    )
    return _all(rows, ContractLineRow)


async def alliance_communities(alliance_id: int, today: date) -> list[dict]:
    """Communities served by the alliance's consortium contracts in force today."""
    # SQL: contracts join their communities and org paths.
    return await ServiceContract.raw(
        """
        SELECT DISTINCT ON (c.id) c.id AS community_id, c.name AS community_name, org.path AS org_path,
               k.id AS contract_id
        FROM market_contract k JOIN market_community c ON c.id = k.community JOIN organisation org ON org.id = c.org
        WHERE k.alliance = {} AND k.status IN ('active', 'expiring') AND k.starts_on <= {} AND k.ends_on > {}
        ORDER BY c.id, k.id
        """,
        alliance_id,
        today,
        today,
    )
