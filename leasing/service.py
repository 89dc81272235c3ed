"""Leasing rules: who may register, list, apply, award and lease; rent invoices; figures for officials.

Rent paid posts to the community's ledger through market's service; market knows leases only through
`BALANCE_COMMITMENTS` and `COMMUNITY_REPORT_SECTIONS` below.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg
import msgspec

from core import clock
from core.accounts import repository as accounts_repo
from core.accounts.principal import OFFICIAL_ROLES, Principal, like_patterns
from core.accounts.tables import Role
from core.audit import service as audit
from core.cache.service import VersionedCache
from core.clock import add_months, month_start
from core.db import in_transaction, transaction
from core.errors import PermissionDenied, require_reason
from core.money import format_yuan
from core.outbox import service as outbox
from core.pagination import with_total
from core.payments import (
    CardDeclined,
    PaymentIntent,
    PaymentNotFound,
    PaymentRequestInvalid,
    PaymentsClient,
    PaymentServerUnavailable,
    SignatureInvalid,
    webhooks,
)
from core.settings import get_settings
from leasing import award, rent
from leasing import repository as repo
from leasing.errors import (
    AlreadyApplied,
    ApplicationInvalid,
    ApplicationNotFound,
    DepositAlreadySettled,
    DepositAmountInvalid,
    DepositLeaseInForce,
    DepositNotPaid,
    InvoiceNotFound,
    InvoiceNotPayable,
    LeaseNotFound,
    LeaseOverlap,
    LeaseStateInvalid,
    LeaseTermInvalid,
    LesseeNotEligible,
    ListingCriteriaInvalid,
    ListingNotFound,
    ListingNotOpen,
    ListingResultNotPublic,
    ListingTermsInvalid,
    ListingWindowOpen,
    NotPanelMember,
    OwnerNotInScope,
    PanelScoreDuplicate,
    PanelScoreInvalid,
    PaymentInProgress,
    PreferentialNeedsListedOperator,
    PreferentialNeedsPublicUse,
    SpaceAreaInvalid,
    SpaceListed,
    SpaceNotFound,
    SpaceNotIdle,
    SpaceNotManaged,
    SpaceUseInvalid,
    WebhookSignatureInvalid,
)
from leasing.labels import LEASE_STATUS_LABELS, USE_LABELS
from leasing.schemas import (
    ApplicationRow,
    CommunityFigures,
    DepositSettlementRow,
    FiguresRow,
    FiguresView,
    InvoiceRow,
    LeaseRow,
    ListingResult,
    ListingRow,
    PanelScoreView,
    PaymentRow,
    ResultEntry,
    SpaceRow,
)
from market import service as market
from market.balance import Commitment
from providers import repository as providers_repo
from providers.errors import OperatorNotFound

log = logging.getLogger(__name__)
T = TypeVar("T")

IN_GOOD_STANDING = ("listed", "warned")
PAYABLE = ("open", "overdue")
DECIDED = ("awarded", "not_awarded")  # the applications an award ranked
# How a paid invoice posts to the community's ledger, by invoice kind: a deposit received is held for the
# lessee, so it posts as other income, and its refund later as other cost.
LEDGER_POSTINGS = {"rent": ("rent", "租金"), "late_fee": ("rent", "逾期违约金"), "deposit": ("other_income", "押金")}


# Scope -----------------------------------------------------------------------------------------


Scoped = SpaceRow | ListingRow | LeaseRow | InvoiceRow


def _manages(principal: Principal, space: SpaceRow) -> bool:
    """Officials over the space's community, or the owner organisation itself."""
    return principal.can_write_path(space.community_path, *OFFICIAL_ROLES) or (
        space.owner_org_id in principal.org_ids(Role.owner)
    )


def _can_read(principal: Principal, row: Scoped) -> bool:
    return principal.can_read_path(row.community_path) or row.owner_org_id in principal.org_ids(Role.owner)


def _can_read_as_party(principal: Principal, row: LeaseRow | InvoiceRow) -> bool:
    """A lease or invoice: its readers, and the lessee itself."""
    return _can_read(principal, row) or row.lessee_org_id in principal.org_ids(Role.operator)


def _scope(principal: Principal) -> tuple[list[str], list[int]]:
    """(community path patterns, owner or operator org ids) a principal reads leasing rows through."""
    return like_patterns(principal.read_paths()), principal.org_ids(Role.owner, Role.operator)


# Spaces ----------------------------------------------------------------------------------------


async def register_space(principal: Principal, fields: dict[str, Any]) -> SpaceRow:
    """An owner registers a space in a community of its district; a street office one in its own scope."""
    _check_area(fields)
    community = (
        await market.get_community(principal, fields["community_id"])
        if principal.has_role(*OFFICIAL_ROLES, Role.auditor)
        else None
    )
    owner_orgs = [g for g in principal.grants if g.role == Role.owner]
    if community is not None and principal.can_write_path(community.org_path, *OFFICIAL_ROLES):
        owner_org_id = fields.get("owner_org_id") or market.posting_org(principal, community.org_path)
        owner = await accounts_repo.get_org(owner_org_id)
        if owner is None or not principal.can_write_path(owner.path, *OFFICIAL_ROLES):
            raise OwnerNotInScope()
    elif owner_orgs:
        community = await market.community_for_owner(fields["community_id"], [g.org_path for g in owner_orgs])
        owner_org_id = owner_orgs[0].org_id
    else:
        raise SpaceNotManaged()
    fields = {**fields, "owner_org_id": owner_org_id}
    async with transaction():
        space_id = await repo.insert_space(fields, created_by=principal.user_id, now=clock.now())
        await audit.record(principal, "space.create", "space", space_id, after=fields)
        return await _written(repo.get_space(space_id))


async def _written(read: Awaitable[T | None]) -> T:
    """A row written or locked in this transaction, read back: it cannot be missing."""
    row = await read
    if row is None:
        raise LookupError("a row written in this transaction is missing")
    return row


def _check_area(fields: dict[str, Any]) -> None:
    if "area_m2" in fields and not Decimal(0) < fields["area_m2"] < Decimal(10**8):
        raise SpaceAreaInvalid()


async def _readable_space(principal: Principal, space_id: int, *, for_update: bool = False) -> SpaceRow:
    space = await repo.get_space(space_id, for_update=for_update)
    if space is None or not _can_read(principal, space):
        raise SpaceNotFound()
    return space


