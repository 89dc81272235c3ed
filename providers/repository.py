"""Every query of the registry. Functions take and return plain values; callers hold transactions."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import msgspec
from asyncpg import Pool
from piccolo.engine import PostgresEngine, engine_finder

from core.accounts.principal import like_patterns
from core.pagination import split_total
from providers.schemas import (
    AllianceMemberRow,
    AllianceRow,
    ApplicationEventView,
    ApplicationRow,
    AutoStatusChange,
    BatchEntryRow,
    BatchRow,
    CategoryView,
    CertificateView,
    EvaluationView,
    ListingView,
    NewProposal,
    ObjectionRow,
    OperatorRow,
    ProposalView,
    RecentEvaluation,
)
from providers.tables import (
    Alliance,
    AllianceMember,
    Application,
    ApplicationCategory,
    ApplicationEvent,
    Batch,
    BatchEntry,
    Category,
    Certificate,
    Evaluation,
    Listing,
    Objection,
    Operator,
    StatusDecision,
    StatusProposal,
)

# Categories ------------------------------------------------------------------------------------


async def list_categories(active_only: bool = True) -> list[CategoryView]:
    query = Category.select(Category.code, Category.name, Category.active).order_by(Category.sort_order, Category.id)
    if active_only:
        query = query.where(Category.active.eq(True))
    return msgspec.convert(await query, list[CategoryView])


async def unknown_categories(codes: list[str]) -> list[str]:
    rows = await Category.raw(
        "SELECT c.code FROM unnest({}::text[]) AS c(code) "
        "WHERE NOT EXISTS (SELECT 1 FROM provider_category p WHERE p.code = c.code AND p.active)",
        codes,
    )
    return [r["code"] for r in rows]


async def insert_category(code: str, name: str) -> CategoryView | None:
    # The next sort order is a subquery, which the insert builder cannot express.
    rows = await Category.raw(
        "INSERT INTO provider_category (code, name, sort_order, active) "
        "VALUES ({}, {}, (SELECT coalesce(max(sort_order), 0) + 10 FROM provider_category), true) "
        "ON CONFLICT DO NOTHING RETURNING code, name, active",
        code,
        name,
    )
    return CategoryView(**rows[0]) if rows else None


# Operators -------------------------------------------------------------------------------------

OPERATOR_COLUMNS = """
    o.id, o.org AS org_id, org.path AS org_path, o.name, o.credit_code, o.legal_representative,
    o.contact_name, o.contact_phone, o.contact_email, o.founded_on, o.staff_count, o.capacity,
    o.description, o.categories, o.district_ids, o.registry_status
"""


async def credit_code_exists(code: str) -> bool:
    return await Operator.exists().where(Operator.credit_code == code)


async def unknown_districts(district_ids: list[int]) -> list[int]:
    rows = await Operator.raw(
        "SELECT d.id FROM unnest({}::int[]) AS d(id) "
        "WHERE NOT EXISTS (SELECT 1 FROM organisation o WHERE o.id = d.id AND o.kind = 'district')",
        district_ids,
    )
    return [r["id"] for r in rows]


OPERATOR_PROFILE_FIELDS = (
    "name",
    "credit_code",
    "legal_representative",
    "contact_name",
    "contact_phone",
    "contact_email",
    "founded_on",
    "staff_count",
    "capacity",
    "description",
    "categories",
    "district_ids",
)


async def insert_operator(*, org_id: int, fields: dict, now: datetime) -> int:
    profile = {name: fields[name] for name in OPERATOR_PROFILE_FIELDS}
    operator = Operator(org=org_id, registry_status="unlisted", created_at=now, updated_at=now, **profile)
    rows = await Operator.insert(operator).returning(Operator.id)
    return rows[0]["id"]


# Operator rows join the organisation for the path scope checks read.
async def get_operator(operator_id: int, *, for_update: bool = False) -> OperatorRow | None:
    rows = await Operator.raw(
        f"SELECT {OPERATOR_COLUMNS} FROM provider_operator o JOIN organisation org ON org.id = o.org "
        f"WHERE o.id = {{}} {'FOR UPDATE OF o' if for_update else ''}",
        operator_id,
    )
    return msgspec.convert(rows[0], OperatorRow) if rows else None


async def operator_for_org(org_id: int) -> OperatorRow | None:
    rows = await Operator.raw(
        f"SELECT {OPERATOR_COLUMNS} FROM provider_operator o JOIN organisation org ON org.id = o.org WHERE o.org = {{}}",
        org_id,
    )
    return msgspec.convert(rows[0], OperatorRow) if rows else None


async def list_operators(
    *, scope_paths: list[str], q: str | None, status: str | None, limit: int, offset: int
) -> tuple[list[OperatorRow], int]:
    rows = await Operator.raw(
        f"""
        SELECT {OPERATOR_COLUMNS}, count(*) OVER () AS total
        FROM provider_operator o JOIN organisation org ON org.id = o.org
        WHERE org.path LIKE ANY({{}})
          AND ({{}}::text IS NULL OR o.name ILIKE '%' || {{}} || '%' OR o.credit_code = upper({{}}))
          AND ({{}}::text IS NULL OR o.registry_status = {{}})
        ORDER BY o.id LIMIT {{}} OFFSET {{}}
        """,
        like_patterns(scope_paths),
        q,
        q,
        q,
        status,
        status,
        limit,
        offset,
    )
    rows, total = split_total(rows)
    return msgspec.convert(rows, list[OperatorRow]), total


# The credit code names the company: it is fixed once registered.
UPDATABLE_OPERATOR_FIELDS = frozenset(OPERATOR_PROFILE_FIELDS) - {"credit_code"}


async def update_operator(operator_id: int, changes: dict, now: datetime) -> None:
    values = {getattr(Operator, k): v for k, v in changes.items() if k in UPDATABLE_OPERATOR_FIELDS}
    values[Operator.updated_at] = now
    await Operator.update(values).where(Operator.id == operator_id)


async def set_registry_status(operator_id: int, status: str, now: datetime) -> None:
    await Operator.update({Operator.registry_status: status, Operator.updated_at: now}).where(
        Operator.id == operator_id
    )


CERTIFICATE_COLUMNS = (
    Certificate.id,
    Certificate.name,
    Certificate.number,
    Certificate.issued_by,
    Certificate.valid_until,
)


async def insert_certificate(operator_id: int, fields: dict) -> CertificateView:
    certificate = Certificate(
        operator=operator_id,
        name=fields["name"],
        number=fields["number"],
        issued_by=fields["issued_by"],
        valid_until=fields["valid_until"],
    )
    rows = await Certificate.insert(certificate).returning(*CERTIFICATE_COLUMNS)
    return msgspec.convert(rows[0], CertificateView)


async def certificates_for(operator_id: int) -> list[CertificateView]:
    rows = (
        await Certificate.select(*CERTIFICATE_COLUMNS)
        .where(Certificate.operator == operator_id)
        .order_by(Certificate.id)
    )
    return msgspec.convert(rows, list[CertificateView])


# Applications ----------------------------------------------------------------------------------

APPLICATION_COLUMNS = """
    a.id, a.operator AS operator_id, o.name AS operator_name, org.path AS operator_org_path,
    o.contact_email AS operator_email, a.channel, a.recommender_org AS recommender_org_id,
    rec.name AS recommender_org_name, rec.path AS recommender_org_path, a.created_by AS created_by_id,
    a.categories, a.statement, a.attachments, a.state, a.renewal_of, a.submitted_at, a.decided_at,
    a.decision_reason, a.created_at
