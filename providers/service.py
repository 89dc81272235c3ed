"""Registry rules: who may do what, state machines, and the transactions that carry them out."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg

from core import clock
from core.accounts import service as accounts
from core.accounts.principal import OFFICIAL_ROLES, Principal
from core.accounts.tables import OrgKind, Role
from core.audit import service as audit
from core.cache.service import VersionedCache
from core.calendar import service as calendar
from core.db import transaction
from core.errors import PermissionDenied, ValidationFailed, require_reason
from core.outbox import service as outbox
from core.pagination import with_total
from core.settings import get_settings
from providers import repository as repo
from providers import rules
from providers.credit_code import credit_code_problem
from providers.errors import (
    AllianceLeadCannotLeave,
    AllianceMemberAlreadyLeft,
    AllianceMemberDateInvalid,
    AllianceMemberExists,
    AllianceMemberNotFound,
    AllianceMemberNotListed,
    AllianceMembersInvalid,
    AllianceNameTaken,
    AllianceNotFound,
    AllianceNotProposed,
    ApplicationNotBatchable,
    ApplicationNotFound,
    ApplicationStateInvalid,
    BatchNotFound,
    BatchPublished,
    BatchStateInvalid,
    BatchTitleTaken,
    CategoryExists,
    ChannelNotAllowed,
    CreditCodeInvalid,
    CreditCodeTaken,
    DuplicateOpenApplication,
    EntryNotInBatch,
    EvaluationNotAllowed,
    NotAllianceLead,
    ObjectionDecided,
    ObjectionNotFound,
    ObjectionPhoneLimit,
    ObjectionWindowClosed,
    ObjectionWindowOpen,
    OpenObjections,
    OperatorNotFound,
    ProposalDecided,
    ProposalNotFound,
    RenewalNotAllowed,
    StatusChangeInvalid,
    UnknownCategory,
    UnknownDistrict,
)
from providers.labels import DECISION_LABELS, OBJECTION_OUTCOME_LABELS, REGISTRY_STATUS_LABELS
from providers.schemas import (
    AllianceFlag,
    AllianceMemberRow,
    AllianceRow,
    ApplicationRow,
    Attachment,
    AutoStatusChange,
    BatchRow,
    CategoryView,
    CertificateView,
    EvaluationView,
    ListingView,
    ObjectionRow,
    OperatorRow,
    ProposalView,
    batch_number_label,
    mask_phone,
)
from providers.tables import ApplicationState as A
from providers.tables import BatchState, Channel
from providers.tables import RegistryStatus as S

ALL = ["/"]  # a scope that covers every path
READERS_OF_ALL_OPERATORS = (*OFFICIAL_ROLES, Role.auditor)
OPEN_FOR_EDIT = {A.draft, A.returned}
DECISION_TARGET = {"approve": A.approved, "reject": A.rejected, "return": A.returned}


# Categories ------------------------------------------------------------------------------------


async def list_categories() -> list[CategoryView]:
    return await repo.list_categories()


async def create_category(principal: Principal, code: str, name: str) -> CategoryView:
    async with transaction():
        created = await repo.insert_category(code, name)
        if created is None:
            raise CategoryExists()
        await audit.record(principal, "category.create", "category", code, after=created)
    return created


async def check_categories(codes: list[str]) -> list[str]:
    """The codes sorted and deduplicated, or UnknownCategory naming those not in the dictionary."""
    codes = sorted(set(codes))
    unknown = await repo.unknown_categories(codes)
    if unknown:
        raise UnknownCategory(detail={"unknown": unknown})
    return codes


# Operators -------------------------------------------------------------------------------------


def _check_credit_code(code: str) -> str:
    problem = credit_code_problem(code)
    if problem:
        raise CreditCodeInvalid(problem, detail={"field": "credit_code", "credit_code": code})
    return code


async def _validated_operator_fields(fields: dict) -> dict:
    """Checks and normalises whichever profile fields are present (all of them on creation)."""
    if "credit_code" in fields:
        _check_credit_code(fields["credit_code"])
    if "categories" in fields:
        fields["categories"] = await check_categories(fields["categories"])
    if "district_ids" in fields:
        fields["district_ids"] = sorted(set(fields["district_ids"]))
        unknown = await repo.unknown_districts(fields["district_ids"])
        if unknown:
            raise UnknownDistrict(detail={"unknown": unknown})
    return fields


async def _insert_operator(principal: Principal | None, fields: dict, city_id: int) -> int:
    if await repo.credit_code_exists(fields["credit_code"]):
        raise CreditCodeTaken()
    org = await accounts.create_org(
        None, name=fields["name"], kind=OrgKind.operator, parent_id=city_id, code=f"uscc-{fields['credit_code']}"
    )
    try:
        operator_id = await repo.insert_operator(org_id=org.id, fields=fields, now=clock.now())
    except asyncpg.UniqueViolationError as exc:  # two registrations of one code racing
        raise CreditCodeTaken() from exc
    await audit.record(principal, "operator.create", "operator", operator_id, after=fields)
    return operator_id


async def create_operator(principal: Principal, fields: dict) -> OperatorRow:
    """An official registers a company (typically one they are about to recommend)."""
    city = await accounts.the_city()
    async with transaction():
        fields = await _validated_operator_fields(fields)
        operator_id = await _insert_operator(principal, fields, city.id)
        return await get_operator_for(principal, operator_id)


async def register_operator(fields: dict, username: str, password: str) -> OperatorRow:
    """A company registers itself with its first user, so it can apply (自荐)."""
    city = await accounts.the_city()
    async with transaction():
        fields = await _validated_operator_fields(fields)
        operator_id = await _insert_operator(None, fields, city.id)
        operator = await _existing_operator(operator_id)
        await accounts.create_user(
            None,
            username=username,
            password=password,
            email=fields["contact_email"],
            display_name=fields["contact_name"],
            grants=[(Role.operator, operator.org_id)],
        )
    return operator


async def _existing_operator(operator_id: int, *, for_update: bool = False) -> OperatorRow:
    operator = await repo.get_operator(operator_id, for_update=for_update)
    if operator is None:
        raise OperatorNotFound()
    return operator


def _can_read_operator(principal: Principal, operator: OperatorRow) -> bool:
    return principal.has_role(*READERS_OF_ALL_OPERATORS) or principal.can_read_path(operator.org_path)


def _can_edit_operator(principal: Principal, operator: OperatorRow) -> bool:
    return principal.has_role(Role.city) or principal.can_write_path(operator.org_path, Role.operator)


async def _readable_operator(principal: Principal, operator_id: int, *, for_update: bool = False) -> OperatorRow:
    operator = await repo.get_operator(operator_id, for_update=for_update)
    if operator is None or not _can_read_operator(principal, operator):
        raise OperatorNotFound()
    return operator


async def get_operator_for(principal: Principal, operator_id: int) -> OperatorRow:
    operator = await _readable_operator(principal, operator_id)
    operator.certificates = await repo.certificates_for(operator_id)
    return operator


async def list_operators(
    principal: Principal, *, q: str | None, status: str | None, limit: int, offset: int
) -> tuple[list[OperatorRow], int]:
    scope = ALL if principal.has_role(*READERS_OF_ALL_OPERATORS) else principal.read_paths()
    return await with_total(
        lambda lim, off: repo.list_operators(scope_paths=scope, q=q, status=status, limit=lim, offset=off),
        limit,
        offset,
    )


async def update_operator(principal: Principal, operator_id: int, changes: dict) -> OperatorRow:
    async with transaction():
        operator = await _readable_operator(principal, operator_id, for_update=True)
        if not _can_edit_operator(principal, operator):
            raise PermissionDenied()
        changes = await _validated_operator_fields(changes)
        before = {k: getattr(operator, k) for k in changes if k in OperatorRow.__struct_fields__}
        await repo.update_operator(operator_id, changes, clock.now())
        await audit.record(principal, "operator.update", "operator", operator_id, before=before, after=changes)
        return await get_operator_for(principal, operator_id)


async def add_certificate(principal: Principal, operator_id: int, fields: dict) -> CertificateView:
    async with transaction():
        operator = await _readable_operator(principal, operator_id, for_update=True)
        if not _can_edit_operator(principal, operator):
            raise PermissionDenied()
        certificate = await repo.insert_certificate(operator_id, fields)
        await audit.record(principal, "certificate.add", "operator", operator_id, after=fields)
    return certificate


# Applications ----------------------------------------------------------------------------------


def _recommender_org(principal: Principal) -> int:
    orgs = principal.org_ids(Role.district, Role.street)
    if not orgs:
        raise ChannelNotAllowed()
    return orgs[0]


def _is_applicant_side(principal: Principal, application: ApplicationRow) -> bool:
    """The party that prepares and submits: the operator itself (自荐) or the recommending office (推荐)."""
    if application.channel == Channel.self_nominated.value:
        return principal.can_write_path(application.operator_org_path, Role.operator)
    recommender_path = application.recommender_org_path
    return recommender_path is not None and principal.can_write_path(recommender_path, Role.district, Role.street)


def _can_read_application(principal: Principal, application: ApplicationRow) -> bool:
    if principal.has_role(Role.city, Role.auditor):
        return True
    if principal.can_read_path(application.operator_org_path):
        return True
    recommender_path = application.recommender_org_path
    if not recommender_path:
        return False
    return principal.can_read_path(recommender_path)


async def _readable_application(
    principal: Principal, application_id: int, *, for_update: bool = False
) -> ApplicationRow:
    application = await repo.get_application(application_id, for_update=for_update)
    if application is None or not _can_read_application(principal, application):
        raise ApplicationNotFound()
    return application


async def _claim_categories(application_id: int, operator_id: int, categories: list[str]) -> None:
    try:
        await repo.replace_application_categories(application_id, operator_id, categories)
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateOpenApplication(detail={"categories": categories}) from exc


async def create_application(
    principal: Principal,
    *,
    operator_id: int,
    channel: Channel,
    categories: list[str],
    statement: str,
    attachments: list[Attachment],
    renewal_of: int | None = None,
) -> ApplicationRow:
    async with transaction():
        operator = await _readable_operator(principal, operator_id)
        categories = await check_categories(categories)
        if channel == Channel.self_nominated:
            if not principal.can_write_path(operator.org_path, Role.operator):
                raise ChannelNotAllowed()
            recommender = None
        else:
            recommender = _recommender_org(principal)
        application_id = await repo.insert_application(
            operator_id=operator_id,
            channel=channel.value,
            recommender_org_id=recommender,
            created_by=principal.user_id,
            categories=categories,
            statement=statement,
            attachments=attachments,
            renewal_of=renewal_of,
            now=clock.now(),
        )
        await _claim_categories(application_id, operator_id, categories)
        await repo.insert_event(
            application_id=application_id,
            from_state=None,
            to_state=A.draft.value,
            actor_id=principal.user_id,
            actor_name=principal.actor_label,
            reason="",
            now=clock.now(),
        )
        await audit.record(
            principal,
            "application.create",
            "application",
            application_id,
            after={
                "operator_id": operator_id,
                "channel": channel.value,
                "categories": categories,
                "renewal_of": renewal_of,
            },
        )
        return await get_application_for(principal, application_id)


async def get_application_for(principal: Principal, application_id: int) -> ApplicationRow:
    application = await _readable_application(principal, application_id)
    application.events = (await repo.events_for([application_id]))[application_id]
    return application


async def list_applications(
    principal: Principal, *, state: str | None, operator_id: int | None, limit: int, offset: int
) -> tuple[list[ApplicationRow], int]:
    scope = ALL if principal.has_role(Role.city, Role.auditor) else principal.read_paths()
    return await with_total(
        lambda lim, off: repo.list_applications(
            scope_paths=scope, state=state, operator_id=operator_id, limit=lim, offset=off
        ),
        limit,
        offset,
    )


async def update_application(principal: Principal, application_id: int, changes: dict) -> ApplicationRow:
    async with transaction():
        application = await _readable_application(principal, application_id, for_update=True)
        if not _is_applicant_side(principal, application):
            raise PermissionDenied()
        if A(application.state) not in OPEN_FOR_EDIT:
            raise ApplicationStateInvalid()
        if changes.get("categories") is not None:
            changes["categories"] = await check_categories(changes["categories"])
            await _claim_categories(application_id, application.operator_id, changes["categories"])
        await repo.update_application_content(application_id, changes, clock.now())
        await audit.record(
            principal,
            "application.update",
            "application",
            application_id,
            before={k: getattr(application, k) for k in changes},
            after=changes,
        )
        return await get_application_for(principal, application_id)


async def _transition(
    principal: Principal,
    application: ApplicationRow,
    to: A,
    *,
    reason: str,
    action: str,
    decided: bool = False,
    submitted: bool = False,
) -> None:
    now = clock.now()
    await repo.set_application_state(
        application.id,
        to.value,
        now=now,
        decided_by=principal.user_id if decided else None,
        reason=reason if decided else None,
        submitted=submitted,
    )
    await repo.insert_event(
        application_id=application.id,
        from_state=application.state.value,
        to_state=to.value,
        actor_id=principal.user_id,
        actor_name=principal.actor_label,
        reason=reason,
        now=now,
    )
    await audit.record(
        principal,
        action,
        "application",
        application.id,
        before={"state": application.state},
        after={"state": to.value},
        reason=reason,
    )


async def submit_application(principal: Principal, application_id: int) -> ApplicationRow:
    async with transaction():
        application = await _readable_application(principal, application_id, for_update=True)
        if not _is_applicant_side(principal, application):
            raise PermissionDenied()
        if A(application.state) not in OPEN_FOR_EDIT:
            raise ApplicationStateInvalid()
        await _transition(principal, application, A.submitted, reason="", action="application.submit", submitted=True)
        return await get_application_for(principal, application_id)


async def start_review(principal: Principal, application_id: int) -> ApplicationRow:
    async with transaction():
        application = await _readable_application(principal, application_id, for_update=True)
        if application.state != A.submitted.value:
            raise ApplicationStateInvalid()
        await _transition(principal, application, A.under_review, reason="", action="application.start_review")
        return await get_application_for(principal, application_id)


async def decide_application(principal: Principal, application_id: int, decision: str, reason: str) -> ApplicationRow:
    """Approve, reject or return. Only city reviewers; a reason always; the applicant is told by email."""
    reason = require_reason(reason)
    target = DECISION_TARGET[decision]
    async with transaction():
        application = await _readable_application(principal, application_id, for_update=True)
        if application.state not in (A.submitted.value, A.under_review.value):
            raise ApplicationStateInvalid(detail={"state": application.state})
        await _transition(principal, application, target, reason=reason, action=f"application.{decision}", decided=True)
        if target == A.rejected:
            await repo.close_application_categories(application_id)
        await _notify_operator(
            application.operator_email,
            f"【优秀服务商名录】您的入库申请（编号 {application_id}）审核结果：{DECISION_LABELS[decision]}",
            f"{application.operator_name}：\n\n您于名录申请（编号 {application_id}，类别 "
            f"{'、'.join(application.categories)}）的审核结果为：{DECISION_LABELS[decision]}。\n"
            f"理由：{reason}\n",
        )
        return await get_application_for(principal, application_id)


async def create_renewal(principal: Principal, application_id: int) -> ApplicationRow:
    """A new draft that reuses an approved application's data, for renewing a listing before it expires."""
    previous = await _readable_application(principal, application_id)
    if not _is_applicant_side(principal, previous):
        raise PermissionDenied()
    if previous.state != A.approved.value:
        raise RenewalNotAllowed()
    return await create_application(
        principal,
        operator_id=previous.operator_id,
        channel=Channel(previous.channel),
        categories=previous.categories,
        statement=previous.statement,
        attachments=previous.attachments,
        renewal_of=application_id,
    )