async def get_space(principal: Principal, space_id: int) -> SpaceRow:
    return await _readable_space(principal, space_id)


async def list_spaces(
    principal: Principal, *, community_id: int | None, status: str | None, limit: int, offset: int
) -> tuple[list[SpaceRow], int]:
    patterns = like_patterns(principal.read_paths())
    owner_orgs = principal.org_ids(Role.owner)
    return await with_total(
        lambda lim, off: repo.list_spaces(
            patterns=patterns, owner_org_ids=owner_orgs, community_id=community_id, status=status, limit=lim, offset=off
        ),
        limit,
        offset,
    )


async def update_space(principal: Principal, space_id: int, changes: dict[str, Any]) -> SpaceRow:
    _check_area(changes)
    async with transaction():
        space = await _readable_space(principal, space_id, for_update=True)
        if not _manages(principal, space):
            raise SpaceNotManaged()
        if (
            "allowed_uses" in changes
            and space.status == "listed"
            and await repo.open_listing_track(space_id) == "preferential"
        ):
            _check_preferential_uses(changes["allowed_uses"])
        before = {k: getattr(space, k) for k in changes}
        await repo.update_space(space_id, changes, clock.now())
        await audit.record(principal, "space.update", "space", space_id, before=before, after=changes)
        return await _written(repo.get_space(space_id))


# Listings --------------------------------------------------------------------------------------


def _value(value: Any) -> Any:
    """An enum member's value; anything else as it is."""
    return getattr(value, "value", value)


def _check_terms(terms: dict[str, Any]) -> None:
    problems = []
    if terms["min_term_months"] > terms["max_term_months"]:
        problems.append("最短租期不能长于最长租期")
    if terms["opens_on"] >= terms["closes_on"]:
        problems.append("申请截止日期须晚于开始日期")
    if not Decimal(0) <= terms["public_welfare_discount"] <= Decimal(1):
        problems.append("公益折扣须在 0 至 1 之间")
    if problems:
        raise ListingTermsInvalid("；".join(problems), detail={"problems": problems})


def _check_preferential_uses(allowed_uses: list[str]) -> None:
    """A preferential listing takes only public-service uses: a space that allows none could never be let."""
    if not rent.PUBLIC_SERVICE_USES & set(allowed_uses):
        raise PreferentialNeedsPublicUse(
            detail={"allowed_uses": allowed_uses, "public_service_uses": sorted(rent.PUBLIC_SERVICE_USES)}
        )


async def create_listing(principal: Principal, space_id: int, terms: dict[str, Any]) -> ListingRow:
    _check_terms(terms)
    track = _value(terms["track"])
    weights = terms.get("criteria") or award.DEFAULT_WEIGHTS[track]
    problems = award.weight_problems(track, weights)
    if problems:
        raise ListingCriteriaInvalid("；".join(problems), detail={"field": "criteria", "problems": problems})
    terms = {**terms, "criteria": weights}
    async with transaction():
        space = await _readable_space(principal, space_id, for_update=True)
        if not _manages(principal, space):
            raise SpaceNotManaged()
        if space.status != "idle":
            raise SpaceNotIdle()
        if terms["track"] == "preferential":
            _check_preferential_uses(space.allowed_uses)
        listing_id = await repo.insert_listing(space_id, terms, created_by=principal.user_id, now=clock.now())
        await repo.set_space_status(space_id, "listed", clock.now())
        await audit.record(principal, "listing.create", "listing", listing_id, after={"space_id": space_id, **terms})
        return await _written(repo.get_listing(listing_id))


async def _readable_listing(principal: Principal, listing_id: int, *, for_update: bool = False) -> ListingRow:
    listing = await repo.get_listing(listing_id, for_update=for_update)
    if listing is None:
        raise ListingNotFound()
    if _can_read(principal, listing) or (principal.has_role(Role.operator) and listing.status == "open"):
        return listing
    raise ListingNotFound()


async def get_listing(principal: Principal, listing_id: int) -> ListingRow:
    return await _readable_listing(principal, listing_id)


async def list_listings(
    principal: Principal, *, status: str | None, limit: int, offset: int
) -> tuple[list[ListingRow], int]:
    """Operators browse every open listing; officials and owners see theirs in any state; an official or
    owner who is also an operator gets both."""
    open_anywhere = principal.has_role(Role.operator)
    patterns: list[str] | None
    if principal.has_role(*OFFICIAL_ROLES, Role.auditor, Role.owner):
        patterns, owner_orgs = like_patterns(principal.read_paths()), principal.org_ids(Role.owner)
    elif open_anywhere:
        patterns, owner_orgs, status = None, [], "open"
    else:
        raise PermissionDenied()
    return await with_total(
        lambda lim, off: repo.list_listings(
            patterns=patterns,
            owner_org_ids=owner_orgs,
            status=status,
            limit=lim,
            offset=off,
            open_anywhere=open_anywhere,
        ),
        limit,
        offset,
    )


async def cancel_listing(principal: Principal, listing_id: int, reason: str) -> ListingRow:
    reason = require_reason(reason)
    async with transaction():
        listing = await _readable_listing(principal, listing_id, for_update=True)
        space = await _written(repo.get_space(listing.space_id, for_update=True))
        if not _manages(principal, space):
            raise SpaceNotManaged()
        if listing.status != "open":
            raise ListingNotOpen()
        await repo.set_listing_status(listing_id, "cancelled")
        await repo.set_space_status(space.id, "idle", clock.now())
        await repo.decide_applications(listing_id, awarded_id=None, reason="")
        await audit.record(
            principal,
            "listing.cancel",
            "listing",
            listing_id,
            reason=reason,
            before={"status": listing.status},
            after={"status": "cancelled"},
        )
        return await _written(repo.get_listing(listing_id))


# Applications ----------------------------------------------------------------------------------