"""
APPLICATION_FROM = """
    provider_application a
    JOIN provider_operator o ON o.id = a.operator
    JOIN organisation org ON org.id = o.org
    LEFT JOIN organisation rec ON rec.id = a.recommender_org
"""


def _application(row: dict) -> ApplicationRow:
    if isinstance(row.get("attachments"), str):
        row = {**row, "attachments": json.loads(row["attachments"])}
    return msgspec.convert(row, ApplicationRow)


async def insert_application(
    *,
    operator_id: int,
    channel: str,
    recommender_org_id: int | None,
    created_by: int,
    categories: list[str],
    statement: str,
    attachments: list,
    renewal_of: int | None,
    now: datetime,
) -> int:
    application = Application(
        operator=operator_id,
        channel=channel,
        recommender_org=recommender_org_id,
        created_by=created_by,
        categories=categories,
        statement=statement,
        attachments=msgspec.json.encode(attachments).decode(),
        state="draft",
        renewal_of=renewal_of,
        decision_reason="",
        created_at=now,
        updated_at=now,
    )
    rows = await Application.insert(application).returning(Application.id)
    return rows[0]["id"]


async def replace_application_categories(application_id: int, operator_id: int, categories: list[str]) -> None:
    """Rewrite the open category claims; the partial unique index refuses a second open claim."""
    await ApplicationCategory.delete().where(ApplicationCategory.application == application_id)
    claims = [
        ApplicationCategory(application=application_id, operator=operator_id, category=c, is_open=True)
        for c in categories
    ]
    if claims:
        await ApplicationCategory.insert(*claims)


async def close_application_categories(*application_ids: int) -> None:
    if application_ids:
        await ApplicationCategory.update({ApplicationCategory.is_open: False}).where(
            ApplicationCategory.application.is_in(list(application_ids))
        )


async def get_application(application_id: int, *, for_update: bool = False) -> ApplicationRow | None:
    rows = await Application.raw(
        f"SELECT {APPLICATION_COLUMNS} FROM {APPLICATION_FROM} WHERE a.id = {{}} "
        f"{'FOR UPDATE OF a' if for_update else ''}",
        application_id,
    )
    return _application(rows[0]) if rows else None


async def update_application_content(application_id: int, changes: dict, now: datetime) -> None:
    values = {
        getattr(Application, k): changes[k]
        for k in ("categories", "statement", "attachments")
        if changes.get(k) is not None
    }
    if changes.get("attachments") is not None:
        values[Application.attachments] = msgspec.json.encode(changes["attachments"]).decode()
    await Application.update({**values, Application.updated_at: now}).where(Application.id == application_id)


async def set_application_state(
    application_id: int,
    state: str,
    *,
    now: datetime,
    decided_by: int | None = None,
    reason: str | None = None,
    submitted: bool = False,
) -> None:
    values: dict = {Application.state: state, Application.updated_at: now}
    if submitted:
        values[Application.submitted_at] = now
    if decided_by is not None:
        values[Application.decided_at] = now
        values[Application.decided_by] = decided_by
    if reason is not None:
        values[Application.decision_reason] = reason
    await Application.update(values).where(Application.id == application_id)


async def insert_event(
    *,
    application_id: int,
    from_state: str | None,
    to_state: str,
    actor_id: int | None,
    actor_name: str,
    reason: str,
    now: datetime,
) -> None:
    event = ApplicationEvent(
        application=application_id,
        from_state=from_state,
        to_state=to_state,
        actor=actor_id,
        actor_name=actor_name,
        reason=reason,
        at=now,
    )
    await ApplicationEvent.insert(event)


async def events_for(application_ids: list[int]) -> dict[int, list[ApplicationEventView]]:
    rows = (
        await ApplicationEvent.select(
            ApplicationEvent.application.as_alias("application_id"),
            ApplicationEvent.from_state,
            ApplicationEvent.to_state,
            ApplicationEvent.actor_name,
            ApplicationEvent.reason,
            ApplicationEvent.at,
        )
        .where(ApplicationEvent.application.is_in(application_ids))
        .order_by(ApplicationEvent.id)
    )
    grouped: dict[int, list[ApplicationEventView]] = {i: [] for i in application_ids}
    for row in rows:
        grouped[row["application_id"]].append(msgspec.convert(row, ApplicationEventView))
    return grouped


async def list_applications(
    *, scope_paths: list[str], state: str | None, operator_id: int | None, limit: int, offset: int
) -> tuple[list[ApplicationRow], int]:
    """Applications of operators in scope, or recommended by an org in scope."""
    patterns = like_patterns(scope_paths)
    rows = await Application.raw(
        f"""
        SELECT {APPLICATION_COLUMNS}, count(*) OVER () AS total
        FROM {APPLICATION_FROM}
        WHERE (org.path LIKE ANY({{}}) OR rec.path LIKE ANY({{}}))
          AND ({{}}::text IS NULL OR a.state = {{}})
          AND ({{}}::int IS NULL OR a.operator = {{}})
        ORDER BY a.id DESC LIMIT {{}} OFFSET {{}}
        """,
        patterns,
        patterns,
        state,
        state,
        operator_id,
        operator_id,
        limit,
        offset,
    )
    rows, total = split_total(rows)
    return [_application(r) for r in rows], total


# Batches ---------------------------------------------------------------------------------------


async def insert_batch(title: str, created_by: int, now: datetime) -> int | None:
    batch = Batch(title=title, state="draft", created_by=created_by, created_at=now)
    rows = await Batch.insert(batch).on_conflict(target=Batch.title)  # a taken title gives no row.returning(Batch.id)
    return rows[0]["id"] if rows else None


BATCH_COLUMNS = (
    "b.id, b.title, b.state, b.notice_start, b.objection_deadline, b.published_on, b.number_year, b.number_seq"
)


async def get_batch(batch_id: int, *, for_update: bool = False) -> BatchRow | None:
    # FOR UPDATE, which the select builder cannot say.
    rows = await Batch.raw(
        f"SELECT {BATCH_COLUMNS} FROM provider_batch b WHERE b.id = {{}} {'FOR UPDATE' if for_update else ''}",
        batch_id,
    )
    return msgspec.convert(rows[0], BatchRow) if rows else None


async def list_batches(
    *, published_only: bool, limit: int, offset: int, with_drafts: bool = True
) -> tuple[list[BatchRow], int]:
    rows = await Batch.raw(
        f"SELECT {BATCH_COLUMNS}, count(*) OVER () AS total FROM provider_batch b "
        "WHERE (NOT {} OR b.state = 'published') AND ({} OR b.state <> 'draft') "
        "ORDER BY coalesce(b.published_on, b.notice_start, b.created_at::date) DESC, b.id DESC LIMIT {} OFFSET {}",
        published_only,
        with_drafts,
        limit,
        offset,
    )
    rows, total = split_total(rows)
    return msgspec.convert(rows, list[BatchRow]), total


async def entries_for(batch_ids: list[int], *, included_only: bool = False) -> dict[int, list[BatchEntryRow]]:
    rows = await Batch.raw(
        """
        SELECT e.batch AS batch_id, e.id AS entry_id, e.status, a.id AS application_id, a.categories, a.channel,
               o.id AS operator_id, o.name AS operator_name, o.credit_code, o.contact_email AS operator_email,
               r.name AS recommender_org_name
        FROM provider_batch_entry e
        JOIN provider_application a ON a.id = e.application
        JOIN provider_operator o ON o.id = a.operator
        LEFT JOIN organisation r ON r.id = a.recommender_org
        WHERE e.batch = ANY({}) AND (NOT {} OR e.status = 'included')
        ORDER BY e.id
        """,
        batch_ids,
        included_only,
    )
    grouped: dict[int, list[BatchEntryRow]] = {i: [] for i in batch_ids}
    for row in rows:
        grouped[row["batch_id"]].append(msgspec.convert(row, BatchEntryRow))
    return grouped


async def insert_entries(batch_id: int, application_ids: list[int]) -> None:
    # One statement for the whole list, from an unnested array.
    await Batch.raw(
        "INSERT INTO provider_batch_entry (batch, application, status) "
        "SELECT {}, a, 'included' FROM unnest({}::int[]) AS a",
        batch_id,
        application_ids,
    )


async def batchable_applications(application_ids: list[int]) -> list[int]:
    """Of these ids, the approved applications not yet in any batch (locked against a parallel batch)."""
    rows = await Application.raw(
        """
        SELECT a.id FROM provider_application a
        WHERE a.id = ANY({}) AND a.state = 'approved'
          AND NOT EXISTS (SELECT 1 FROM provider_batch_entry e WHERE e.application = a.id)
        FOR UPDATE
        """,
        application_ids,
    )
    return [r["id"] for r in rows]


async def open_notice(batch_id: int, start: date, deadline: date) -> None:
    await Batch.update({Batch.state: "notice", Batch.notice_start: start, Batch.objection_deadline: deadline}).where(
        Batch.id == batch_id
    )


async def mark_published(batch_id: int, on: date, by: int) -> int:
    """Publish and number the batch in one statement; returns its number within the year of `on`.

    The counter row of that year stays locked until the publishing transaction ends, so two batches published
    at once get consecutive numbers and a rolled-back publication gives its number back."""
    # An upsert feeding an update: one statement the query builder cannot write.
    rows = await Batch.raw(
        """
        WITH next AS (
            INSERT INTO provider_batch_counter AS c (year, last_seq) VALUES ({}, 1)
            ON CONFLICT (year) DO UPDATE SET last_seq = c.last_seq + 1
            RETURNING year, last_seq
        )
        UPDATE provider_batch SET state = 'published', published_on = {}, published_by = {},
               number_year = next.year, number_seq = next.last_seq
        FROM next WHERE provider_batch.id = {}
        RETURNING provider_batch.number_seq
        """,
        on.year,
        on,
        by,
        batch_id,
    )
    return rows[0]["number_seq"]


async def entry_for(batch_id: int, application_id: int) -> BatchEntry | None:
    return (
        await BatchEntry.objects()
        .where((BatchEntry.batch == batch_id) & (BatchEntry.application == application_id))
        .first()
    )


async def withdraw_entry(entry_id: int) -> None:
    await BatchEntry.update({BatchEntry.status: "withdrawn"}).where(BatchEntry.id == entry_id)


# Objections ------------------------------------------------------------------------------------


async def insert_objection(
    entry: BatchEntry,
    text: str,
    now: datetime,
    *,
    filed_by: int | None = None,
    name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> ObjectionRow:
    objection = Objection(
        entry=entry.id,
        filed_by=filed_by,
        objector_name=name,
        objector_phone=phone,
        objector_email=email,
        text=text,
        state="open",
        decision_reason="",
        created_at=now,
    )
    rows = await Objection.insert(objection).returning(
        Objection.id,
        Objection.text,
        Objection.state,
        Objection.decision_reason,
        Objection.created_at,
        Objection.objector_name,
        Objection.objector_phone,
        Objection.objector_email,
        Objection.filed_by.as_alias("filed_by_id"),
    )
    return msgspec.convert(
        {**rows[0], "batch_id": entry.batch, "entry_id": entry.id, "application_id": entry.application}, ObjectionRow
    )


async def count_recent_objections_by_phone(phone: str, since: datetime) -> int:
    """How many objections this phone filed since `since`, counted after waiting for any other filing by the
    same phone to commit (a transaction-scoped advisory lock on the phone), so a burst cannot slip past."""
    await Objection.raw("SELECT pg_advisory_xact_lock(7130017, hashtext({}))", phone)
    return await Objection.count().where((Objection.objector_phone == phone) & (Objection.created_at >= since))


OBJECTION_COLUMNS = """
    x.id, e.batch AS batch_id, e.id AS entry_id, e.application AS application_id, x.text, x.state,
    x.decision_reason, x.created_at, x.filed_by AS filed_by_id, x.objector_name, x.objector_phone,
    x.objector_email, (SELECT b.title FROM provider_batch b WHERE b.id = e.batch) AS batch_title