async def _notify_operator(address: str, subject: str, body: str, *, dedupe_key: str | None = None) -> None:
    """Queued in the caller's transaction: the email exists exactly when the decision does."""
    await outbox.enqueue(address, subject, body, dedupe_key=dedupe_key)


# Batches ---------------------------------------------------------------------------------------


async def create_batch(principal: Principal, title: str) -> BatchRow:
    async with transaction():
        batch_id = await repo.insert_batch(title.strip(), principal.user_id, clock.now())
        if batch_id is None:
            raise BatchTitleTaken()
        await audit.record(principal, "batch.create", "batch", batch_id, after={"title": title})
        return await get_batch(batch_id)


def _sees_draft_batches(viewer: Principal | None) -> bool:
    """A batch being composed is the city committee's work (open to auditors): others see it from its notice."""
    return viewer is None or viewer.has_role(Role.city, Role.auditor)


async def get_batch(batch_id: int, *, public: bool = False, viewer: Principal | None = None) -> BatchRow:
    """`public`: as anyone sees it without logging in, from its notice on, with the entries still in it."""
    batch = await repo.get_batch(batch_id)
    if batch is None or (batch.state == BatchState.draft.value and (public or not _sees_draft_batches(viewer))):
        raise BatchNotFound()
    batch.entries = (await repo.entries_for([batch_id], included_only=public))[batch_id]
    return batch