async def apply(principal: Principal, listing_id: int, fields: dict[str, Any]) -> ApplicationRow:
    """An operator applies with its proposed use, rent and plan, within the application window."""
    operator = await providers_repo.operator_for_org(principal.org_ids(Role.operator)[0])
    if operator is None:
        raise OperatorNotFound()
    listing = await _readable_listing(principal, listing_id)
    today = clock.today()
    if listing.status != "open" or not listing.opens_on <= today < listing.closes_on:
        raise ListingNotOpen()
    problems = []
    if fields["proposed_use"] not in listing.allowed_uses:
        raise SpaceUseInvalid(detail={"allowed": listing.allowed_uses})
    if not listing.min_term_months <= fields["term_months"] <= listing.max_term_months:
        problems.append(f"租期须在 {listing.min_term_months} 至 {listing.max_term_months} 个月之间")
    if listing.track == "competitive" and fields["proposed_rent_per_m2_month"] < listing.rent_per_m2_month:
        problems.append("竞争性租赁的报价不能低于挂牌租金")
    if problems:
        raise ApplicationInvalid("；".join(problems), detail={"problems": problems})
    if listing.track == "preferential":
        await _check_preferential_applicant(
            operator.id, operator.registry_status.value, _value(fields["proposed_use"]), _earliest_start(listing)
        )
        fields = {**fields, "proposed_rent_per_m2_month": listing.rent_per_m2_month}
    async with transaction():
        try:
            application_id = await repo.insert_application(
                listing_id, operator.id, fields, created_by=principal.user_id, now=clock.now()
            )
        except asyncpg.UniqueViolationError as exc:
            raise AlreadyApplied() from exc
        await audit.record(
            principal,
            "lease_application.create",
            "listing",
            listing_id,
            after={"application_id": application_id, **fields},
        )
        return await _written(repo.get_application(application_id))


def _earliest_start(listing: ListingRow) -> date:
    """The first day a lease from the listing can start: the month after its application window closes."""
    return add_months(month_start(listing.closes_on), 1)


async def _check_preferential_applicant(operator_id: int, registry_status: str, use: str, starts_on: date) -> None:
    """The preferential track is for operators in good standing whose registry listing is still valid when the
    lease starts, for a public-service use."""
    listings = await providers_repo.listings_for(operator_id)
    listed_then = any(entry.valid_from <= starts_on < entry.valid_until for entry in listings)
    if registry_status not in IN_GOOD_STANDING or not listed_then or use not in rent.PUBLIC_SERVICE_USES:
        raise PreferentialNeedsListedOperator(
            detail={"registry_status": registry_status, "listed_on": starts_on, "proposed_use": use}
        )


def _ranking(
    listing: ListingRow,
    applications: list[ApplicationRow],
    panel: list[PanelScoreView],
    statuses: tuple[str, ...] = ("submitted",),
) -> list[award.Ranked]:
    """The applications in `statuses` (those still in the running, by default) ranked by the published
    weights and the panel's scores."""
    by_application: dict[int, list[dict[str, int]]] = {}
    for score in panel:
        by_application.setdefault(score.application_id, []).append(score.scores)
    candidates = [
        award.Candidate(a.id, a.proposed_rent_per_m2_month, by_application.get(a.id, []))
        for a in applications
        if a.status in statuses
    ]
    return award.rank(listing.track.value, listing.criteria, candidates)


def _with_ranking(applications: list[ApplicationRow], ranking: list[award.Ranked]) -> list[ApplicationRow]:
    placed = {r.application_id: r for r in ranking}
    result = []
    for a in applications:
        ranked = placed.get(a.id)
        if ranked is not None:
            a = msgspec.structs.replace(a, score=ranked.total, rank=ranked.rank, reasons=ranked.reasons)
        result.append(a)
    return sorted(result, key=lambda a: (a.rank is None, a.rank or 0, a.id))


async def ranked_applications(principal: Principal, listing_id: int) -> list[ApplicationRow]:
    """Officials see every application ranked by the published criteria and the panel's scores so far; an
    operator sees its own."""
    listing = await _readable_listing(principal, listing_id)
    if not _can_read(principal, listing):
        return await repo.applications_for(listing_id, operator_org_ids=principal.org_ids(Role.operator))
    applications = await repo.applications_for(listing_id)
    if listing.status != "open":  # decided: the ranking kept at the award
        return sorted(applications, key=lambda a: (a.rank is None, a.rank or 0, a.id))
    return _with_ranking(applications, _ranking(listing, applications, await repo.panel_scores(listing_id)))


def _is_panel_member(principal: Principal, listing: ListingRow) -> bool:
    return any(g.role == Role.street and g.org_id == listing.street_id for g in principal.grants)


async def score_application(
    principal: Principal, listing_id: int, application_id: int, scores: dict[str, int], comment: str
) -> PanelScoreView:
    """A member of the street's panel scores one application on each criterion the panel judges, once, after
    the application window has closed."""
    async with transaction():
        listing = await _readable_listing(principal, listing_id)
        if not _is_panel_member(principal, listing):
            raise NotPanelMember()
        application = await repo.get_application(application_id)
        if application is None or application.listing_id != listing_id:
            raise ApplicationNotFound()
        if listing.status != "open" or application.status != "submitted":
            raise ListingNotOpen()
        if clock.today() < listing.closes_on:
            raise ListingWindowOpen(detail={"closes_on": listing.closes_on})
        problems = award.score_problems(listing.track.value, scores)
        if problems:
            raise PanelScoreInvalid("；".join(problems), detail={"field": "scores", "problems": problems})
        try:
            filed = await repo.insert_panel_score(application_id, principal.user_id, scores, comment, clock.now())
        except asyncpg.UniqueViolationError as exc:
            raise PanelScoreDuplicate() from exc
        await audit.record(
            principal,
            "lease_application.score",
            "listing",
            listing_id,
            after={"application_id": application_id, "scores": scores, "comment": comment},
        )
        return filed


async def public_result(listing_id: int) -> ListingResult:
    """The result of an awarded listing, for anyone: the ranking with scores, the winner and the street's
    reason when it passed over the first."""
    listing = await repo.get_listing(listing_id)
    if listing is None:
        raise ListingNotFound()
    if listing.status != "awarded":
        raise ListingResultNotPublic()
    applications = [a for a in await repo.applications_for(listing_id) if a.status in DECIDED]
    # Recomputed from the panel's scores, which cannot change once the listing is awarded.
    ranking = _ranking(listing, applications, await repo.panel_scores(listing_id), statuses=DECIDED)
    names = {a.id: a.operator_name for a in applications}
    awarded = {a.id for a in applications if a.status == "awarded"}
    return ListingResult(
        listing_id=listing.id,
        community_name=listing.community_name,
        address=listing.address,
        area_m2=listing.area_m2,
        track=listing.track,
        track_label=listing.track_label,
        rent_per_m2_month=listing.rent_per_m2_month,
        criteria=listing.criteria,
        closes_on=listing.closes_on,
        awarded_at=listing.awarded_at,
        winner=next((names[i] for i in awarded), ""),
        override_reason=listing.override_reason,
        ranking=[
            ResultEntry(
                rank=r.rank,
                application_id=r.application_id,
                operator_name=names[r.application_id],
                score=r.total,
                criteria=r.criteria,
                panel_size=r.panel_size,
                awarded=r.application_id in awarded,
            )
            for r in ranking
        ],
    )