"""


# Objections join their entry for the batch and application they concern.
async def get_objection(objection_id: int, *, for_update: bool = False) -> ObjectionRow | None:
    rows = await Objection.raw(
        f"SELECT {OBJECTION_COLUMNS} FROM provider_objection x JOIN provider_batch_entry e ON e.id = x.entry "
        f"WHERE x.id = {{}} {'FOR UPDATE OF x' if for_update else ''}",
        objection_id,
    )
    return msgspec.convert(rows[0], ObjectionRow) if rows else None


async def objections_for_batch(batch_id: int) -> list[ObjectionRow]:
    rows = await Objection.raw(
        f"SELECT {OBJECTION_COLUMNS} FROM provider_objection x JOIN provider_batch_entry e ON e.id = x.entry "
        "WHERE e.batch = {} ORDER BY x.id",
        batch_id,
    )
    return msgspec.convert(rows, list[ObjectionRow])


async def decide_objection(objection_id: int, *, state: str, by: int, reason: str, now: datetime) -> None:
    await Objection.update(
        {Objection.state: state, Objection.decided_by: by, Objection.decision_reason: reason, Objection.decided_at: now}
    ).where(Objection.id == objection_id)


async def count_open_objections(batch_id: int) -> int:
    # The batch is on the entry: a join.
    rows = await Objection.raw(
        "SELECT count(*) AS n FROM provider_objection x JOIN provider_batch_entry e ON e.id = x.entry "
        "WHERE e.batch = {} AND x.state = 'open'",
        batch_id,
    )
    return rows[0]["n"]


# Listings --------------------------------------------------------------------------------------


async def insert_listings_for_batch(batch_id: int, valid_from: date, valid_until: date) -> int:
    """Operator × category for every included entry, in one statement (a bulk insert from a join)."""
    rows = await Listing.raw(
        """
        INSERT INTO provider_listing (operator, category, batch, application, valid_from, valid_until)
        SELECT a.operator, c.category, e.batch, a.id, {}, {}
        FROM provider_batch_entry e
        JOIN provider_application a ON a.id = e.application
        CROSS JOIN LATERAL unnest(a.categories) AS c(category)
        WHERE e.batch = {} AND e.status = 'included'
        ON CONFLICT DO NOTHING
        RETURNING operator
        """,
        valid_from,
        valid_until,
        batch_id,
    )
    return len(rows)


async def mark_operators_listed(operator_ids: list[int], now: datetime) -> list[int]:
    """Operators that were not yet listed (or had been removed) become listed; warned/suspended keep theirs."""
    if not operator_ids:
        return []
    rows = (
        await Operator.update({Operator.registry_status: "listed", Operator.updated_at: now})
        .where(Operator.id.is_in(operator_ids) & Operator.registry_status.is_in(["unlisted", "removed"]))
        .returning(Operator.id)
    )
    return [r["id"] for r in rows]


async def listings_for(operator_id: int) -> list[ListingView]:
    # Category names and batch titles: a join.
    rows = await Listing.raw(
        """
        SELECT l.category, c.name AS category_name, l.valid_from, l.valid_until, b.title AS batch_title
        FROM provider_listing l JOIN provider_batch b ON b.id = l.batch
        JOIN provider_category c ON c.code = l.category
        WHERE l.operator = {} ORDER BY l.valid_from DESC, l.category
        """,
        operator_id,
    )
    return msgspec.convert(rows, list[ListingView])


# Evaluations, status decisions, proposals ------------------------------------------------------


EVALUATION_COLUMNS = (
    Evaluation.id,
    Evaluation.operator.as_alias("operator_id"),
    Evaluation.contract_id,
    Evaluation.evaluator_org.as_alias("evaluator_org_id"),
    Evaluation.score,
    Evaluation.satisfaction,
    Evaluation.complaints,
    Evaluation.period_start,
    Evaluation.period_end,
    Evaluation.comment,
    Evaluation.created_at,
    Evaluation.kind,
    Evaluation.reason,
    Evaluation.parts,
)


def _evaluation(row: dict) -> EvaluationView:
    parts = row.get("parts")
    return msgspec.convert(
        {**row, "parts": json.loads(parts) if isinstance(parts, str) else parts or {}}, EvaluationView
    )


async def insert_evaluation(fields: dict, now: datetime) -> EvaluationView:
    evaluation = Evaluation(
        operator=fields["operator_id"],
        contract_id=fields["contract_id"],
        evaluator=fields["evaluator_id"],
        evaluator_org=fields["evaluator_org_id"],
        score=fields["score"],
        satisfaction=fields["satisfaction"],
        complaints=fields["complaints"],
        period_start=fields["period_start"],
        period_end=fields["period_end"],
        comment=fields["comment"],
        reason=fields.get("reason", ""),
        created_at=now,
    )
    rows = await Evaluation.insert(evaluation).returning(*EVALUATION_COLUMNS)
    return _evaluation(rows[0])


async def contract_holder_org(operator_id: int, org_ids: list[int], start: date, end: date) -> int | None:
    """Of `org_ids` (streets, districts), one whose subtree holds a signed contract with the operator in force
    over part of [start, end), or None."""
    if not org_ids:
        return None
    # market_contract by name: the registry sits below the market and cannot import its tables.
    rows = await Evaluation.raw(
        """
        SELECT o.id FROM organisation o
        JOIN market_contract c ON c.operator = {} AND c.status <> 'draft' AND c.starts_on < {}
             AND LEAST(c.ends_on, COALESCE((c.terminated_at AT TIME ZONE 'Asia/Shanghai')::date, c.ends_on)) > {}
        JOIN organisation s ON s.id = c.street AND s.path LIKE o.path || '%'
        WHERE o.id = ANY({}::int[])
        ORDER BY o.id LIMIT 1
        """,
        operator_id,
        end,
        start,
        org_ids,
    )
    return rows[0]["id"] if rows else None


async def evaluations_for(operator_id: int, limit: int, offset: int) -> tuple[list[EvaluationView], int]:
    # count(*) OVER () gives the total with the page in one statement.
    rows = await Evaluation.raw(
        """
        SELECT id, operator AS operator_id, contract_id, evaluator_org AS evaluator_org_id, score, satisfaction,
               complaints, period_start, period_end, comment, created_at, kind, reason, parts,
               count(*) OVER () AS total
        FROM provider_evaluation WHERE operator = {} ORDER BY period_end DESC, id DESC LIMIT {} OFFSET {}
        """,
        operator_id,
        limit,
        offset,
    )
    rows, total = split_total(rows)
    return [_evaluation(r) for r in rows], total


async def latest_evaluations_of_active_operators(window: int) -> list[RecentEvaluation]:
    """The latest `window` evaluations of every listed or warned operator, in one query (a window function)."""
    rows = await Evaluation.raw(
        """
        SELECT operator_id, registry_status, score, satisfaction, complaints, period_end FROM (
            SELECT e.operator AS operator_id, o.registry_status, e.score, e.satisfaction, e.complaints,
                   e.period_end,
                   row_number() OVER (PARTITION BY e.operator ORDER BY e.period_end DESC, e.id DESC) AS n
            FROM provider_evaluation e JOIN provider_operator o ON o.id = e.operator
            WHERE o.registry_status IN ('listed', 'warned')
        ) ranked WHERE n <= {}
        """,
        window,
    )
    return msgspec.convert(rows, list[RecentEvaluation])


async def insert_status_decision(
    *, operator_id: int, from_status: str, to_status: str, reason: str, by: int | None, now: datetime
) -> int:
    decision = StatusDecision(
        operator=operator_id, from_status=from_status, to_status=to_status, reason=reason, decided_by=by, at=now
    )
    rows = await StatusDecision.insert(decision).returning(StatusDecision.id)
    return rows[0]["id"]


async def insert_proposals(proposals: list[tuple[int, str, str, dict]], now: datetime) -> list[NewProposal]:
    """(operator, status, rule, evidence) rows in one statement; one already open is skipped. Returns the new
    ones' ids and operators. A bulk upsert from unnested arrays."""
    if not proposals:
        return []
    rows = await Operator.raw(
        """
        INSERT INTO provider_status_proposal (operator, proposed_status, rule, evidence, state, created_at,
            decision_reason)
        SELECT p.operator, p.status, p.rule, p.evidence::jsonb, 'open', {}, ''
        FROM unnest({}::int[], {}::text[], {}::text[], {}::text[]) AS p(operator, status, rule, evidence)
        ON CONFLICT (operator, proposed_status) WHERE state = 'open' DO NOTHING
        RETURNING id, operator AS operator_id, proposed_status, rule, evidence
        """,
        now,
        [p[0] for p in proposals],
        [p[1] for p in proposals],
        [p[2] for p in proposals],
        [json.dumps(p[3], ensure_ascii=False) for p in proposals],
    )
    return [
        msgspec.convert({**row, "evidence": json.loads(row["evidence"])}, NewProposal)
        if isinstance(row["evidence"], str)
        else msgspec.convert(row, NewProposal)
        for row in rows
    ]