async def list_batches(
    *, public: bool, limit: int, offset: int, viewer: Principal | None = None
) -> tuple[list[BatchRow], int]:
    """`public`: the batches on notice and the published ones, as anyone sees them without logging in."""
    with_drafts = not public and _sees_draft_batches(viewer)
    return await with_total(
        lambda lim, off: repo.list_batches(published_only=False, with_drafts=with_drafts, limit=lim, offset=off),
        limit,
        offset,
    )


async def _locked_batch(batch_id: int) -> BatchRow:
    batch = await repo.get_batch(batch_id, for_update=True)
    if batch is None:
        raise BatchNotFound()
    if batch.state == BatchState.published.value:
        raise BatchPublished()
    return batch


async def add_entries(principal: Principal, batch_id: int, application_ids: list[int]) -> BatchRow:
    wanted = sorted(set(application_ids))
    async with transaction():
        batch = await _locked_batch(batch_id)
        if batch.state != BatchState.draft.value:
            raise BatchStateInvalid(detail={"state": batch.state})
        batchable = sorted(await repo.batchable_applications(wanted))
        if batchable != wanted:
            raise ApplicationNotBatchable(detail={"not_batchable": sorted(set(wanted) - set(batchable))})
        try:
            await repo.insert_entries(batch_id, wanted)
        except asyncpg.UniqueViolationError as exc:
            raise ApplicationNotBatchable() from exc
        await audit.record(principal, "batch.add_entries", "batch", batch_id, after={"application_ids": wanted})
        return await get_batch(batch_id)