# Award and leases ------------------------------------------------------------------------------


def _lease_fields(
    space: SpaceRow,
    listing: ListingRow,
    application: ApplicationRow,
    starts_on: date,
    payment_day: int,
    late_fee_bp_per_day: int = 0,
) -> dict[str, Any]:
    monthly = rent.monthly_rent(
        application.proposed_rent_per_m2_month,
        space.area_m2,
        application.proposed_use,
        listing.public_welfare_discount,
    )
    return {
        "space_id": space.id,
        "lessee_id": application.operator_id,
        "listing_id": listing.id,
        "application_id": application.id,
        "use": application.proposed_use,
        "starts_on": starts_on,
        "ends_on": clock.add_months(starts_on, application.term_months),
        "monthly_rent": monthly,
        "deposit": monthly * listing.deposit_months,
        "rent_free_months": listing.rent_free_months,
        "payment_day": payment_day,
        "late_fee_bp_per_day": late_fee_bp_per_day,
    }


async def _insert_lease(principal: Principal, fields: dict[str, Any]) -> int:
    try:
        lease_id = await repo.insert_lease(fields, created_by=principal.user_id, now=clock.now())
    except asyncpg.ExclusionViolationError as exc:
        raise LeaseOverlap(
            detail={"space_id": fields["space_id"], "starts_on": fields["starts_on"], "ends_on": fields["ends_on"]}
        ) from exc
    if fields["ends_on"] > clock.today():  # a lease recorded after it ended leaves the space as it is
        await repo.set_space_status(fields["space_id"], "leased", clock.now())
    return lease_id


async def award_listing(
    principal: Principal,
    listing_id: int,
    application_id: int,
    *,
    reason: str,
    starts_on: date | None,
    payment_day: int,
    late_fee_bp_per_day: int = 0,
) -> LeaseRow:
    """The street office awards one application with a reason; the lease is signed in the same
    transaction and every other applicant is told by email."""
    reason = require_reason(reason)
    async with transaction():
        listing = await _readable_listing(principal, listing_id, for_update=True)
        space = await _written(repo.get_space(listing.space_id, for_update=True))
        if not principal.can_write_path(space.community_path, *OFFICIAL_ROLES):
            raise SpaceNotManaged()
        if listing.status != "open":
            raise ListingNotOpen()
        if clock.today() < listing.closes_on:
            raise ListingWindowOpen(detail={"closes_on": listing.closes_on})
        applications = await repo.applications_for(listing_id)
        chosen = next((a for a in applications if a.id == application_id and a.status == "submitted"), None)
        if chosen is None:
            raise ApplicationNotFound()
        start = starts_on or add_months(month_start(clock.today()), 1)
        _check_lease_term(start, add_months(start, 1), payment_day)
        if start < clock.today():
            raise LeaseTermInvalid("起租日期不能早于今天")
        if listing.track == "preferential":
            await _check_preferential_applicant(
                chosen.operator_id, chosen.registry_status, chosen.proposed_use.value, start
            )
        ranking = _ranking(listing, applications, await repo.panel_scores(listing_id))
        await repo.set_application_ranks({r.application_id: (r.total, r.rank) for r in ranking})
        # The first-ranked is awarded as published; anyone else only for the reason given, which is public.
        override_reason = "" if ranking[0].application_id == application_id else reason
        fields = _lease_fields(space, listing, chosen, start, payment_day, late_fee_bp_per_day)
        lease_id = await _insert_lease(principal, fields)
        await repo.decide_applications(listing_id, application_id, reason)
        await repo.set_listing_awarded(listing_id, override_reason, clock.now())
        await audit.record(
            principal,
            "listing.award",
            "listing",
            listing_id,
            reason=reason,
            before={"status": "open"},
            after={
                "status": "awarded",
                "application_id": application_id,
                "lease_id": lease_id,
                "first_ranked": ranking[0].application_id,
                "override_reason": override_reason,
                "ranking": [{"application_id": r.application_id, "rank": r.rank, "score": r.total} for r in ranking],
            },
        )
        for other in applications:
            if other.status != "submitted":
                continue
            won = other.id == application_id
            await outbox.enqueue(
                other.contact_email,
                f"【租赁结果】{space.address}：{'中选' if won else '未中选'}",
                f"{other.operator_name}：\n\n您对{listing.community_name}{space.address}的租赁申请"
                f"{'已中选，租约已生成，请登录查看租约与账单。' if won else '未中选。感谢参与。'}\n\n说明：{reason}",
                dedupe_key=f"lease-award:{listing_id}:application:{other.id}",
            )
        return await _written(repo.get_lease(lease_id))


def _check_lease_term(starts_on: date, ends_on: date, payment_day: int = 10) -> None:
    if starts_on >= ends_on:
        raise LeaseTermInvalid()
    if not 1 <= payment_day <= 28:
        raise LeaseTermInvalid("缴费日须在每月 1 日至 28 日之间")


async def create_lease(principal: Principal, fields: dict[str, Any]) -> LeaseRow:
    """A lease agreed outside a listing (an agreement, or one carried over from paper)."""
    _check_lease_term(fields["starts_on"], fields["ends_on"], fields["payment_day"])
    async with transaction():
        space = await _readable_space(principal, fields["space_id"])
        if not principal.can_write_path(space.community_path, *OFFICIAL_ROLES):
            raise SpaceNotManaged()
        if fields["use"] not in space.allowed_uses:
            raise SpaceUseInvalid(detail={"allowed": space.allowed_uses})
        if space.status == "listed":
            raise SpaceListed()
        operator = await providers_repo.get_operator(fields["lessee_id"])
        if operator is None:
            raise OperatorNotFound()
        if operator.registry_status.value in ("suspended", "removed"):
            raise LesseeNotEligible()
        lease_id = await _insert_lease(principal, fields)
        await audit.record(principal, "lease.create", "lease", lease_id, after=fields)
        return await _written(repo.get_lease(lease_id))