PROPOSAL_COLUMNS = """
    p.id, p.operator AS operator_id, o.name AS operator_name, p.proposed_status, p.rule, p.evidence, p.state,
    p.created_at
"""


def _proposal(row: dict) -> ProposalView:
    if isinstance(row.get("evidence"), str):
        row = {**row, "evidence": json.loads(row["evidence"])}
    return msgspec.convert(row, ProposalView)


# Proposals join the operator for its name.
async def get_proposal(proposal_id: int, *, for_update: bool = False) -> ProposalView | None:
    rows = await Operator.raw(
        f"SELECT {PROPOSAL_COLUMNS} FROM provider_status_proposal p JOIN provider_operator o ON o.id = p.operator "
        f"WHERE p.id = {{}} {'FOR UPDATE OF p' if for_update else ''}",
        proposal_id,
    )
    return _proposal(rows[0]) if rows else None


async def list_proposals(state: str | None, limit: int, offset: int) -> tuple[list[ProposalView], int]:
    rows = await Operator.raw(
        f"SELECT {PROPOSAL_COLUMNS}, count(*) OVER () AS total FROM provider_status_proposal p "
        "JOIN provider_operator o ON o.id = p.operator WHERE ({}::text IS NULL OR p.state = {}) "
        "ORDER BY p.id DESC LIMIT {} OFFSET {}",
        state,
        state,
        limit,
        offset,
    )
    rows, total = split_total(rows)
    return [_proposal(r) for r in rows], total