async def open_notice(principal: Principal, batch_id: int, working_days: int | None) -> BatchRow:
    """Start the public notice (公示): objections are accepted for N working days from today."""
    days = working_days or get_settings().objection_working_days
    async with transaction():
        batch = await _locked_batch(batch_id)
        if batch.state != BatchState.draft.value:
            raise BatchStateInvalid(detail={"state": batch.state})
        if not (await repo.entries_for([batch_id]))[batch_id]:
            raise BatchStateInvalid("批次中没有申请，不能公示")
        today = clock.today()
        deadline = clock.add_working_days(today, days, await calendar.working_calendar(today))
        await repo.open_notice(batch_id, today, deadline)
        await audit.record(
            principal,
            "batch.open_notice",
            "batch",
            batch_id,
            before={"state": batch.state},
            after={"state": "notice", "notice_start": today, "objection_deadline": deadline},
        )
        return await get_batch(batch_id)


async def file_objection(principal: Principal, batch_id: int, application_id: int, text: str) -> ObjectionRow:
    """Anyone logged in may object during the notice window [notice_start, objection_deadline)."""
    async with transaction():
        batch = await repo.get_batch(batch_id)
        if batch is None or (batch.state == BatchState.draft.value and not _sees_draft_batches(principal)):
            raise BatchNotFound()
        today = clock.today()
        if not batch.accepts_objections_on(today):
            raise ObjectionWindowClosed()
        entry = await repo.entry_for(batch_id, application_id)
        if entry is None or entry.status != "included":
            raise EntryNotInBatch()
        objection = await repo.insert_objection(entry, text, clock.now(), filed_by=principal.user_id)
        await audit.record(
            principal,
            "objection.file",
            "objection",
            objection.id,
            after={"batch_id": batch_id, "application_id": application_id, "text": text},
        )
        return objection


async def file_public_objection(
    batch_id: int, application_id: int, *, name: str, phone: str, email: str | None, text: str
) -> ObjectionRow:
    """Anyone, without an account, may object during the notice window, naming themselves and a mobile phone.

    A phone files at most `objection_per_phone_per_hour` objections an hour (the client address has its own
    limit, core.limits)."""
    limit = get_settings().objection_per_phone_per_hour
    async with transaction():
        batch = await repo.get_batch(batch_id)
        if batch is None or batch.state == BatchState.draft.value:
            raise BatchNotFound()
        if not batch.accepts_objections_on(clock.today()):
            raise ObjectionWindowClosed(
                detail={"notice_start": batch.notice_start, "deadline": batch.objection_deadline}
            )
        entry = await repo.entry_for(batch_id, application_id)
        if entry is None or entry.status != "included":
            raise EntryNotInBatch(detail={"field": "application_id", "application_id": application_id})
        now = clock.now()
        if await repo.count_recent_objections_by_phone(phone, now - timedelta(hours=1)) >= limit:
            raise ObjectionPhoneLimit(detail={"field": "phone", "per_hour": limit})
        objection = await repo.insert_objection(entry, text, now, name=name.strip(), phone=phone, email=email or None)
        await audit.record(
            None,
            "objection.file_public",
            "objection",
            objection.id,
            after={
                "batch_id": batch_id,
                "application_id": application_id,
                "text": text,
                "objector_name": name.strip(),
                "objector_phone": mask_phone(phone),
            },
        )
        return objection


async def _existing_objection(objection_id: int, *, for_update: bool = False) -> ObjectionRow:
    objection = await repo.get_objection(objection_id, for_update=for_update)
    if objection is None:
        raise ObjectionNotFound()
    return objection


async def list_objections(principal: Principal, batch_id: int) -> list[ObjectionRow]:
    if await repo.get_batch(batch_id) is None:
        raise BatchNotFound()
    return await repo.objections_for_batch(batch_id)