async def _readable_lease(principal: Principal, lease_id: int, *, for_update: bool = False) -> LeaseRow:
    lease = await repo.get_lease(lease_id, for_update=for_update)
    if lease is None or not _can_read_as_party(principal, lease):
        raise LeaseNotFound()
    return lease


async def get_lease(principal: Principal, lease_id: int) -> LeaseRow:
    return await _readable_lease(principal, lease_id)


async def list_leases(
    principal: Principal, *, space_id: int | None, status: str | None, limit: int, offset: int
) -> tuple[list[LeaseRow], int]:
    patterns, org_ids = _scope(principal)
    return await with_total(
        lambda lim, off: repo.list_leases(
            patterns=patterns, org_ids=org_ids, space_id=space_id, status=status, limit=lim, offset=off
        ),
        limit,
        offset,
    )


async def _lease_for_officials(principal: Principal, lease_id: int) -> LeaseRow:
    lease = await _readable_lease(principal, lease_id, for_update=True)
    if not principal.can_write_path(lease.community_path, *OFFICIAL_ROLES):
        raise SpaceNotManaged()
    return lease


async def renew_lease(
    principal: Principal, lease_id: int, *, ends_on: date, monthly_rent: int | None, reason: str
) -> LeaseRow:
    reason = require_reason(reason)
    async with transaction():
        lease = await _lease_for_officials(principal, lease_id)
        if lease.status not in ("active", "expiring"):
            raise LeaseStateInvalid()
        _check_lease_term(lease.ends_on, ends_on)
        successor = {
            "space_id": lease.space_id,
            "lessee_id": lease.lessee_id,
            "listing_id": lease.listing_id,
            "application_id": lease.application_id,
            "use": lease.use,
            "starts_on": lease.ends_on,
            "ends_on": ends_on,
            "monthly_rent": lease.monthly_rent if monthly_rent is None else monthly_rent,
            "deposit": lease.deposit,
            "rent_free_months": 0,
            "payment_day": lease.payment_day,
            "late_fee_bp_per_day": lease.late_fee_bp_per_day,
            "renewal_of": lease_id,
        }
        try:
            successor_id = await _insert_lease(principal, successor)
        except asyncpg.UniqueViolationError as exc:
            raise LeaseStateInvalid() from exc
        await repo.update_lease(lease_id, {"status": "renewed"}, clock.now())
        await audit.record(
            principal,
            "lease.renew",
            "lease",
            lease_id,
            reason=reason,
            before={"status": lease.status},
            after={"status": "renewed", "successor_id": successor_id, **successor},
        )
        return await _written(repo.get_lease(successor_id))


async def terminate_lease(principal: Principal, lease_id: int, *, reason: str, effective_on: date | None) -> LeaseRow:
    """Ends a lease early: its term stops on `effective_on` (default today), invoices for later months are
    voided, the last month is billed by the day, and no more are generated. The space is idle again from
    that day (`end_leases` frees it when the day is later)."""
    reason = require_reason(reason)
    async with transaction():
        lease = await _lease_for_officials(principal, lease_id)
        if lease.status not in ("active", "expiring"):
            raise LeaseStateInvalid()
        effective = effective_on or clock.today()
        if effective < clock.today() or effective >= lease.ends_on:
            raise LeaseTermInvalid("终止日期须在今天至租约到期日之间")
        if effective <= lease.starts_on:
            effective = lease.starts_on + timedelta(days=1)  # a lease never shrinks to nothing
        await repo.update_lease(
            lease_id,
            {
                "status": "terminated",
                "ends_on": effective,
                "terminated_at": clock.now(),
                "terminated_by": principal.user_id,
                "termination_reason": reason,
            },
            clock.now(),
        )
        first_unbilled = month_start(effective) if effective.day == 1 else add_months(month_start(effective), 1)
        voided = await repo.void_invoices_from(lease_id, first_unbilled)
        if effective.day != 1:  # the last month is billed for the days the lease still ran
            last = rent.invoice_for(
                rent.LeaseTerms(
                    lease.starts_on,
                    effective,
                    lease.monthly_rent,
                    lease.rent_free_months,
                    lease.payment_day,
                ),
                month_start(effective),
            )
            await repo.reprice_unpaid_invoice(lease_id, month_start(effective), last.amount if last else 0)
        if effective <= clock.today():
            await repo.set_space_status(lease.space_id, "idle", clock.now())
        await audit.record(
            principal,
            "lease.terminate",
            "lease",
            lease_id,
            reason=reason,
            before={"status": lease.status, "ends_on": lease.ends_on},
            after={"status": "terminated", "ends_on": effective, "voided_invoices": voided},
        )
        return await _written(repo.get_lease(lease_id))


# Invoices --------------------------------------------------------------------------------------


async def generate_invoices(through: date | None = None) -> int:
    """Every missing invoice up to the month of `through` (default today), for every lease; running it
    again creates nothing. One query and one insert, whatever the number of leases."""
    through = through or clock.today()
    lines = []
    for due in await repo.leases_to_bill(through):
        terms = rent.LeaseTerms(due.starts_on, due.ends_on, due.monthly_rent, due.rent_free_months, due.payment_day)
        billed = rent.invoices_through(terms, through, after=due.last_month)
        lines += [(due.id, line.month, line.amount, line.due_on, "rent") for line in billed]
        if due.last_month is None and billed and due.deposit > 0:
            # The deposit is billed with the lease's first rent, as an invoice of its own due the same day.
            lines.append((due.id, billed[0].month, due.deposit, billed[0].due_on, "deposit"))
    if not lines:
        return 0
    async with transaction():
        return await repo.insert_invoices(lines, clock.now())


async def end_leases() -> dict[str, int]:
    """Nightly: leases whose term is over are ended, their spaces idle again unless another lease covers
    today; leases ending within 90 days are marked expiring."""
    today = clock.today()
    async with transaction():
        ended = await repo.end_leases(today, clock.now())
        freed = await repo.free_spaces_without_current_lease(today, clock.now())
        expiring = await repo.mark_expiring_leases(today, today + timedelta(days=90), clock.now())
    return {"ended": len(ended), "spaces_freed": len(freed), "expiring": len(expiring)}


async def mark_overdue_invoices() -> list[int]:
    async with transaction():
        return await repo.mark_overdue(clock.today())