async def decide_proposal(proposal_id: int, *, state: str, by: int, reason: str, now: datetime) -> None:
    await StatusProposal.update(
        {
            StatusProposal.state: state,
            StatusProposal.decided_by: by,
            StatusProposal.decision_reason: reason,
            StatusProposal.decided_at: now,
        }
    ).where(StatusProposal.id == proposal_id)


# Public directory ------------------------------------------------------------------------------

DIRECTORY_SORTS = {
    "name": ("name", "ASC"),
    "-name": ("name", "DESC"),
    "listed_since": ("listed_since", "ASC"),
    "-listed_since": ("listed_since", "DESC"),
    "capacity": ("capacity", "ASC"),
    "-capacity": ("capacity", "DESC"),
}

VALID_LISTING = "l.operator = o.id AND l.valid_from <= $1 AND l.valid_until > $1"


def _pool() -> Pool:
    """The engine's connection pool, for the directory statements that talk to asyncpg directly."""
    engine = engine_finder()
    assert isinstance(engine, PostgresEngine) and engine.pool is not None
    return engine.pool


def directory_query(
    *,
    today: date,
    category: str | None,
    district_id: int | None,
    status: str | None,
    q: str | None,
    sort: str,
    limit: int | None,
    offset: int = 0,
    as_json: bool = True,
) -> tuple[str, list]:
    """The public directory: operators listed or warned with at least one listing valid today.

    The statement holds only the filters that are used, so each combination gets a plan of its own
    (a catch-all `$n IS NULL OR …` lets PostgreSQL settle on a generic plan that scans every listing
    once per operator). Listing details are computed for the rows of the page only.
    """
    args: list = [today]

    def param(value) -> str:
        args.append(value)
        return f"${len(args)}"

    listing_filter = VALID_LISTING + (f" AND l.category = {param(category)}" if category else "")
    where = [
        "o.registry_status IN ('listed', 'warned')",
        f"EXISTS (SELECT 1 FROM provider_listing l WHERE {listing_filter})",
    ]
    if district_id is not None:
        where.append(f"{param(district_id)} = ANY(o.district_ids)")
    if status:
        where.append(f"o.registry_status = {param(status)}")
    if q:
        where.append(f"o.name ILIKE '%' || {param(q)} || '%'")
    column, direction = DIRECTORY_SORTS[sort]
    listed_since = (
        f"(SELECT min(l.valid_from) FROM provider_listing l WHERE {VALID_LISTING})"
        if column == "listed_since"
        else "NULL::date"
    )
    matched = f"""
        SELECT o.id, o.name, o.credit_code, o.registry_status, o.capacity, o.district_ids,
               {listed_since} AS listed_since
        FROM provider_operator o WHERE {" AND ".join(where)}
    """
    page = f"""
        SELECT m.id, m.name, m.credit_code, m.registry_status, m.capacity, m.district_ids, d.categories,
               d.listed_since, d.valid_until
        FROM (SELECT * FROM matched ORDER BY {column} {direction}, id
              {f"LIMIT {param(limit)} OFFSET {param(offset)}" if limit is not None else ""}) m
        CROSS JOIN LATERAL (
            SELECT array_agg(DISTINCT l.category ORDER BY l.category) AS categories,
                   min(l.valid_from) AS listed_since, max(l.valid_until) AS valid_until
            FROM provider_listing l WHERE l.operator = m.id AND l.valid_from <= $1 AND l.valid_until > $1
        ) d
        ORDER BY {"d" if column == "listed_since" else "m"}.{column} {direction}, m.id
    """
    if not as_json:
        return f"WITH matched AS ({matched}) {page}", args
    sql = f"""
        WITH matched AS ({matched}), page AS ({page})
        SELECT json_build_object(
            'items', coalesce((SELECT json_agg(page) FROM page), '[]'::json),
            'total', (SELECT count(*) FROM matched),
            'limit', {param(limit)}::int, 'offset', {param(offset)}::int)::text
    """
    return sql, args