async def decide_objection(principal: Principal, objection_id: int, upheld: bool, reason: str) -> ObjectionRow:
    """An upheld objection takes the entry out of the batch and rejects the application."""
    reason = require_reason(reason)
    async with transaction():
        objection = await _existing_objection(objection_id, for_update=True)
        await _locked_batch(objection.batch_id)
        if objection.state != "open":
            raise ObjectionDecided()
        state = "upheld" if upheld else "dismissed"
        await repo.decide_objection(objection_id, state=state, by=principal.user_id, reason=reason, now=clock.now())
        await audit.record(
            principal,
            f"objection.{state}",
            "objection",
            objection_id,
            before={"state": "open"},
            after={"state": state},
            reason=reason,
        )
        if objection.objector_email:
            await outbox.enqueue(
                objection.objector_email,
                f"【优秀服务商名录】您对{objection.batch_title}提出的异议处理结果：{OBJECTION_OUTCOME_LABELS[state]}",
                f"{objection.objector_name or '您好'}：\n\n您于 {clock.business_date(objection.created_at).isoformat()} "
                f"对{objection.batch_title}公示名单（申请编号 {objection.application_id}）提出的异议已处理，"
                f"结果：{OBJECTION_OUTCOME_LABELS[state]}。\n理由：{reason}\n",
                dedupe_key=f"objection-{objection_id}-objector",
            )
        if upheld:
            await repo.withdraw_entry(objection.entry_id)
            application = await repo.get_application(objection.application_id, for_update=True)
            if application is None:
                raise ApplicationNotFound()
            await _transition(
                principal,
                application,
                A.rejected,
                reason=f"公示期异议成立：{reason}",
                action="application.reject",
                decided=True,
            )
            await repo.close_application_categories(application.id)
            await _notify_operator(
                application.operator_email,
                f"【优秀服务商名录】公示期异议成立，申请（编号 {application.id}）未能入库",
                f"{application.operator_name}：\n\n针对您的入库申请的公示期异议经审核成立，该申请已移出本批次。\n"
                f"理由：{reason}\n",
                dedupe_key=f"objection-{objection_id}-upheld",
            )
        return await _existing_objection(objection_id)


async def publish_batch(principal: Principal, batch_id: int) -> BatchRow:
    """Publish after the objection window: creates listings and makes the batch immutable."""
    settings = get_settings()
    async with transaction():
        batch = await _locked_batch(batch_id)
        if batch.state != BatchState.notice.value:
            raise BatchStateInvalid(detail={"state": batch.state})
        today = clock.today()
        deadline = batch.objection_deadline
        assert deadline is not None  # set when the notice opened
        if today < deadline:
            raise ObjectionWindowOpen(detail={"objection_deadline": deadline})
        if await repo.count_open_objections(batch_id):
            raise OpenObjections()
        valid_until = clock.add_months(today, settings.listing_term_months)
        number = await repo.mark_published(batch_id, today, principal.user_id)
        listings = await repo.insert_listings_for_batch(batch_id, today, valid_until)
        entries = (await repo.entries_for([batch_id], included_only=True))[batch_id]
        newly_listed = await repo.mark_operators_listed(sorted({e.operator_id for e in entries}), clock.now())
        # Listed now: these applications no longer hold their categories open.
        await repo.close_application_categories(*(e.application_id for e in entries))
        for entry in entries:
            await _notify_operator(
                entry.operator_email,
                f"【优秀服务商名录】{batch.title}已发布",
                f"{entry.operator_name}：\n\n您已列入{batch.title}优秀服务商名录，类别："
                f"{'、'.join(entry.categories)}，有效期至 {valid_until.isoformat()}（不含当日）。\n",
                dedupe_key=f"batch-{batch_id}-application-{entry.application_id}-published",
            )
        await audit.record(
            principal,
            "batch.publish",
            "batch",
            batch_id,
            before={"state": batch.state},
            after={
                "state": "published",
                "published_on": today,
                "number_label": batch_number_label(today.year, number),
                "listings": listings,
                "valid_until": valid_until,
                "newly_listed_operators": newly_listed,
            },
            reason=f"公示期已于 {deadline.isoformat()} 届满，异议均已处理",
        )
        await relist_renewed_operators(principal, sorted({e.operator_id for e in entries}))
        await resolve_renewal_flags(sorted({e.operator_id for e in entries}))
        return await get_batch(batch_id)


# Evaluations and registry status ---------------------------------------------------------------


async def _evaluator_org(principal: Principal, fields: dict) -> int:
    """The org a hand-filed evaluation speaks for: the city, or a street or district holding a contract with
    the operator over part of the evaluation's period."""
    city = principal.org_ids(Role.city)
    if city:
        return city[0]
    holder = await repo.contract_holder_org(
        fields["operator_id"],
        principal.org_ids(Role.street, Role.district),
        fields["period_start"],
        fields["period_end"],
    )
    if holder is None:
        raise EvaluationNotAllowed(detail={"period_start": fields["period_start"], "period_end": fields["period_end"]})
    return holder


async def add_evaluation(principal: Principal, fields: dict) -> EvaluationView:
    if fields["period_start"] >= fields["period_end"]:
        raise ValidationFailed("评价期间的开始日期须早于结束日期", detail={"field": "period_end"})
    if not 0 <= fields["satisfaction"] <= 100:
        raise ValidationFailed("居民满意度须在 0 至 100 之间", detail={"field": "satisfaction"})
    reason = require_reason(fields.get("reason", ""))
    async with transaction():
        await _readable_operator(principal, fields["operator_id"])
        org = await _evaluator_org(principal, fields)
        fields = {**fields, "reason": reason, "evaluator_id": principal.user_id, "evaluator_org_id": org}
        evaluation = await repo.insert_evaluation(fields, clock.now())
        await audit.record(
            principal, "evaluation.create", "operator", fields["operator_id"], after=fields, reason=reason
        )
    return evaluation


async def list_evaluations(
    principal: Principal, operator_id: int, limit: int, offset: int
) -> tuple[list[EvaluationView], int]:
    await _readable_operator(principal, operator_id)
    return await with_total(lambda lim, off: repo.evaluations_for(operator_id, lim, off), limit, offset)