async def charge_late_fees() -> int:
    """Nightly, after marking arrears: each overdue rent invoice of a lease with a late-payment rate gets its
    interest as a separate invoice, recomputed from the rent principal and the days past due (never interest
    on interest); the fee stops changing once paid. Returns how many fees were created or changed."""
    today = clock.today()
    lines = []
    for overdue in await repo.overdue_rent_with_late_fees():
        fee = rent.late_fee(overdue.amount, overdue.late_fee_bp_per_day, overdue.due_on, today)
        if fee > 0:
            lines.append((overdue.id, overdue.lease_id, overdue.month, fee, today))
    async with transaction():
        return await repo.upsert_late_fees(lines, clock.now())


async def _readable_invoice(principal: Principal, invoice_id: int, *, for_update: bool = False) -> InvoiceRow:
    invoice = await repo.get_invoice(invoice_id, for_update=for_update)
    if invoice is None or not _can_read_as_party(principal, invoice):
        raise InvoiceNotFound()
    return invoice


async def get_invoice(principal: Principal, invoice_id: int) -> InvoiceRow:
    return await _readable_invoice(principal, invoice_id)


async def list_invoices(
    principal: Principal, *, lease_id: int | None, status: str | None, limit: int, offset: int
) -> tuple[list[InvoiceRow], int]:
    patterns, org_ids = _scope(principal)
    return await with_total(
        lambda lim, off: repo.list_invoices(
            patterns=patterns, org_ids=org_ids, lease_id=lease_id, status=status, limit=lim, offset=off
        ),
        limit,
        offset,
    )


# Payments --------------------------------------------------------------------------------------
#
# A payment row (pending, with the key that is also the Idempotency-Key) is committed before the payment
# server is called, and no transaction is open during the call. Whatever happens to the answer, the row
# says an attempt exists: a second attempt on the invoice waits for it, and `reconcile_payments` settles
# it from the server's own record. Settling is idempotent: the invoice is paid and its rent posted to the
# community's ledger once, however many times a payment is settled.


async def _customer_for(lessee_id: int, lessee_name: str) -> str:
    """The payment server's customer for an operator, created on its first payment."""
    found = await repo.customer_ref(lessee_id)
    if found:
        return found
    async with PaymentsClient() as client:
        customer = await client.create_customer(
            name=lessee_name,
            metadata={"operator_id": lessee_id},
            idempotency_key=f"operator-{lessee_id}-customer",
        )
    async with transaction():
        return await repo.insert_customer(lessee_id, customer.id, clock.now())


def _describes(intent: PaymentIntent, payment: PaymentRow) -> bool:
    """Every intent we create carries our key in its metadata and the invoice's amount."""
    return intent.metadata.get("payment_key") == payment.idempotency_key and intent.amount == payment.amount


def _intent_failure(intent: PaymentIntent | None) -> tuple[str, str]:
    """The decline code and message a declined intent carries."""
    if intent is None:
        return "", "支付被拒绝"
    return intent.decline_code or intent.last_error_code or "", intent.last_error_message or "支付被拒绝"


def _decline_text(code: str, message: str) -> str:
    return f"{message}（{code}）" if code else message


async def settle(
    payment_id: int, intent: PaymentIntent | None, *, failure: tuple[str, str] | None = None
) -> PaymentRow:
    """Apply what the payment server says about one payment: paid, declined (`failure`: code and message),
    or still in progress. Safe to call any number of times."""
    invoice_id = (await _written(repo.get_payment(payment_id))).invoice_id
    return await in_transaction(lambda: _settle(invoice_id, payment_id, intent, failure))


async def _settle(
    invoice_id: int, payment_id: int, intent: PaymentIntent | None, failure: tuple[str, str] | None
) -> PaymentRow:
    # The invoice is locked before its payment, as in `pay_invoice`: a new attempt, holding the invoice,
    # waits on the one-pending-payment index for this one, so the opposite order is a deadlock.
    invoice = await _written(repo.get_invoice(invoice_id, for_update=True))
    payment = await _written(repo.get_payment(payment_id, for_update=True))
    if payment.status != "pending":
        return payment
    if intent is not None and not _describes(intent, payment):
        intent = None  # an answer about some other payment says nothing about this one
    now = clock.now()
    if intent is not None and intent.succeeded:
        payment = await repo.settle_payment(
            payment_id, status="succeeded", intent_ref=intent.id, decline_code="", error_message="", now=now
        )
        if invoice.status == "void":
            # Paid while the lease was being ended: the money is held for a refund, not booked as rent.
            await audit.record(
                None,
                "invoice.paid_after_void",
                "rent_invoice",
                invoice.id,
                after={"payment_id": payment_id, "intent": intent.id, "amount": invoice.amount},
            )
        elif invoice.status != "paid":
            await repo.mark_invoice_paid(invoice.id, now)
            ledger_kind, what = LEDGER_POSTINGS[invoice.kind.value]
            await market.post_system_income(
                invoice.community_id,
                month=invoice.month,
                kind=ledger_kind,
                amount=invoice.amount,
                source=f"rent-invoice:{invoice.id}",
                note=f"{invoice.lessee_name} {invoice.month:%Y-%m} {what}（{invoice.address}）",
            )
        await audit.record(
            None,
            "invoice.paid",
            "rent_invoice",
            invoice.id,
            after={"payment_id": payment_id, "intent": intent.id, "amount": invoice.amount},
        )
    elif failure is not None or (intent is not None and intent.declined):
        code, message = failure or _intent_failure(intent)
        payment = await repo.settle_payment(
            payment_id,
            status="failed",
            intent_ref=intent.id if intent else None,
            decline_code=code,
            error_message=message,
            now=now,
        )
        await repo.set_invoice_decline(invoice_id, _decline_text(code, message))
    elif intent is not None:
        payment = await repo.settle_payment(
            payment_id, status="pending", intent_ref=intent.id, decline_code="", error_message="", now=now
        )
    return payment