async def directory_page_json(**filters) -> bytes:
    """The public directory page as JSON built by PostgreSQL: one statement, no per-row Python work."""
    sql, args = directory_query(**filters)
    async with _pool().acquire() as connection:
        return (await connection.fetchval(sql, *args)).encode()


async def directory_rows(*, max_rows: int, **filters) -> list[dict]:
    sql, args = directory_query(**filters, limit=max_rows, as_json=False)
    async with _pool().acquire() as connection:
        return [dict(r) for r in await connection.fetch(sql, *args)]


async def category_names() -> dict[str, str]:
    rows = await Category.select(Category.code, Category.name)
    return {r["code"]: r["name"] for r in rows}


# Registry changes and renewals for the monthly report ------------------------------------------

# A later listing of the same operator and category that continues this one: it was renewed.
_CONTINUED = """
    EXISTS (SELECT 1 FROM provider_listing n WHERE n.operator = l.operator AND n.category = l.category
            AND n.id <> l.id AND n.valid_from <= l.valid_until AND n.valid_until > l.valid_until)
"""
_LISTING_FROM = """
    provider_listing l
    JOIN provider_operator o ON o.id = l.operator
    JOIN organisation op ON op.id = o.org
    JOIN provider_category cat ON cat.code = l.category
    JOIN provider_batch b ON b.id = l.batch
    JOIN provider_application a ON a.id = l.application
    LEFT JOIN organisation rec ON rec.id = a.recommender_org
"""
_LISTING_COLUMNS = """
    l.id, l.operator AS operator_id, o.name AS operator_name, o.registry_status, l.category,
    cat.name AS category_name, b.title AS batch_title, l.valid_from, l.valid_until, o.contact_email,
    op.path AS operator_path, rec.path AS recommender_path,
    (SELECT city.path FROM organisation city WHERE city.kind = 'city' ORDER BY city.id LIMIT 1) AS community_path
"""


async def listings_ending(after: date, until: date) -> list[dict]:
    """Listings of operators in good standing ending in (after, until] and not continued by a later batch."""
    return await Listing.raw(
        f"""
        SELECT {_LISTING_COLUMNS} FROM {_LISTING_FROM}
        WHERE l.valid_until > {{}} AND l.valid_until <= {{}} AND o.registry_status IN ('listed', 'warned')
          AND NOT {_CONTINUED}
        ORDER BY l.valid_until, o.name, l.category
        """,
        after,
        until,
    )


async def status_decisions_between(start: datetime, end: datetime) -> list[dict]:
    """Registry status decisions taken in [start, end)."""
    return await Operator.raw(
        "SELECT d.id, d.operator AS operator_id, o.name AS operator_name, d.from_status, d.to_status, d.reason, d.at "
        "FROM provider_status_decision d JOIN provider_operator o ON o.id = d.operator "
        "WHERE d.at >= {} AND d.at < {} ORDER BY d.at, d.id",
        start,
        end,
    )


async def listings_changed_between(start: date, end: date) -> list[dict]:
    """Listings that began in [start, end) ('published'), and those that lapsed then without being continued
    ('expired'): one statement."""
    return await Listing.raw(
        f"""
        SELECT 'published' AS change, l.valid_from AS on_date, {_LISTING_COLUMNS} FROM {_LISTING_FROM}
        WHERE l.valid_from >= {{}} AND l.valid_from < {{}}
        UNION ALL
        SELECT 'expired' AS change, l.valid_until AS on_date, {_LISTING_COLUMNS} FROM {_LISTING_FROM}
        WHERE l.valid_until >= {{}} AND l.valid_until < {{}} AND NOT {_CONTINUED}
        ORDER BY on_date, operator_name, category, change
        """,
        start,
        end,
        start,
        end,
    )


# Expiry and re-qualification -------------------------------------------------------------------

# One statement each: lock the operators, change their status and write the decision beside it, so a
# status never changes without its record.
_STATUS_CHANGE = """
    WITH chosen AS ({chosen} FOR UPDATE OF o),
    changed AS (
        UPDATE provider_operator o SET registry_status = {{}}, updated_at = {{}} FROM chosen
        WHERE o.id = chosen.id
        RETURNING o.id, chosen.from_status, o.registry_status AS to_status, o.name, o.contact_email
    ),
    decided AS (
        INSERT INTO provider_status_decision (operator, from_status, to_status, reason, decided_by, at)
        SELECT id, from_status, to_status, {{}}, {{}}::int, {{}} FROM changed
    )
    SELECT id AS operator_id, from_status, to_status, name, contact_email FROM changed ORDER BY id
"""


async def expire_lapsed_operators(today: date, reason: str, now: datetime) -> list[AutoStatusChange]:
    """Listed or warned operators whose every listing has passed its valid_until become 'expired'."""
    chosen = """
        SELECT o.id, o.registry_status AS from_status FROM provider_operator o
        WHERE o.registry_status IN ('listed', 'warned')
          AND EXISTS (SELECT 1 FROM provider_listing l WHERE l.operator = o.id)
          AND NOT EXISTS (SELECT 1 FROM provider_listing l WHERE l.operator = o.id AND l.valid_until > {})
    """
    rows = await Operator.raw(_STATUS_CHANGE.format(chosen=chosen), today, "expired", now, reason, None, now)
    return msgspec.convert(rows, list[AutoStatusChange])