async def _change_status(principal: Principal, operator: OperatorRow, target: S, reason: str, action: str) -> None:
    current = S(operator.registry_status)
    if not rules.can_change(current, target):
        raise StatusChangeInvalid(detail={"from": current.value, "to": target.value})
    now = clock.now()
    await repo.set_registry_status(operator.id, target.value, now)
    await repo.insert_status_decision(
        operator_id=operator.id,
        from_status=current.value,
        to_status=target.value,
        reason=reason,
        by=principal.user_id,
        now=now,
    )
    await audit.record(
        principal,
        action,
        "operator",
        operator.id,
        before={"registry_status": current.value},
        after={"registry_status": target.value},
        reason=reason,
    )
    await _notify_operator(
        operator.contact_email,
        f"【优秀服务商名录】名录状态变更：{REGISTRY_STATUS_LABELS[target.value]}",
        f"{operator.name}：\n\n您在优秀服务商名录中的状态已由“{REGISTRY_STATUS_LABELS[current.value]}”变更为"
        f"“{REGISTRY_STATUS_LABELS[target.value]}”。\n理由：{reason}\n",
    )


async def change_status(principal: Principal, operator_id: int, target: S, reason: str) -> OperatorRow:
    reason = require_reason(reason)
    async with transaction():
        operator = await _readable_operator(principal, operator_id, for_update=True)
        await _change_status(principal, operator, target, reason, f"operator.status.{target.value}")
        return await get_operator_for(principal, operator_id)


def thresholds() -> rules.Thresholds:
    s = get_settings()
    return rules.Thresholds(
        window=s.registry_rule_window,
        warn_score=s.registry_warn_score,
        suspend_score=s.registry_suspend_score,
        warn_satisfaction=s.registry_warn_satisfaction,
        warn_complaints=s.registry_warn_complaints,
    )


async def run_registry_rules_for(principal: Principal) -> list[int]:
    return await run_registry_rules(principal)


async def run_registry_rules(actor: Principal | None = None) -> list[int]:
    """Propose warnings and suspensions from recent evaluations. Returns the new proposal ids.

    The audit names the reviewer who ran the rules, or the system when the nightly job did."""
    t = thresholds()
    rows = await repo.latest_evaluations_of_active_operators(t.window)
    by_operator: dict[int, tuple[str, list[rules.EvaluationFacts]]] = {}
    for r in rows:
        status, facts = by_operator.setdefault(r.operator_id, (r.registry_status, []))
        facts.append(rules.EvaluationFacts(r.score, r.satisfaction, r.complaints, r.period_end))
    proposals = []
    for operator_id, (status, facts) in by_operator.items():
        proposal = rules.propose(S(status), facts, t)
        if proposal is not None:
            proposals.append((operator_id, proposal.status.value, proposal.rule, proposal.evidence))
    async with transaction():
        created = await repo.insert_proposals(proposals, clock.now())
        await audit.record_many(
            actor,
            "proposal.create",
            "operator",
            [
                (
                    row.operator_id,
                    {"proposed_status": row.proposed_status, "rule": row.rule, "evidence": row.evidence},
                )
                for row in created
            ],
        )
    return [row.id for row in created]


async def list_proposals(
    principal: Principal, state: str | None, limit: int, offset: int
) -> tuple[list[ProposalView], int]:
    return await with_total(lambda lim, off: repo.list_proposals(state, lim, off), limit, offset)


async def _existing_proposal(proposal_id: int, *, for_update: bool = False) -> ProposalView:
    proposal = await repo.get_proposal(proposal_id, for_update=for_update)
    if proposal is None:
        raise ProposalNotFound()
    return proposal


async def decide_proposal(principal: Principal, proposal_id: int, confirm: bool, reason: str) -> ProposalView:
    reason = require_reason(reason)
    async with transaction():
        proposal = await _existing_proposal(proposal_id, for_update=True)
        if proposal.state != "open":
            raise ProposalDecided()
        state = "confirmed" if confirm else "dismissed"
        await repo.decide_proposal(proposal_id, state=state, by=principal.user_id, reason=reason, now=clock.now())
        await audit.record(
            principal,
            f"proposal.{state}",
            "proposal",
            proposal_id,
            before={"state": "open"},
            after={"state": state},
            reason=reason,
        )
        if confirm:
            operator = await _existing_operator(proposal.operator_id, for_update=True)
            await _change_status(
                principal,
                operator,
                S(proposal.proposed_status),
                reason,
                f"operator.status.{proposal.proposed_status}",
            )
        return await _existing_proposal(proposal_id)


# Expiry and re-qualification -------------------------------------------------------------------

EXPIRED_REASON = "入库资格有效期均已届满，未续期"
RELISTED_REASON = "续期申请已发布入库，恢复在库"


async def _record_status_changes(actor: Principal | None, changes: list[AutoStatusChange], reason: str) -> None:
    """Audit (the nightly job's expiries as the system, a publisher's re-listings as theirs) and tell each."""
    if actor is None:
        await audit.record_many(
            None,
            "operator.status.expired",
            "operator",
            [(c.operator_id, {"from": c.from_status, "registry_status": c.to_status}) for c in changes],
            reason=reason,
        )
    for c in changes:
        if actor is not None:
            await audit.record(
                actor,
                "operator.status.relisted",
                "operator",
                c.operator_id,
                before={"registry_status": c.from_status},
                after={"registry_status": c.to_status},
                reason=reason,
            )
        await _notify_operator(
            c.contact_email,
            f"【优秀服务商名录】名录状态变更：{REGISTRY_STATUS_LABELS[c.to_status]}",
            f"{c.name}：\n\n您在优秀服务商名录中的状态已由“{REGISTRY_STATUS_LABELS[c.from_status]}”变更为"
            f"“{REGISTRY_STATUS_LABELS[c.to_status]}”。\n理由：{reason}\n",
        )


async def expire_lapsed_operators() -> list[int]:
    """Nightly: listed or warned operators none of whose listings is still in force become 'expired', with a
    status decision by the system. Returns their ids."""
    async with transaction():
        changes = await repo.expire_lapsed_operators(clock.today(), EXPIRED_REASON, clock.now())
        await _record_status_changes(None, changes, EXPIRED_REASON)
    return [c.operator_id for c in changes]