async def pay_invoice(principal: Principal, invoice_id: int, payment_method: str) -> PaymentRow:
    """The lessee pays an invoice. A declined card leaves the invoice open with the reason on it; an
    unreachable payment server leaves the payment pending for `reconcile_payments`."""
    invoice = await _readable_invoice(principal, invoice_id)
    if invoice.lessee_org_id not in principal.org_ids(Role.operator):
        raise PermissionDenied("只有承租运营商可以缴纳租金")  # officials read the invoice, but do not pay it
    if invoice.status not in PAYABLE:
        raise InvoiceNotPayable()
    customer = await _customer_for(invoice.lessee_id, invoice.lessee_name)

    async def record_attempt() -> tuple[InvoiceRow, int, str]:
        invoice = await _written(repo.get_invoice(invoice_id, for_update=True))
        if invoice.status not in PAYABLE:
            raise InvoiceNotPayable()
        attempt = await repo.count_attempts(invoice_id) + 1
        # Unique beyond this database too (a restored backup, a second environment on one account).
        key = f"rent-invoice-{invoice_id}-attempt-{attempt}-{uuid.uuid4().hex[:12]}"
        try:
            payment = await repo.insert_payment(
                invoice_id, attempt, key, invoice.amount, created_by=principal.user_id, now=clock.now()
            )
        except asyncpg.UniqueViolationError as exc:
            raise PaymentInProgress() from exc
        await audit.record(principal, "invoice.pay", "rent_invoice", invoice_id, after={"payment_key": key})
        return invoice, payment.id, key

    invoice, payment_id, key = await in_transaction(record_attempt)
    try:
        async with PaymentsClient() as client:
            intent = await client.create_payment_intent(
                invoice.amount,
                customer=customer,
                payment_method=payment_method,
                confirm=True,
                metadata={"payment_key": key, "invoice_id": invoice_id},
                idempotency_key=key,
            )
    except CardDeclined as exc:
        await settle(payment_id, exc.payment_intent, failure=(exc.decline_code, exc.message))
        raise
    except PaymentServerUnavailable:
        # pending: settled later from the server's record
        return await _written(repo.get_payment(payment_id))
    except PaymentRequestInvalid as exc:
        await settle(payment_id, None, failure=(exc.code, exc.message))
        raise
    payment = await settle(payment_id, intent)
    if payment.status == "pending" and intent.next_action:
        # The payer authenticates (3-D Secure) with these; the webhook or reconcile settles the payment after.
        return msgspec.structs.replace(payment, client_secret=intent.client_secret, next_action=intent.next_action)
    return payment


async def payments_of(principal: Principal, invoice_id: int) -> list[PaymentRow]:
    await _readable_invoice(principal, invoice_id)
    return await repo.payments_for_invoice(invoice_id)


async def reconcile_payments(*, older_than: timedelta = timedelta(minutes=1), limit: int = 500) -> dict[str, int]:
    """Settle payments left pending (the answer was lost, or the server was down) from the server's own
    record of the payment intent carrying our key. Nothing found there means the call never arrived: the
    attempt failed and the operator may pay again."""
    settled = {"succeeded": 0, "failed": 0, "pending": 0}
    pending = await repo.pending_payments(clock.now() - older_than, limit)
    if not pending:
        return settled
    async with PaymentsClient() as client:
        # Without a search API, the server's intents are read once and matched to our keys here.
        by_key: dict[str, list[PaymentIntent]] = {}
        if any(not payment.intent_ref for payment in pending):
            async for listed in client.iter_payment_intents():
                by_key.setdefault(listed.metadata.get("payment_key") or "", []).append(listed)
        for payment in pending:
            if payment.intent_ref:
                intents = [await client.retrieve_payment_intent(payment.intent_ref)]
            else:
                intents = by_key.get(payment.idempotency_key, [])
            found = next((i for i in intents if i.succeeded), intents[0] if intents else None)
            if found is None:
                result = await settle(payment.id, None, failure=("not_received", "支付请求未送达支付机构，请重新支付"))
            else:
                result = await settle(payment.id, found)
            settled[result.status.value] += 1
    return settled


PAYMENT_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled")


def _event_object_id(event: dict) -> str | None:
    data = event.get("data")
    found = data.get("object") if isinstance(data, dict) else None
    object_id = found.get("id") if isinstance(found, dict) else None
    return object_id if isinstance(object_id, str) and object_id else None


async def handle_webhook(payload: bytes, signature: str | None) -> str:
    """A payment-server event: verified, recorded once by id, and acted on only after re-reading the
    payment intent from the server (events arrive late, twice, or out of order)."""
    try:
        event = webhooks.verify(payload, signature, get_settings().stripe_webhook_secret)
    except SignatureInvalid as exc:
        raise WebhookSignatureInvalid() from exc
    if await repo.webhook_event_seen(event["id"]):
        return "duplicate"
    intent_id = _event_object_id(event)
    outcome = "processed"
    if event["type"] in PAYMENT_EVENTS and intent_id:  # an event naming no intent has nothing to act on
        try:
            async with PaymentsClient() as client:
                intent = await client.retrieve_payment_intent(intent_id)
        except PaymentNotFound:
            intent = None
        payment = intent and await repo.payment_for_intent(intent.id, intent.metadata.get("payment_key"))
        if payment:
            await settle(payment.id, intent)
        else:
            # Not ours (another system on the account, or made up by the sender): an error answer would only
            # have the sender deliver it again for days.
            log.warning(
                "payment event %s (%s) ignored: payment intent %s is %s",
                event["id"],
                event["type"],
                intent_id,
                "not one of our payments" if intent else "unknown to the payment server",
            )
            outcome = "ignored"
    async with transaction():
        first = await repo.record_webhook_event(event["id"], event["type"], clock.now())
    return outcome if first else "duplicate"


# Deposits --------------------------------------------------------------------------------------
#
# At the end of a lease the street settles its deposit: what it retains (with a reason) stays in the
# community's ledger as the deposit's income; the rest is refunded on the payment intent that paid it and
# posts to the ledger as a cost. The settlement row is committed before the payment server is called, and
# a lease has one: two refunds of one deposit at once pay once.