async def resolve_listing_renewal_flags(operator_ids: list[int], resolution: str, now: datetime) -> int:
    """Open renewal flags of these operators' listings that a later listing now continues are resolved."""
    if not operator_ids:
        return 0
    # scheduler_flag by name: the scheduler keeps the flags but sits above the registry, which cannot import
    # it, and the flag should go the moment the renewal is published rather than on the next night.
    rows = await Listing.raw(
        f"""
        UPDATE scheduler_flag f SET resolved_at = {{}}, resolution = {{}}
        FROM provider_listing l
        WHERE f.kind = 'listing_renewal' AND f.subject_type = 'listing' AND f.subject_id = l.id
          AND f.resolved_at IS NULL AND l.operator = ANY({{}}::int[]) AND {_CONTINUED}
        RETURNING f.id
        """,
        now,
        resolution,
        operator_ids,
    )
    return len(rows)


async def relist_expired_operators(
    operator_ids: list[int], today: date, reason: str, by: int | None, now: datetime
) -> list[AutoStatusChange]:
    """Of `operator_ids`, the expired ones holding a listing valid today are listed again."""
    if not operator_ids:
        return []
    chosen = """
        SELECT o.id, o.registry_status AS from_status FROM provider_operator o
        WHERE o.id = ANY({}::int[]) AND o.registry_status = 'expired'
          AND EXISTS (SELECT 1 FROM provider_listing l
                      WHERE l.operator = o.id AND l.valid_from <= {} AND l.valid_until > {})
    """
    rows = await Operator.raw(
        _STATUS_CHANGE.format(chosen=chosen), operator_ids, today, today, "listed", now, reason, by, now
    )
    return msgspec.convert(rows, list[AutoStatusChange])


# Computed evaluations --------------------------------------------------------------------------


class ComputedEvaluation(msgspec.Struct, kw_only=True):
    """A contract's quarterly evaluation computed from facts (by the market's quarterly job)."""

    operator_id: int
    contract_id: int
    evaluator_org_id: int
    score: int
    complaints: int
    period_start: date
    period_end: date
    parts: dict
    comment: str
    satisfaction: Decimal | None = None  # percent, from the residents' survey of the period when one closed


async def insert_computed_evaluations(rows: list[ComputedEvaluation], now: datetime) -> list[EvaluationView]:
    """One statement; a contract's quarter evaluated before is skipped (the partial unique index)."""
    if not rows:
        return []
    # Raw for a bulk insert from unnested arrays that skips conflicts.
    inserted = await Evaluation.raw(
        """
        INSERT INTO provider_evaluation (operator, contract_id, evaluator, evaluator_org, kind, score, satisfaction,
            complaints, period_start, period_end, comment, reason, parts, created_at)
        SELECT r.operator, r.contract_id, NULL, r.org, 'computed', r.score, r.satisfaction, r.complaints,
               r.period_start, r.period_end, r.comment, '', r.parts::jsonb, {}
        FROM unnest({}::int[], {}::int[], {}::int[], {}::int[], {}::int[], {}::date[], {}::date[], {}::text[],
                    {}::text[], {}::numeric[])
             AS r(operator, contract_id, org, score, complaints, period_start, period_end, comment, parts,
                  satisfaction)
        ON CONFLICT (contract_id, period_start) WHERE kind = 'computed' DO NOTHING
        RETURNING id, operator AS operator_id, contract_id, evaluator_org AS evaluator_org_id, score, satisfaction,
                  complaints, period_start, period_end, comment, created_at, kind, reason, parts
        """,
        now,
        [r.operator_id for r in rows],
        [r.contract_id for r in rows],
        [r.evaluator_org_id for r in rows],
        [r.score for r in rows],
        [r.complaints for r in rows],
        [r.period_start for r in rows],
        [r.period_end for r in rows],
        [r.comment for r in rows],
        [json.dumps(r.parts, ensure_ascii=False) for r in rows],
        [r.satisfaction for r in rows],
    )
    return [_evaluation(r) for r in inserted]


# Industry alliances ----------------------------------------------------------------------------

ALLIANCE_QUERY = """
    SELECT a.id, a.name, a.lead AS lead_id, o.name AS lead_name, o.org AS lead_org_id, a.charter_ref, a.status,
           a.created_at, a.decided_at, a.reason
    FROM provider_alliance a JOIN provider_operator o ON o.id = a.lead
"""


async def insert_alliance(fields: dict, *, created_by: int, now: datetime) -> int:
    """Raises asyncpg's UniqueViolationError when the name is taken."""
    rows = await Alliance.insert(
        Alliance(
            name=fields["name"],
            lead=fields["lead_operator_id"],
            charter_ref=fields["charter_ref"],
            status="proposed",
            created_by=created_by,
            created_at=now,
            reason="",
        )
    ).returning(Alliance.id)
    return rows[0]["id"]


async def insert_alliance_members(alliance_id: int, members: list[dict], joined_on: date) -> None:
    await AllianceMember.insert(
        *(
            AllianceMember(
                alliance=alliance_id,
                operator=m["operator_id"],
                role=m["role"],
                category=m["category"],
                joined_on=joined_on,
            )
            for m in members
        )
    )


async def get_alliance(alliance_id: int, *, for_update: bool = False) -> AllianceRow | None:
    # SQL: the alliance joins its lead operator.
    lock = " FOR UPDATE OF a" if for_update else ""
    rows = await Alliance.raw(f"{ALLIANCE_QUERY} WHERE a.id = {{}}{lock}", alliance_id)
    return msgspec.convert(rows[0], AllianceRow) if rows else None


async def list_alliances(status: str | None, limit: int, offset: int) -> tuple[list[AllianceRow], int]:
    # SQL: the alliances join their leads, with the window total.
    rows = await Alliance.raw(
        f"""
        SELECT q.*, count(*) OVER () AS total FROM ({ALLIANCE_QUERY}
        WHERE {{}}::text IS NULL OR a.status = {{}}) q ORDER BY q.id LIMIT {{}} OFFSET {{}}
        """,
        status,
        status,
        limit,
        offset,
    )
    return msgspec.convert(rows, list[AllianceRow]), rows[0]["total"] if rows else 0