async def resolve_renewal_flags(operator_ids: list[int]) -> int:
    """The renewal reminders of these operators' listings that a published batch has just continued go."""
    return await repo.resolve_listing_renewal_flags(operator_ids, "续期已发布入库", clock.now())


async def relist_renewed_operators(principal: Principal, operator_ids: list[int]) -> list[int]:
    """Expired operators a published batch lists again return to 'listed'. Runs in the publisher's
    transaction."""
    changes = await repo.relist_expired_operators(
        operator_ids, clock.today(), RELISTED_REASON, principal.user_id, clock.now()
    )
    await _record_status_changes(principal, changes, RELISTED_REASON)
    return [c.operator_id for c in changes]


# Public directory ------------------------------------------------------------------------------

_directory_pages: VersionedCache[bytes] = VersionedCache(
    ("registry",), get_settings().read_cache_entries, name="directory"
)


async def directory_page(**filters) -> bytes:
    """A page of the public directory, from this worker's cache when nothing has changed since."""
    return await _directory_pages.read(
        tuple(sorted(filters.items())), lambda: repo.directory_page_json(today=clock.today(), **filters)
    )


async def directory_export_rows(**filters) -> list[dict]:
    return await repo.directory_rows(today=clock.today(), max_rows=20000, **filters)


async def name_lookups() -> tuple[dict[str, str], dict[int, str]]:
    categories = await repo.category_names()
    districts = await accounts.district_names()
    return categories, districts


async def public_operator_listings(operator_id: int) -> list[ListingView]:
    """The public knows an operator once a batch has published it; before that it answers as unknown."""
    operator = await repo.get_operator(operator_id)
    if operator is None or operator.registry_status == S.unlisted.value:
        raise OperatorNotFound()
    return await repo.listings_for(operator_id)


async def public_operator(operator_id: int) -> tuple[OperatorRow, list[ListingView]]:
    """An operator as the public pages show it (the directory's fields) with its listings; unknown until
    a batch has published it, as for public_operator_listings."""
    listings = await public_operator_listings(operator_id)
    operator = await repo.get_operator(operator_id)
    if operator is None:
        raise OperatorNotFound()
    return operator, listings


# Industry alliances ----------------------------------------------------------------------------

GOOD_STANDING = ("listed", "warned")


def member_in_good_standing(member: AllianceMemberRow) -> bool:
    """A member counts while it is listed or warned and listed today for its category; otherwise it is
    flagged to the lead and the city and left out of new proposals."""
    return member.registry_status in GOOD_STANDING and member.listed


def _check_members(lead_id: int, members: list[dict]) -> list[dict]:
    seen = set()
    for member in members:
        if member["role"] == "integrated":
            member["category"] = "integrated"
        elif member["category"] == "integrated":
            raise AllianceMembersInvalid(detail={"field": "members", "operator_id": member["operator_id"]})
        key = (member["operator_id"], member["category"])
        if key in seen:
            raise AllianceMembersInvalid(detail={"field": "members", "operator_id": member["operator_id"]})
        seen.add(key)
    if not any(m["operator_id"] == lead_id and m["role"] == "integrated" for m in members):
        raise AllianceMembersInvalid(detail={"field": "members", "operator_id": lead_id})
    return members


async def propose_alliance(principal: Principal, fields: dict) -> AllianceRow:
    """The lead operator (or the city) proposes an alliance of listed operators; each member must be in good
    standing and listed today for its category."""
    fields["name"], fields["charter_ref"] = fields["name"].strip(), fields["charter_ref"].strip()
    for name in ("name", "charter_ref"):
        if not fields[name]:
            raise ValidationFailed("联盟名称和章程文号不能为空", detail={"field": name})
    members = _check_members(fields["lead_operator_id"], fields["members"])
    async with transaction():
        lead = await repo.get_operator(fields["lead_operator_id"])
        if lead is None:
            raise OperatorNotFound()
        if not principal.has_role(Role.city) and lead.org_id not in principal.org_ids(Role.operator):
            raise NotAllianceLead()
        await check_categories(sorted({m["category"] for m in members}))
        today = clock.today()
        for member in members:
            listed = await repo.listed_categories_on(member["operator_id"], today)
            operator = await repo.get_operator(member["operator_id"])
            if operator is None or operator.registry_status not in GOOD_STANDING or member["category"] not in listed:
                raise AllianceMemberNotListed(detail={"field": "members", "operator_id": member["operator_id"]})
        try:
            alliance_id = await repo.insert_alliance(fields, created_by=principal.user_id, now=clock.now())
        except asyncpg.UniqueViolationError as exc:
            raise AllianceNameTaken() from exc
        await repo.insert_alliance_members(alliance_id, members, today)
        await audit.record(
            principal,
            "alliance.propose",
            "alliance",
            alliance_id,
            after={"name": fields["name"], "lead": lead.id, "members": members},
        )
        return _alliance_written(await repo.get_alliance(alliance_id))


def _alliance_written(row: AllianceRow | None) -> AllianceRow:
    if row is None:
        raise LookupError("an alliance written in this transaction is missing")
    return row


async def approve_alliance(principal: Principal, alliance_id: int, reason: str) -> AllianceRow:
    """The city approves a proposed alliance; from then on matching offers it."""
    reason = require_reason(reason)
    async with transaction():
        alliance = await repo.get_alliance(alliance_id, for_update=True)
        if alliance is None:
            raise AllianceNotFound()
        if alliance.status != "proposed":
            raise AllianceNotProposed()
        await repo.approve_alliance(alliance_id, decided_by=principal.user_id, reason=reason, now=clock.now())
        await audit.record(
            principal,
            "alliance.approve",
            "alliance",
            alliance_id,
            before={"status": "proposed"},
            after={"status": "approved"},
            reason=reason,
        )
        return _alliance_written(await repo.get_alliance(alliance_id))