async def settle_deposit(
    principal: Principal, lease_id: int, *, retained_amount: int, reason: str
) -> DepositSettlementRow:
    async with transaction():
        lease = await _lease_for_officials(principal, lease_id)
        if lease.status not in ("terminated", "ended"):
            raise DepositLeaseInForce(detail={"status": lease.status.value})
        deposit = await repo.deposit_invoice(lease_id)
        if deposit is None or deposit[1] != "paid":
            raise DepositNotPaid()
        invoice_id, _, amount = deposit
        if retained_amount > amount:
            raise DepositAmountInvalid(detail={"field": "retained_amount", "deposit": amount})
        if retained_amount > 0:
            reason = require_reason(reason)
        refund = amount - retained_amount
        intent = await repo.succeeded_intent(invoice_id)
        key = f"deposit-refund-lease-{lease_id}-{uuid.uuid4().hex[:12]}"
        try:
            settlement = await repo.insert_settlement(
                lease_id,
                invoice_id,
                refund=refund,
                retained=retained_amount,
                reason=reason,
                status="pending" if refund > 0 else "retained",
                key=key,
                created_by=principal.user_id,
                now=clock.now(),
            )
        except asyncpg.UniqueViolationError as exc:
            raise DepositAlreadySettled() from exc
        await audit.record(
            principal,
            "deposit.settle",
            "lease",
            lease_id,
            reason=reason,
            before={"deposit": amount, "status": "held"},
            after={"refund": refund, "retained": retained_amount, "settlement_id": settlement.id},
        )
    if refund == 0 or intent is None:
        return settlement
    try:
        async with PaymentsClient() as client:
            refunded = await client.create_refund(
                intent,
                amount=refund,
                metadata={"lease_id": lease_id, "settlement_id": settlement.id},
                idempotency_key=key,
            )
    except PaymentServerUnavailable:
        return settlement  # pending: the street sees it as in progress
    except PaymentRequestInvalid as exc:
        async with transaction():
            failed = await repo.finish_settlement(
                settlement.id, status="failed", refund_ref=None, error_message=exc.message, now=clock.now()
            )
        return failed or settlement
    async with transaction():
        done = await repo.finish_settlement(
            settlement.id, status="refunded", refund_ref=refunded.id, error_message="", now=clock.now()
        )
        if done is not None:
            await market.post_system_income(
                lease.community_id,
                month=clock.today(),
                kind="other_cost",
                amount=refund,
                source=f"deposit-refund:{settlement.id}",
                note=f"{lease.lessee_name} 押金退还（{lease.address}）",
            )
            await audit.record(
                None,
                "deposit.refunded",
                "lease",
                lease_id,
                after={"settlement_id": settlement.id, "refund": refund, "refund_ref": refunded.id},
            )
    return done or settlement


# Figures for officials -------------------------------------------------------------------------

LEVELS = ("community", "street", "district", "city")
FIGURES = ("spaces", "idle_area", "listed_area", "leased_area", "invoiced", "collected", "arrears")


def _zero(key: int, name: str) -> FiguresRow:
    zero = Decimal(0)
    return FiguresRow(
        id=key,
        name=name,
        spaces=0,
        idle_area=zero,
        listed_area=zero,
        leased_area=zero,
        invoiced=0,
        collected=0,
        arrears=0,
    )


def _add(total: FiguresRow, row: CommunityFigures) -> None:
    for key in FIGURES:
        setattr(total, key, getattr(total, key) + getattr(row, key))


# Officials open the figures far more often than leases and invoices change.
_figures: VersionedCache[FiguresView] = VersionedCache(
    ("leasing",), get_settings().read_cache_entries, name="leasing_figures"
)


async def figures(principal: Principal, *, level: str, start: date | None, end: date | None) -> FiguresView:
    """Idle, listed and leased (盘活) area now, and rent invoiced, collected and in arrears for the months in
    [start, end) (default: this calendar year), per community, street, district or for the whole city."""
    today = clock.today()
    first = month_start(start) if start else date(today.year, 1, 1)
    until = month_start(end) if end else date(today.year + 1, 1, 1)
    read_paths = principal.read_paths()
    return await _figures.read(
        (tuple(read_paths), level, first, until), lambda: _figures_by(level, read_paths, first, until)
    )


# A build holds a row for every community in scope: 6,250 for a province official. A worker builds two at a
# time and further misses queue, so a wave of them, as after a change to leasing data, cannot take its memory
# with it (ten at once, one per pooled connection, took province workers to 266 MB; see BENCHMARKS.md). The
# statement is PostgreSQL's work, and two cores do not run more than a few of them at once anyway.
_builds_at_once = asyncio.Semaphore(2)


async def _figures_by(level: str, read_paths: list[str], start: date, end: date) -> FiguresView:
    async with _builds_at_once:
        return _group_figures(level, await repo.figures_by_community(like_patterns(read_paths), start, end), start, end)


def _group_figures(level: str, rows: list[CommunityFigures], start: date, end: date) -> FiguresView:
    groups: dict[int, FiguresRow] = {}
    total = _zero(0, "合计")
    for row in rows:
        key, name = {
            "community": (row.community_id, f"{row.district_name}{row.street_name}{row.community_name}"),
            "street": (row.street_id, f"{row.district_name}{row.street_name}"),
            "district": (row.district_id, row.district_name),
            "city": (0, "全市"),
        }[level]
        if key not in groups:
            groups[key] = _zero(key, name)
        _add(groups[key], row)
        _add(total, row)
    return FiguresView(level=level, start=start, end=end, items=list(groups.values()), total=total)


async def city_figures(start: date, end: date) -> FiguresView:
    """`figures` for the whole city by district, for system jobs and reports (no one asking, no scope)."""
    view = _group_figures("district", await repo.figures_by_community(like_patterns(["/"]), start, end), start, end)
    view.total.name = "全市"
    return view


# What leasing adds to the market ---------------------------------------------------------------


async def rent_commitments(community_ids: list[int], first_month: date) -> list[tuple[int, Commitment]]:
    """Rent that active leases will bill, month by month, as income the community can count on."""
    found = []
    for row in await repo.rent_commitments(community_ids, first_month):
        free_until = add_months(month_start(row.starts_on), row.rent_free_months)
        found.append(
            (
                row.community_id,
                Commitment(max(row.starts_on, free_until), row.ends_on, row.monthly_rent, is_income=True),
            )
        )
    return found


async def community_report_section(community_id: int) -> dict[str, Any]:
    rows = []
    for lease in await repo.leases_of_community(community_id):
        rows.append(
            [
                lease.address,
                str(lease.area_m2),
                lease.lessee_name,
                USE_LABELS[lease.use.value],
                lease.starts_on,
                lease.ends_on,
                format_yuan(lease.monthly_rent),
                LEASE_STATUS_LABELS[lease.status.value],
            ]
        )
    return {
        "title": "空间与租约",
        "headers": ["空间", "面积（㎡）", "承租方", "用途", "起租日", "止租日（不含）", "月租金", "状态"],
        "rows": rows,
        "note": "" if rows else "暂无租约",
    }


BALANCE_COMMITMENTS = [rent_commitments]
COMMUNITY_REPORT_SECTIONS = [community_report_section]