MEMBER_QUERY = """
    SELECT m.id, m.alliance AS alliance_id, m.operator AS operator_id, o.name AS operator_name,
           o.org AS operator_org_id, o.registry_status, coalesce(o.district_ids, ARRAY[]::int[]) AS district_ids,
           m.role, m.category, m.joined_on, m.left_on, m.leave_reason,
           EXISTS (SELECT 1 FROM provider_listing l WHERE l.operator = m.operator AND l.category = m.category
                   AND l.valid_from <= {} AND l.valid_until > {}) AS listed
    FROM provider_alliance_member m JOIN provider_operator o ON o.id = m.operator
"""


async def alliance_members(alliance_ids: list[int], today: date) -> list[AllianceMemberRow]:
    """The current members of the alliances (joined by today, not yet left), each with whether it is listed
    today for its category."""
    # SQL: members join their operators and an EXISTS on the listings valid today.
    rows = await AllianceMember.raw(
        f"""{MEMBER_QUERY}
        WHERE m.alliance = ANY({{}}::int[]) AND m.joined_on <= {{}} AND (m.left_on IS NULL OR m.left_on > {{}})
        ORDER BY m.alliance, m.role, m.category, m.id
        """,
        today,
        today,
        alliance_ids,
        today,
        today,
    )
    return msgspec.convert(rows, list[AllianceMemberRow])


async def former_alliance_members(alliance_id: int, today: date) -> list[AllianceMemberRow]:
    # SQL: the same joins as alliance_members, for the memberships that ended by today.
    rows = await AllianceMember.raw(
        f"{MEMBER_QUERY} WHERE m.alliance = {{}} AND m.left_on <= {{}} ORDER BY m.left_on DESC, m.id",
        today,
        today,
        alliance_id,
        today,
    )
    return msgspec.convert(rows, list[AllianceMemberRow])


async def get_alliance_member(
    alliance_id: int, member_id: int, today: date, *, for_update: bool = False
) -> AllianceMemberRow | None:
    # SQL: the same joins as alliance_members, for one membership whatever its dates.
    lock = " FOR UPDATE OF m" if for_update else ""
    rows = await AllianceMember.raw(
        f"{MEMBER_QUERY} WHERE m.alliance = {{}} AND m.id = {{}}{lock}", today, today, alliance_id, member_id
    )
    return msgspec.convert(rows[0], AllianceMemberRow) if rows else None


async def membership_overlapping(alliance_id: int, operator_id: int, category: str, joined_on: date) -> bool:
    """Whether the operator already holds (or will hold) the alliance's category on or after `joined_on`."""
    rows = await AllianceMember.select(AllianceMember.id).where(
        (AllianceMember.alliance == alliance_id)
        & (AllianceMember.operator == operator_id)
        & (AllianceMember.category == category)
        & ((AllianceMember.left_on.is_null()) | (AllianceMember.left_on > joined_on))
    )
    return bool(rows)


async def insert_alliance_member(alliance_id: int, member: dict) -> int:
    """Raises asyncpg's UniqueViolationError or ExclusionViolationError when the operator already holds the
    category in the alliance over an overlapping period."""
    rows = await AllianceMember.insert(
        AllianceMember(
            alliance=alliance_id,
            operator=member["operator_id"],
            role=member["role"],
            category=member["category"],
            joined_on=member["joined_on"],
        )
    ).returning(AllianceMember.id)
    return rows[0]["id"]


async def record_member_leaving(member_id: int, left_on: date, reason: str) -> None:
    await AllianceMember.update({AllianceMember.left_on: left_on, AllianceMember.leave_reason: reason}).where(
        AllianceMember.id == member_id
    )


async def approved_alliance_ids() -> list[int]:
    rows = await Alliance.select(Alliance.id).where(Alliance.status == "approved").order_by(Alliance.id)
    return [r["id"] for r in rows]


async def approve_alliance(alliance_id: int, *, decided_by: int, reason: str, now: datetime) -> None:
    await Alliance.update(
        {
            Alliance.status: "approved",
            Alliance.decided_by: decided_by,
            Alliance.decided_at: now,
            Alliance.reason: reason,
        }
    ).where(Alliance.id == alliance_id)


async def listed_categories_on(operator_id: int, on: date) -> set[str]:
    rows = await Listing.select(Listing.category).where(
        (Listing.operator == operator_id) & (Listing.valid_from <= on) & (Listing.valid_until > on)
    )
    return {r["category"] for r in rows}


async def alliance_members_not_in_good_standing(today: date) -> list[dict]:
    """Current members of approved alliances that are suspended, removed or expired, or no longer listed for
    their category, with their alliance's lead for the flag."""
    # SQL: members join their alliance, their operator and the lead's organisation, with a listing check.
    return await AllianceMember.raw(
        """
        SELECT m.id, m.category, a.id AS alliance_id, a.name AS alliance_name, o.name AS operator_name,
               o.registry_status, lo.path AS lead_path
        FROM provider_alliance_member m
        JOIN provider_alliance a ON a.id = m.alliance AND a.status = 'approved'
        JOIN provider_operator o ON o.id = m.operator
        JOIN provider_operator lead ON lead.id = a.lead
        JOIN organisation lo ON lo.id = lead.org
        WHERE (m.left_on IS NULL OR m.left_on > {}) AND m.joined_on <= {}
          AND (o.registry_status NOT IN ('listed', 'warned')
               OR NOT EXISTS (SELECT 1 FROM provider_listing l WHERE l.operator = m.operator
                              AND l.category = m.category AND l.valid_from <= {} AND l.valid_until > {}))
        ORDER BY m.id
        """,
        today,
        today,
        today,
        today,
    )


async def alliance_members_back_in_good_standing(member_ids: list[int], today: date) -> list[int]:
    """Of the flagged members, those since back in good standing or gone from their alliance."""
    if not member_ids:
        return []
    # SQL: the complement of alliance_members_not_in_good_standing over the flagged members.
    rows = await AllianceMember.raw(
        """
        SELECT m.id FROM provider_alliance_member m JOIN provider_operator o ON o.id = m.operator
        WHERE m.id = ANY({}::int[])
          AND ((m.left_on IS NOT NULL AND m.left_on <= {})
               OR (o.registry_status IN ('listed', 'warned')
                   AND EXISTS (SELECT 1 FROM provider_listing l WHERE l.operator = m.operator
                               AND l.category = m.category AND l.valid_from <= {} AND l.valid_until > {})))
        """,
        member_ids,
        today,
        today,
        today,
    )
    return [r["id"] for r in rows]