async def add_alliance_member(principal: Principal, alliance_id: int, fields: dict) -> AllianceMemberRow:
    """The city adds an operator to an alliance from `joined_on` (today when left out, never in the past): it
    must be in good standing and listed for the category on that day and today. The database keeps one
    membership per operator and category at a time, so two requests adding it at once leave one."""
    reason = require_reason(fields["reason"])
    today = clock.today()
    joined_on = fields.get("joined_on") or today
    if joined_on < today:
        raise AllianceMemberDateInvalid(detail={"field": "joined_on"})
    category = fields["category"] if fields["role"] == "specialist" else "integrated"
    if fields["role"] == "specialist" and category == "integrated":
        raise AllianceMembersInvalid(detail={"field": "category", "operator_id": fields["operator_id"]})
    async with transaction():
        alliance = await repo.get_alliance(alliance_id)
        if alliance is None:
            raise AllianceNotFound()
        await check_categories([category])
        operator = await repo.get_operator(fields["operator_id"])
        if operator is None:
            raise OperatorNotFound()
        listed_now = await repo.listed_categories_on(operator.id, today)
        listed_then = await repo.listed_categories_on(operator.id, joined_on)
        if operator.registry_status not in GOOD_STANDING or category not in listed_now & listed_then:
            raise AllianceMemberNotListed(
                "联盟成员须在名录内，且在今天和加入日期均入库该服务类别（category）",
                detail={"field": "category", "operator_id": operator.id},
            )
        if await repo.membership_overlapping(alliance_id, operator.id, category, joined_on):
            raise AllianceMemberExists(detail={"field": "operator_id", "operator_id": operator.id})
        member = {"operator_id": operator.id, "role": fields["role"], "category": category, "joined_on": joined_on}
        try:
            member_id = await repo.insert_alliance_member(alliance_id, member)
        except (asyncpg.UniqueViolationError, asyncpg.ExclusionViolationError) as exc:
            raise AllianceMemberExists(detail={"field": "operator_id", "operator_id": operator.id}) from exc
        await audit.record(
            principal,
            "alliance.member_add",
            "alliance",
            alliance_id,
            reason=reason,
            before={"operator_id": operator.id, "category": category, "member": False},
            after={**member, "member_id": member_id, "joined_on": joined_on.isoformat()},
        )
        return _member_written(await repo.get_alliance_member(alliance_id, member_id, today))


def _member_written(row: AllianceMemberRow | None) -> AllianceMemberRow:
    if row is None:
        raise LookupError("a membership written in this transaction is missing")
    return row


async def record_member_leaving(
    principal: Principal, alliance_id: int, member_id: int, left_on: date, reason: str
) -> AllianceMemberRow:
    """The city records that a member leaves the alliance on `left_on` (not in the past, after it joined), and
    why. From that day it drops out of matching, allocation and the standing flags; the lead's integrated
    place cannot be left."""
    reason = require_reason(reason)
    today = clock.today()
    async with transaction():
        alliance = await repo.get_alliance(alliance_id)
        if alliance is None:
            raise AllianceNotFound()
        member = await repo.get_alliance_member(alliance_id, member_id, today, for_update=True)
        if member is None:
            raise AllianceMemberNotFound()
        if member.left_on is not None:
            raise AllianceMemberAlreadyLeft()
        if member.operator_id == alliance.lead_id and member.role == "integrated":
            raise AllianceLeadCannotLeave(detail={"field": "member_id"})
        if left_on < today or left_on <= member.joined_on:
            raise AllianceMemberDateInvalid(
                "退出日期（left_on）不能早于今天，且须晚于加入日期", detail={"field": "left_on"}
            )
        await repo.record_member_leaving(member_id, left_on, reason)
        await audit.record(
            principal,
            "alliance.member_leave",
            "alliance",
            alliance_id,
            reason=reason,
            before={"member_id": member_id, "operator_id": member.operator_id, "left_on": None},
            after={"member_id": member_id, "operator_id": member.operator_id, "left_on": left_on.isoformat()},
        )
        return _member_written(await repo.get_alliance_member(alliance_id, member_id, today))


async def list_alliances(status: str | None, limit: int, offset: int) -> tuple[list[AllianceRow], int]:
    return await with_total(lambda lim, off: repo.list_alliances(status, lim, off), limit, offset)


def _flag(member: AllianceMemberRow) -> AllianceFlag:
    if member.registry_status not in GOOD_STANDING:
        text = f"成员{member.operator_name}已{REGISTRY_STATUS_LABELS[member.registry_status]}，不再参与新的推荐"
    else:
        text = f"成员{member.operator_name}的{member.category}类别名录入库已失效，不再参与新的推荐"
    return AllianceFlag(
        operator_id=member.operator_id, operator_name=member.operator_name, category=member.category, text=text
    )


async def alliance_page(alliance_id: int) -> tuple[AllianceRow, list[AllianceMemberRow], list[AllianceFlag]]:
    """The alliance, its current members, and a flag for each member no longer in good standing."""
    alliance = await repo.get_alliance(alliance_id)
    if alliance is None:
        raise AllianceNotFound()
    members = await repo.alliance_members([alliance_id], clock.today())
    return alliance, members, [_flag(m) for m in members if not member_in_good_standing(m)]


async def former_alliance_members(alliance_id: int) -> list[AllianceMemberRow]:
    """The alliance's members that have left, most recent first."""
    return await repo.former_alliance_members(alliance_id, clock.today())


async def approved_alliances(today: date) -> list[tuple[AllianceRow, list[AllianceMemberRow]]]:
    """For matching: approved alliances with their current members."""
    ids = await repo.approved_alliance_ids()
    if not ids:
        return []
    members = await repo.alliance_members(ids, today)
    result = []
    for alliance_id in ids:
        alliance = await repo.get_alliance(alliance_id)
        if alliance is not None:
            result.append((alliance, [m for m in members if m.alliance_id == alliance_id]))
    return result
