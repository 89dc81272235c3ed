"""Market rules: community files, needs, matching, allocation, contracts, ledger and balance.

Other domains add to what market computes without market importing them: a domain's service module may
offer `BALANCE_COMMITMENTS` (async functions returning what it already promises each community per month,
e.g. lease rent) and `COMMUNITY_REPORT_SECTIONS` (async functions returning extra sections for the
one-click community report).
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

import asyncpg
import msgspec

from core import clock
from core.accounts import repository as accounts_repo
from core.accounts import service as accounts
from core.accounts.principal import OFFICIAL_ROLES, Principal, like_patterns
from core.accounts.schemas import OrgRow
from core.accounts.tables import OrgKind, Role
from core.audit import service as audit
from core.cache.service import VersionedCache
from core.clock import add_months, month_start
from core.contributions import collect
from core.db import transaction
from core.errors import PermissionDenied, ValidationFailed, require_reason
from core.money import format_yuan
from core.outbox import service as outbox
from core.pagination import with_total
from core.settings import get_settings
from market import allocation, matching, performance, portfolio, subsidy
from market import repository as repo
from market.balance import Commitment, Thresholds, balance, forecast, trailing_window
from market.errors import (
    AcceptanceNeedsSurvey,
    CapacityExceeded,
    CommunityNameTaken,
    CommunityNotFound,
    CommunityOutsidePlatformDistrict,
    CommunityUnderPlatform,
    ConsortiumInvalid,
    ContractNotFound,
    ContractPartyMissing,
    ContractStateInvalid,
    ContractTermInvalid,
    FranchiseInvoiceEmpty,
    FranchiseInvoiceExists,
    FranchiseScopeTaken,
    FranchiseTermsInvalid,
    FundExists,
    FundInsufficient,
    FundNotFound,
    FundReferenceExists,
    LedgerKindNotAllowed,
    LedgerMonthInvalid,
    LedgerSourceExists,
    LedgerVoucherExists,
    MasterContractExists,
    MasterContractInvalid,
    NeedNotFound,
    NeedNotOpen,
    NeedsNotOfCommunity,
    NoContractForMonth,
    NoRegistryDecisionDue,
    NotAFranchise,
    NotCommunityOfficial,
    NotRenovationCommunity,
    OperatorNotListed,
    PlanDatesInvalid,
    PlanLineDecided,
    PlanLineEmpty,
    PlanNotFound,
    PlatformExists,
    PlatformNotFound,
    PlatformOrgInvalid,
    StreetNotFound,
    SubsidyInputInvalid,
    VoteWinnerNotFollowed,
    WindowInvalid,
)
from market.labels import (
    COMMUNITY_TYPE_LABELS,
    COST_KINDS,
    FUND_MOVEMENT_KIND_LABELS,
    INCOME_KINDS,
    LEDGER_KIND_LABELS,
    REGISTRY_DECISION_LABELS,
)
from market.schemas import (
    AllianceCommunity,
    AssignmentRow,
    CandidateRow,
    CommunityBalance,
    CommunityBalanceRow,
    CommunityReport,
    CommunityRow,
    ComplaintView,
    ContractLineRow,
    ContractRow,
    FranchiseInvoiceRow,
    FundMovementRow,
    FundRow,
    KindFigures,
    LedgerEntryRow,
    MasterContractRow,
    MonthFigures,
    NeedRow,
    Overview,
    PlanLineRow,
    PlanRow,
    PlatformRow,
    PortfolioLine,
    PortfolioView,
    RegistryDecisionView,
    ScopedNeed,
    Shortlist,
)
from providers import repository as providers_repo
from providers import service as providers
from providers.errors import AllianceNotFound, OperatorNotFound
from providers.schemas import AllianceMemberRow, AllianceRow
from providers.tables import Operator

W = TypeVar("W")

OFFICIAL_LEDGER_KINDS = frozenset({*COST_KINDS, "subsidy", "other_income"})
OPERATOR_REPORT_COST_KINDS = ("staff", "utilities", "maintenance", "other_cost")
MAX_WINDOW_MONTHS = 60
DEFAULT_CONTRACT_YEARS = 3


def thresholds() -> Thresholds:
    settings = get_settings()
    return Thresholds(balanced_at=settings.balance_balanced_at, warning_at=settings.balance_warning_at)


def weights() -> matching.Weights:
    return dataclasses.replace(matching.Weights(), **get_settings().match_weights)


# Communities -----------------------------------------------------------------------------------


def _written(row: W | None) -> W:
    """A row this transaction has just written, read back with its joined names."""
    if row is None:
        raise LookupError("a row written in this transaction is missing")
    return row


async def _readable_community(principal: Principal, community_id: int, *, for_update: bool = False) -> CommunityRow:
    """Officials and auditors read inside their part of the tree; an operator reads the communities it
    holds a contract with. Anything else is reported as not found, so IDs reveal nothing."""
    community = await repo.get_community(community_id, for_update=for_update)
    if community is not None:
        if principal.can_read_path(community.org_path):
            return community
        operator_orgs = principal.org_ids(Role.operator)
        if operator_orgs and await repo.operator_has_contract(community_id, operator_orgs):
            return community
    raise CommunityNotFound()


def _require_official(principal: Principal, community: CommunityRow) -> None:
    if not principal.can_write_path(community.org_path, *OFFICIAL_ROLES):
        raise NotCommunityOfficial()


async def _editable_community(principal: Principal, community_id: int, *, for_update: bool = False) -> CommunityRow:
    community = await _readable_community(principal, community_id, for_update=for_update)
    _require_official(principal, community)
    return community


def _check_plan_dates(fields: dict) -> None:
    start, finish = fields.get("planned_start"), fields.get("planned_finish")
    if start and finish and start > finish:
        raise PlanDatesInvalid()


async def create_community(
    principal: Principal | None, fields: dict, *, existing_org: OrgRow | None = None
) -> CommunityRow:
    """Open the file of a community under a street. `existing_org` attaches the file to a community node
    already in the tree (seeding); otherwise the node is created with the file."""
    _check_plan_dates(fields)
    async with transaction():
        street = await accounts_repo.get_org(fields["street_id"])
        if (
            street is None
            or street.kind != OrgKind.street
            or street.parent_id is None  # a street sits under its district
            or (principal is not None and not principal.can_write_path(street.path, *OFFICIAL_ROLES))
        ):
            raise StreetNotFound()
        if existing_org is None:
            if await repo.community_name_taken(street.id, fields["name"]):
                raise CommunityNameTaken()
            org = await accounts.create_org(
                principal, name=fields["name"], kind=OrgKind.community, parent_id=street.id, code=None
            )
        else:
            org = existing_org
        community_id = await repo.insert_community(
            org_id=org.id, district_id=street.parent_id, street_id=street.id, fields=fields, now=clock.now()
        )
        await audit.record(principal, "community.create", "community", community_id, after=fields)
        return _written(await repo.get_community(community_id))


async def get_community(principal: Principal, community_id: int) -> CommunityRow:
    return await _readable_community(principal, community_id)


async def community_for_owner(community_id: int, owner_org_paths: list[str]) -> CommunityRow:
    """A community in the district an owner organisation belongs to (owners sit under their district)."""
    community = await repo.get_community(community_id)
    districts = [path[: path.rstrip("/").rfind("/") + 1] for path in owner_org_paths]
    if community is None or not any(community.org_path.startswith(d) for d in districts):
        raise CommunityNotFound()
    return community


async def list_communities(
    principal: Principal,
    *,
    district_id: int | None,
    street_id: int | None,
    status: str | None,
    pool: str | None,
    q: str | None,
    limit: int,
    offset: int,
) -> tuple[list[CommunityRow], int]:
    patterns = like_patterns(principal.read_paths())
    operator_orgs = principal.org_ids(Role.operator)
    return await with_total(
        lambda lim, off: repo.list_communities(
            patterns=patterns,
            operator_org_ids=operator_orgs,
            district_id=district_id,
            street_id=street_id,
            status=status,
            pool=pool,
            q=q,
            limit=lim,
            offset=off,
        ),
        limit,
        offset,
    )


async def update_community(principal: Principal, community_id: int, changes: dict) -> CommunityRow:
    async with transaction():
        community = await _editable_community(principal, community_id, for_update=True)
        if changes.get("status") == "accepted" and community.status != "accepted":
            # 验收 rests on residents' satisfaction: only the acceptance route, which checks it, grants it.
            raise AcceptanceNeedsSurvey()
        _check_plan_dates({k: changes.get(k, getattr(community, k)) for k in ("planned_start", "planned_finish")})
        before = {k: getattr(community, k) for k in changes}
        await repo.update_community(community_id, changes, clock.now())
        await audit.record(principal, "community.update", "community", community_id, before=before, after=changes)
        return _written(await repo.get_community(community_id))


# Needs -----------------------------------------------------------------------------------------


async def create_need(principal: Principal, community_id: int, *, category: str, priority: int, text: str) -> NeedRow:
    """Publishing a need tells every listed operator of that category serving the district, by email."""
    today = clock.today()
    async with transaction():
        await providers.check_categories([category])
        community = await _editable_community(principal, community_id)
        need_id = await repo.insert_need(
            community_id=community_id,
            category=category,
            priority=priority,
            text=text,
            created_by=principal.user_id,
            now=clock.now(),
        )
        need = _written(await repo.get_need(need_id))
        await audit.record(principal, "need.create", "need", need_id, after=need)
        for operator in await repo.operators_serving(category, community.district_id, today):
            await outbox.enqueue(
                operator.contact_email,
                f"【需求发布】{community.name}：{need.category_name}",
                f"{operator.name}：\n\n{community.district_name}{community.street_name}{community.name}"
                f"发布了新的运营服务需求。\n\n服务类别：{need.category_name}\n需求说明：{text or '（无）'}\n\n"
                f"如有意承接，请登录未来社区长效运营市场查看需求编号 {need_id}。",
                dedupe_key=f"need:{need_id}:operator:{operator.id}",
            )
        return need


async def _readable_need(principal: Principal, need_id: int, *, for_update: bool = False) -> NeedRow:
    need = await repo.get_need(need_id, for_update=for_update)
    if need is None:
        raise NeedNotFound()
    if principal.can_read_path(need.org_path) or (need.status == "open" and principal.has_role(Role.operator)):
        return need
    raise NeedNotFound()


async def get_need(principal: Principal, need_id: int) -> NeedRow:
    return await _readable_need(principal, need_id)


async def list_needs(
    principal: Principal,
    *,
    community_id: int | None,
    status: str | None,
    category: str | None,
    limit: int,
    offset: int,
) -> tuple[list[NeedRow], int]:
    """Officials see the needs in their scope; an operator browses the open needs of every community; an
    official who is also an operator gets both."""
    open_anywhere = principal.has_role(Role.operator)
    if principal.has_role(*OFFICIAL_ROLES, Role.auditor):
        patterns = like_patterns(principal.read_paths())
    else:
        patterns, status = None, "open"
    return await with_total(
        lambda lim, off: repo.list_needs(
            patterns=patterns,
            community_id=community_id,
            status=status,
            category=category,
            limit=lim,
            offset=off,
            open_anywhere=open_anywhere,
        ),
        limit,
        offset,
    )


async def close_need(principal: Principal, need_id: int, reason: str) -> NeedRow:
    reason = require_reason(reason)
    async with transaction():
        need = await _readable_need(principal, need_id, for_update=True)
        if not principal.can_write_path(need.org_path, *OFFICIAL_ROLES):
            raise NotCommunityOfficial()
        if need.status == "closed":
            raise NeedNotOpen()
        await repo.set_need_status([need_id], "closed", clock.now())
        await audit.record(
            principal,
            "need.close",
            "need",
            need_id,
            before={"status": need.status},
            after={"status": "closed"},
            reason=reason,
        )
        return _written(await repo.get_need(need_id))


# Matching --------------------------------------------------------------------------------------


def _candidate(row: CandidateRow, community_type: str) -> matching.Candidate:
    return matching.Candidate(
        operator_id=row.id,
        name=row.name,
        registry_status=row.registry_status,
        listed_categories=frozenset(row.categories),
        district_ids=frozenset(row.district_ids),
        capacity=row.capacity,
        active_contracts=row.contracts,
        evaluations=tuple(zip(row.evaluation_ends, row.evaluation_scores, strict=True)),
        same_type_communities=getattr(row, f"{community_type}_experience"),
    )


# Shortlists and overviews are read far more often than the data under them changes.
_shortlists: VersionedCache[Shortlist] = VersionedCache(
    ("registry", "market"), get_settings().read_cache_entries, name="shortlists"
)
_communities: VersionedCache[CommunityRow | None] = VersionedCache(
    ("market",), get_settings().read_cache_entries, name="communities"
)
_overviews: VersionedCache[Overview] = VersionedCache(
    ("market",), get_settings().read_cache_entries, name="balance_overviews"
)


async def match_community(principal: Principal, community_id: int, limit: int) -> Shortlist:
    """A ranked, explained shortlist for every open need of the community, and a bundle covering them."""
    community = await _communities.read(community_id, lambda: repo.get_community(community_id))
    if community is None or not principal.can_read_path(community.org_path):
        raise CommunityNotFound()  # operators never see a rival's shortlist, even with a contract there
    question = (community_id, limit, dataclasses.astuple(weights()))
    return await _shortlists.read(question, lambda: _match(community, limit))


# A build holds a row for every candidate operator: thousands at province size, about 35 MB at its height.
# When many communities miss at once, a worker builds one at a time and the rest queue: two at once took
# province workers over 250 MB (see BENCHMARKS.md).
_builds_at_once = asyncio.Semaphore(1)


async def _match(community: CommunityRow, limit: int) -> Shortlist:
    async with _builds_at_once:
        return await _build_match(community, limit)


async def _build_match(community: CommunityRow, limit: int) -> Shortlist:
    today = clock.today()
    needs = await repo.open_needs(community.id)
    categories = frozenset(n.category for n in needs)
    # The bundle always has a lead (integrated) operator, whether or not the community asked for one.
    with_lead = categories | {matching.INTEGRATED} if categories else categories
    rows = await repo.match_candidates(sorted(with_lead), today) if categories else []
    candidates = [_candidate(r, community.community_type) for r in rows]
    del rows  # gone before ranking starts, so ranking reuses their memory instead of adding to it
    names = await repo.category_names()
    type_label = COMMUNITY_TYPE_LABELS[community.community_type]
    target = matching.Community(community.district_id, community.district_name, type_label, categories)
    current_weights = weights()
    ranked = matching.rank(candidates, target, today, current_weights)
    # The operators residents chose in a quorate vote on an open need come first, then the rest by score.
    winners: dict[int, list[str]] = {}
    for need in needs:
        if need.vote_quorum_met and need.vote_winner_operator_id is not None:
            winners.setdefault(need.vote_winner_operator_id, []).append(need.category)
    ranked.sort(key=lambda s: s.operator_id not in winners)
    shortlist = matching.explain(ranked[:limit], candidates, target, today, current_weights, names)
    lead_target = dataclasses.replace(target, open_categories=with_lead)
    offer = matching.bundle_for(candidates, lead_target, today, current_weights, names)
    alliances = await _alliance_offers(candidates, lead_target, today, current_weights, names)
    return Shortlist(
        community=community,
        open_needs=sorted(categories),
        weights=dataclasses.asdict(current_weights),
        candidates=len(ranked),
        shortlist=shortlist,
        bundle=offer,
        category_names=names,
        vote_winners=winners,
        alliances=alliances,
    )


async def _alliance_offers(
    candidates: list[matching.Candidate],
    target: matching.Community,
    today: date,
    current_weights: matching.Weights,
    names: dict[str, str],
) -> list[matching.AllianceOffer]:
    """Each approved alliance whose members in good standing can serve the community, best first. A member
    suspended, removed, expired or no longer listed for its category is left out."""
    alliances = await providers.approved_alliances(today) if target.open_categories else []
    standing = {
        alliance.id: [(m.operator_id, m.category) for m in members if providers.member_in_good_standing(m)]
        for alliance, members in alliances
    }
    member_ids = {operator_id for roles in standing.values() for operator_id, _ in roles}
    if not member_ids:
        return []
    ranked = [s for s in matching.rank(candidates, target, today, current_weights) if s.operator_id in member_ids]
    scored = {s.operator_id: s for s in matching.explain(ranked, candidates, target, today, current_weights, names)}
    offers = [
        found
        for alliance, _ in alliances
        if (
            found := matching.alliance_offer(
                alliance.id, alliance.name, standing[alliance.id], scored, target.open_categories
            )
        )
    ]
    return sorted(offers, key=lambda o: (-o.total, o.alliance_id))


# Allocation ------------------------------------------------------------------------------------


async def _allocation_scope(principal: Principal, district_id: int | None) -> OrgRow:
    if district_id is None:
        if not principal.has_role(Role.city):
            raise PermissionDenied("全市分配方案只能由市级工作人员生成")
        return await accounts.the_city()
    district = await accounts_repo.get_org(district_id)
    if (
        district is None
        or district.kind != OrgKind.district
        or not principal.can_write_path(district.path, Role.district, Role.city)
    ):
        raise PermissionDenied("只能为本区县或全市生成分配方案")
    return district


async def create_allocation_plan(principal: Principal, district_id: int | None) -> tuple[PlanRow, list[PlanLineRow]]:
    """Every open need in the district (or the city) against every operator's spare capacity, assigned to
    maximise the total score; saved as lines officials accept one by one."""
    scope = await _allocation_scope(principal, district_id)
    today = clock.today()
    needs = await repo.open_needs_in_scope(like_patterns([scope.path]))
    alliances = await providers.approved_alliances(today) if needs else []
    # An alliance's lead holds its contract as the integrated operator, so its capacity counts too.
    wanted = {n.category for n in needs} | ({matching.INTEGRATED} if alliances else set())
    rows = await repo.match_candidates(sorted(wanted), today) if needs else []
    current_weights = weights()
    by_type = {COMMUNITY_TYPE_LABELS[t]: [_candidate(r, t) for r in rows] for t in COMMUNITY_TYPE_LABELS}
    spare = {r.id: max(r.capacity - r.contracts, 0) for r in rows}
    # A need whose residents chose an operator in a quorate vote gets that operator, when it can take the
    # need; the optimiser shares out the rest. An official who departs from it says why (reject or accept
    # another line with a reason).
    pinned, needs = _pin_vote_winners(needs, by_type, spare, today, current_weights)
    # Needs of one category, district and community type score alike with every operator: one group each.
    groups: dict[tuple, list[ScopedNeed]] = {}
    for need in needs:
        groups.setdefault((need.district_id, need.community_type, need.category), []).append(need)
    keys = list(groups)
    group_facts = [
        matching.Community(district_id, "", COMMUNITY_TYPE_LABELS[community_type], frozenset({category}))
        for district_id, community_type, category in keys
    ]
    scores = matching.pair_scores(group_facts, by_type, today, current_weights)
    demand = {index: len(groups[key]) for index, key in enumerate(keys)}
    flows = allocation.allocate_groups(scores, demand, spare)
    baseline = allocation.greedy_groups(scores, demand, spare)
    lines = sorted(_plan_lines(groups, keys, flows) + pinned)
    pinned_total = sum(score or 0 for _, _, score in pinned)
    left = dict(spare)
    for flow in flows:
        left[flow.operator_id] -= flow.count
    taken, gain = await _alliance_lines(alliances, needs, lines, by_type, left, today, current_weights)
    lines = [(n, taken[n].operator_id, taken[n].score) if n in taken else (n, o, s) for n, o, s in lines]
    async with transaction():
        plan_id = await repo.insert_plan(
            scope_org_id=scope.id,
            created_by=principal.user_id,
            total=round(pinned_total + sum(f.score * f.count for f in flows) + gain, 1),
            greedy_total=round(pinned_total + sum(f.score * f.count for f in baseline), 1),
            need_count=len(needs) + len(pinned),
            weights=dataclasses.asdict(current_weights),
            now=clock.now(),
        )
        if lines:
            await repo.insert_plan_lines(plan_id, lines, {n: (t.alliance_id, t.explanation) for n, t in taken.items()})
        await audit.record(
            principal,
            "allocation.create",
            "allocation_plan",
            plan_id,
            after={
                "scope": scope.name,
                "needs": len(needs) + len(pinned),
                "assigned": len(pinned) + sum(f.count for f in flows),
                "vote_winners": len(pinned),
                "alliances": sorted({t.alliance_id for t in taken.values()}),
            },
        )
        return await get_allocation_plan(principal, plan_id)


@dataclasses.dataclass(frozen=True)
class _AllianceLine:
    alliance_id: int
    operator_id: int
    score: float
    explanation: str


async def _alliance_lines(
    alliances: list[tuple[AllianceRow, list[AllianceMemberRow]]],
    needs: list[ScopedNeed],
    lines: list[tuple[int, int | None, float | None]],
    by_type: dict[str, list[matching.Candidate]],
    left: dict[int, int],
    today: date,
    current_weights: matching.Weights,
) -> tuple[dict[int, _AllianceLine], float]:
    """need → its alliance line, for each community whose whole set of open needs an approved alliance should
    take (see allocation.alliance_choice), and what that adds to the plan's total. Members suspended, expired,
    no longer listed for their category or gone from the alliance are left out; `left` (spare capacity after
    the plan so far) is updated for the lines replaced and the alliance's operators."""
    if not alliances:
        return {}, 0.0
    names = await repo.category_names()
    planned = {n: (o, s) for n, o, s in lines}
    by_community: dict[int, list[ScopedNeed]] = {}
    for need in needs:
        by_community.setdefault(need.community_id, []).append(need)
    member_ids = {m.operator_id for _, members in alliances for m in members}
    members_by_type = {
        t: {c.operator_id: c for c in candidates if c.operator_id in member_ids} for t, candidates in by_type.items()
    }
    taken: dict[int, _AllianceLine] = {}
    gain = 0.0
    for own in by_community.values():
        first = own[0]
        type_label = COMMUNITY_TYPE_LABELS[first.community_type]
        candidates = members_by_type[type_label]
        offers: dict[int, tuple[int, dict[str, list[tuple[int, float]]]]] = {}
        operator_names: dict[int, str] = {}
        for alliance, members in alliances:
            good = [m for m in members if providers.member_in_good_standing(m)]
            if not any(m.operator_id == alliance.lead_id and m.category == matching.INTEGRATED for m in good):
                continue
            by_category: dict[str, list[tuple[int, float]]] = {}
            for m in good:
                operator_names[m.operator_id] = m.operator_name
                candidate = candidates.get(m.operator_id)
                probe = matching.Community(first.district_id, "", type_label, frozenset({m.category}))
                score = matching.score_total(candidate, probe, today, current_weights) if candidate else None
                if score is not None:
                    by_category.setdefault(m.category, []).append((m.operator_id, round(score, 1)))
            offers[alliance.id] = (alliance.lead_id, by_category)
        current = {n.id: planned[n.id] for n in own}
        choice = allocation.alliance_choice([(n.id, n.category) for n in own], current, offers, left)
        if choice is None:
            continue
        for operator_id, _ in current.values():
            if operator_id is not None:
                left[operator_id] += 1
        alliance = next(a for a, _ in alliances if a.id == choice.alliance_id)
        for operator_id in {alliance.lead_id} | {o for o, _ in choice.members.values()}:
            left[operator_id] = left.get(operator_id, 0) - 1
        by_need = {n.id: n for n in own}
        parts = [
            f"{names.get(by_need[n].category, by_need[n].category)}由{operator_names[o]}承担"
            for n, (o, _) in sorted(choice.members.items())
        ]
        explanation = (
            f"产业联盟{alliance.name}整体承接{first.community_name}的{len(own)}项需求：由{alliance.lead_name}牵头；"
            + "；".join(parts)
            + f"。联盟成员合计{choice.total}分，不低于逐项分配的{choice.replaced}分"
        )
        for need_id, (operator_id, score) in choice.members.items():
            taken[need_id] = _AllianceLine(choice.alliance_id, operator_id, score, explanation)
        gain += choice.total - choice.replaced
    return taken, gain


def _pin_vote_winners(
    needs: list[ScopedNeed],
    by_type: dict[str, list[matching.Candidate]],
    spare: dict[int, int],
    today: date,
    current_weights: matching.Weights,
) -> tuple[list[tuple[int, int | None, float | None]], list[ScopedNeed]]:
    """(need, winner, score) lines for the needs whose quorate vote chose an operator that can take them
    (listed for the category in the district, with spare capacity, which they use up), and the needs left."""
    pinned: list[tuple[int, int | None, float | None]] = []
    rest: list[ScopedNeed] = []
    for need in sorted(needs, key=lambda n: (n.priority, n.id)):
        winner = need.vote_winner_operator_id
        type_label = COMMUNITY_TYPE_LABELS[need.community_type]
        candidate = next((c for c in by_type[type_label] if c.operator_id == winner), None)
        target = matching.Community(need.district_id, "", type_label, frozenset({need.category}))
        score = matching.score_total(candidate, target, today, current_weights) if candidate else None
        if winner is None or score is None or spare.get(winner, 0) <= 0:
            rest.append(need)
            continue
        spare[winner] -= 1
        pinned.append((need.id, winner, round(score, 1)))
    return pinned, rest


def _plan_lines(
    groups: dict[tuple, list[ScopedNeed]], keys: list[tuple], flows: list[allocation.Flow[int]]
) -> list[tuple[int, int | None, float | None]]:
    """(need, operator, score) for every need; within a group the most urgent needs get the best operators."""
    waiting = {index: sorted(groups[key], key=lambda n: (n.priority, n.id)) for index, key in enumerate(keys)}
    lines: list[tuple[int, int | None, float | None]] = []
    for flow in sorted(flows, key=lambda f: (-f.score, f.operator_id)):
        for _ in range(flow.count):
            lines.append((waiting[flow.group].pop(0).id, flow.operator_id, flow.score))
    lines += [(need.id, None, None) for queue in waiting.values() for need in queue]
    return sorted(lines)


async def _readable_plan(principal: Principal, plan_id: int) -> PlanRow:
    plan = await repo.get_plan(plan_id)
    if plan is None or not principal.can_read_path(plan.scope_path):
        raise PlanNotFound()
    return plan


async def get_allocation_plan(principal: Principal, plan_id: int) -> tuple[PlanRow, list[PlanLineRow]]:
    plan = await _readable_plan(principal, plan_id)
    return plan, await repo.plan_lines(plan_id)


def _default_term(today: date) -> tuple[date, date]:
    start = add_months(month_start(today), 1)
    return start, start.replace(year=start.year + DEFAULT_CONTRACT_YEARS)


def _acceptance_reason(line: PlanLineRow) -> str:
    """What an accepted line records when the official gives no reason: the decision itself."""
    return f"采纳分配建议：{line.community_name}{line.category_name}由{line.operator_name}承接"


async def accept_plan_line(
    principal: Principal, plan_id: int, line_id: int, terms: dict, reason: str = ""
) -> PlanLineRow:
    """Accepting a line drafts the contract (or adds the need to a draft already open with that operator)
    and marks the need matched; the draft holds the operator's capacity until it is signed or ended.
    The reason is optional: without one, the audit records what was decided."""
    reason = reason.strip()
    async with transaction():
        await _readable_plan(principal, plan_id)
        peek = await repo.get_plan_line(plan_id, line_id)
        if peek is not None and peek.alliance_id is not None:
            return await _accept_alliance_lines(principal, peek, terms, reason)
        line = await _decidable_line(principal, plan_id, line_id)
        if line.operator_id is None:
            raise PlanLineEmpty()
        need = _written(await repo.get_need(line.need_id, for_update=True))
        if need.status != "open":
            raise NeedNotOpen()
        await follow_vote(principal, [need.id], line.operator_id, line.operator_name or "", reason)
        community = _written(await repo.get_community(line.community_id))
        # Lines of one community and operator accepted at once must share one draft, not open one each.
        await repo.lock_drafting(community.id, line.operator_id)
        draft = await repo.draft_contract_for(community.id, line.operator_id)
        if draft is not None:
            categories = sorted({*draft.categories, need.category})
            await _check_operator_can_hold(line.operator_id, categories, clock.today(), holding_already=draft.id)
            await repo.update_contract(
                draft.id,
                {"categories": categories, "need_ids": sorted({*draft.need_ids, need.id})},
                clock.now(),
            )
            contract_id = draft.id
        else:
            start, end = _default_term(clock.today())
            contract_id = await _insert_draft(
                principal,
                {
                    "street_id": community.street_id,
                    "community_id": community.id,
                    "operator_id": line.operator_id,
                    "categories": [need.category],
                    "starts_on": terms.get("starts_on") or start,
                    "ends_on": terms.get("ends_on") or end,
                    "annual_fee": terms.get("annual_fee") or 0,
                    "revenue_share": None,
                    "kpis": terms.get("kpis") or "",
                    "need_ids": [need.id],
                },
            )
        await repo.set_need_status([need.id], "matched", clock.now())
        await repo.decide_plan_line(
            line_id, state="accepted", contract_id=contract_id, by=principal.user_id, reason=reason, now=clock.now()
        )
        await audit.record(
            principal,
            "allocation.accept",
            "allocation_line",
            line_id,
            reason=reason or _acceptance_reason(line),
            before={"state": line.state},
            after={
                "state": "accepted",
                "need_id": need.id,
                "operator_id": line.operator_id,
                "contract_id": contract_id,
            },
        )
        return _written(await repo.get_plan_line(plan_id, line_id))


def fee_shares(count: int) -> list[Decimal]:
    """`count` equal shares of a fee to four places, the last taking what is left, adding up to 1 exactly."""
    share = (Decimal(1) / count).quantize(Decimal("0.0001"), rounding="ROUND_DOWN")
    return [*([share] * (count - 1)), Decimal(1) - share * (count - 1)]


async def _alliance_group(principal: Principal, peek: PlanLineRow) -> list[PlanLineRow]:
    """The lines giving `peek`'s community to its alliance, locked, all still to be decided."""
    if peek.alliance_id is None:
        raise LookupError("not an alliance line")
    group = await repo.alliance_plan_lines(peek.plan_id, peek.community_id, peek.alliance_id)
    if not principal.can_write_path(peek.community_path, *OFFICIAL_ROLES):
        raise NotCommunityOfficial()
    if any(line.state != "proposed" for line in group):
        raise PlanLineDecided()
    return group


async def _accept_alliance_lines(principal: Principal, peek: PlanLineRow, terms: dict, reason: str) -> PlanLineRow:
    """Accepting a line that gives a community to an alliance accepts all of that community's lines for it
    and drafts one consortium contract with the alliance's lead: the lead's integrated line and a line per
    member and category, sharing the fee equally; signing later checks every member's listing again."""
    group = await _alliance_group(principal, peek)
    for line in group:
        need = _written(await repo.get_need(line.need_id, for_update=True))
        if need.status != "open":
            raise NeedNotOpen()
        await follow_vote(principal, [need.id], line.operator_id or 0, line.operator_name, reason)
    lead_id = _written(peek.alliance_lead_id)
    parties = {matching.INTEGRATED: lead_id}
    for line in group:
        parties.setdefault(line.category, line.operator_id or lead_id)
    categories = sorted(parties)
    start, end = _default_term(clock.today())
    fields: dict = {
        "street_id": peek.street_id,
        "community_id": peek.community_id,
        "operator_id": lead_id,
        "alliance_id": peek.alliance_id,
        "categories": categories,
        "starts_on": terms.get("starts_on") or start,
        "ends_on": terms.get("ends_on") or end,
        "annual_fee": terms.get("annual_fee") or 0,
        "revenue_share": None,
        "kpis": terms.get("kpis") or "",
        "need_ids": sorted(line.need_id for line in group),
        "lines": [
            {"operator_id": parties[c], "category": c, "fee_share": share}
            for c, share in zip(categories, fee_shares(len(categories)), strict=True)
        ],
    }
    _check_term(fields["starts_on"], fields["ends_on"])
    await _check_consortium(fields)
    await repo.lock_drafting(peek.community_id, lead_id)
    contract_id = await _insert_draft(principal, fields)
    await repo.insert_contract_lines(contract_id, fields["lines"])
    await repo.set_need_status(fields["need_ids"], "matched", clock.now())
    for line in group:
        await repo.decide_plan_line(
            line.id, state="accepted", contract_id=contract_id, by=principal.user_id, reason=reason, now=clock.now()
        )
        await audit.record(
            principal,
            "allocation.accept",
            "allocation_line",
            line.id,
            reason=reason
            or f"采纳分配建议：{line.community_name}{line.category_name}由产业联盟{line.alliance_name}承接",
            before={"state": line.state},
            after={
                "state": "accepted",
                "need_id": line.need_id,
                "operator_id": line.operator_id,
                "alliance_id": line.alliance_id,
                "contract_id": contract_id,
            },
        )
    return _written(await repo.get_plan_line(peek.plan_id, peek.id))


async def reject_plan_line(principal: Principal, plan_id: int, line_id: int, reason: str) -> PlanLineRow:
    """Rejecting a line that gives a community to an alliance rejects the alliance's offer as a whole."""
    reason = require_reason(reason)
    async with transaction():
        await _readable_plan(principal, plan_id)
        peek = await repo.get_plan_line(plan_id, line_id)
        if peek is not None and peek.alliance_id is not None:
            for line in await _alliance_group(principal, peek):
                await _reject_line(principal, line, reason)
            return _written(await repo.get_plan_line(plan_id, line_id))
        line = await _decidable_line(principal, plan_id, line_id)
        return await _reject_line(principal, line, reason)


async def _reject_line(principal: Principal, line: PlanLineRow, reason: str) -> PlanLineRow:
    await repo.decide_plan_line(
        line.id, state="rejected", contract_id=None, by=principal.user_id, reason=reason, now=clock.now()
    )
    await audit.record(
        principal,
        "allocation.reject",
        "allocation_line",
        line.id,
        reason=reason,
        before={"state": line.state},
        after={"state": "rejected", "need_id": line.need_id, "operator_id": line.operator_id},
    )
    return _written(await repo.get_plan_line(line.plan_id, line.id))


async def _decidable_line(principal: Principal, plan_id: int, line_id: int) -> PlanLineRow:
    await _readable_plan(principal, plan_id)
    line = await repo.get_plan_line(plan_id, line_id, for_update=True)
    if line is None:
        raise PlanNotFound()
    if not principal.can_write_path(line.community_path, *OFFICIAL_ROLES):
        raise NotCommunityOfficial()
    if line.state != "proposed":
        raise PlanLineDecided()
    return line


# Residents' vote on a need ---------------------------------------------------------------------
#
# The residents' package runs the poll; market keeps its outcome on the need, so that allocation and
# signing can follow it without market reading the residents' tables. The street's decision after the vote
# (follow the winner, or not with a written reason) has one home, the need: the poll's decision route
# writes it here, and so does a signature. Signing with another operator than a quorate vote's winner takes
# a written reason, and that reason becomes the decision shown with the poll's public result; signing with
# the winner records that the vote was followed. Recording the decision at signing, rather than requiring it
# first, keeps one step for the official and one record for everyone.


async def record_vote_result(
    need_id: int, *, poll_id: int, quorum_met: bool, winner_operator_id: int | None, winner_label: str
) -> None:
    """Inside the caller's transaction (the one that closes the poll): the result on the need."""
    now = clock.now()
    if not await repo.record_vote_result(
        need_id,
        poll_id=poll_id,
        closed_at=now,
        quorum_met=quorum_met,
        winner_operator_id=winner_operator_id,
        winner_label=winner_label,
        now=now,
    ):
        raise NeedNotFound()


async def record_vote_decision(
    principal: Principal,
    need_id: int,
    *,
    poll_id: int,
    follows: bool,
    operator_id: int | None,
    label: str,
    reason: str,
) -> bool:
    """Inside the caller's transaction: the street's decision on the vote; False if one already stands."""
    return await repo.record_vote_decision(
        need_id,
        poll_id=poll_id,
        follows=follows,
        operator_id=operator_id,
        label=label,
        reason=reason,
        by=principal.user_id,
        now=clock.now(),
    )


async def follow_vote(
    principal: Principal, need_ids: list[int], operator_id: int, operator_name: str, reason: str
) -> None:
    """Inside a drafting or signing transaction for `operator_id` on `need_ids`: where a quorate vote chose
    another operator, a written reason is required (unless a decision not to follow, naming no other
    operator, already stands) and recorded as the decision; where it chose this one, the decision to follow
    is recorded. A vote short of its quorum, a tie, or a package winning binds nothing."""
    for need_id in sorted(set(need_ids)):
        need = await repo.get_need(need_id, for_update=True)
        winner = need.binding_winner if need is not None else None
        if need is None or need.vote_poll_id is None or winner is None:
            continue
        if operator_id == winner:
            follows, label, why = True, need.vote_winner_label, f"与居民投票选出的{need.vote_winner_label}签约"
            if need.vote_decision_follows:
                continue
        else:
            if need.vote_decision_follows is False and need.vote_decision_operator_id in (None, operator_id):
                continue
            if not reason:
                raise VoteWinnerNotFollowed(
                    f"居民投票选出的运营商是“{need.vote_winner_label}”，选择{operator_name}须写明理由（字段 reason）",
                    detail={
                        "field": "reason",
                        "need_id": need.id,
                        "poll_id": need.vote_poll_id,
                        "winner_operator_id": winner,
                        "winner_label": need.vote_winner_label,
                    },
                )
            follows, label, why = False, operator_name, reason
        await repo.record_vote_decision(
            need.id,
            poll_id=need.vote_poll_id,
            follows=follows,
            operator_id=operator_id,
            label=label,
            reason=why,
            by=principal.user_id,
            now=clock.now(),
            replace=True,
        )
        await audit.record(
            principal,
            "poll.signing_decision",
            "need",
            need.id,
            before={"follows": need.vote_decision_follows, "operator_id": need.vote_decision_operator_id},
            after={"poll_id": need.vote_poll_id, "follows": follows, "operator_id": operator_id},
            reason=why,
        )


# Contracts -------------------------------------------------------------------------------------


async def _check_operator_can_hold(
    operator_id: int, categories: list[str], on: date, *, holding_already: int | None = None
) -> Operator:
    """Locks the operator, then checks it is in good standing, listed for every category on `on`, and has
    a unit of capacity left (`holding_already`: a contract that already holds one)."""
    operator = await repo.lock_operator(operator_id)
    if operator is None:
        raise OperatorNotFound()
    listed = await repo.listed_categories(operator_id, on)
    missing = sorted(set(categories) - listed)
    if operator.registry_status not in matching.IN_GOOD_STANDING or missing:
        raise OperatorNotListed(detail={"registry_status": operator.registry_status, "not_listed": missing})
    if holding_already is None:
        holding = await repo.holding_count(operator_id, on)
        if holding >= operator.capacity:
            raise CapacityExceeded(detail={"capacity": operator.capacity, "holding": holding})
    return operator


async def _check_parties(
    operator_id: int,
    categories: list[str],
    lines: list[tuple[int, str]],
    on: date,
    *,
    holding_already: int | None = None,
) -> None:
    """The operator can hold the contract on `on`; for a consortium contract the lead is checked for its own
    lines (and holds the unit of capacity), and every other member for the category of its line."""
    if not lines:
        await _check_operator_can_hold(operator_id, categories, on, holding_already=holding_already)
        return
    await _check_operator_can_hold(
        operator_id, [c for o, c in lines if o == operator_id], on, holding_already=holding_already
    )
    for member, category in sorted(lines):
        if member != operator_id:
            await _check_operator_can_hold(member, [category], on, holding_already=0)


async def _insert_draft(principal: Principal, fields: dict) -> int:
    lines = [(line["operator_id"], line["category"]) for line in fields.get("lines", [])]
    await _check_parties(fields["operator_id"], fields["categories"], lines, clock.today())
    contract_id = await repo.insert_contract(fields, status="draft", created_by=principal.user_id, now=clock.now())
    await audit.record(principal, "contract.create", "contract", contract_id, after=fields)
    return contract_id


def _check_term(starts_on: date, ends_on: date) -> None:
    if starts_on >= ends_on:
        raise ContractTermInvalid()


async def create_contract(principal: Principal, fields: dict) -> ContractRow:
    """A draft between a community (or a street) and an operator; it already holds a unit of capacity."""
    _check_term(fields["starts_on"], fields["ends_on"])
    reason = str(fields.pop("reason", "") or "").strip()
    _check_franchise_terms(fields)
    async with transaction():
        fields["categories"] = await providers.check_categories(fields["categories"])
        if fields.get("community_id") is not None:
            community = await _editable_community(principal, fields["community_id"])
            fields["street_id"] = community.street_id
            if fields["need_ids"]:
                needs = await repo.needs_of_community(community.id, fields["need_ids"])
                if len(needs) != len(set(fields["need_ids"])) or any(n.status == "closed" for n in needs):
                    raise NeedsNotOfCommunity()
        elif fields.get("street_id") is not None:
            street = await accounts_repo.get_org(fields["street_id"])
            if (
                street is None
                or street.kind != OrgKind.street
                or not principal.can_write_path(street.path, *OFFICIAL_ROLES)
            ):
                raise StreetNotFound()
            if fields["need_ids"]:
                raise NeedsNotOfCommunity()
        else:
            raise ContractPartyMissing()
        if fields["need_ids"]:
            operator = await providers_repo.get_operator(fields["operator_id"])
            if operator is None:
                raise OperatorNotFound()
            await follow_vote(principal, fields["need_ids"], operator.id, operator.name, reason)
        if fields.get("kind") == "franchise":
            await _check_scope_free(fields["community_id"], fields["scope"])
        await _check_master_contract(fields)
        await _check_consortium(fields)
        contract_id = await _insert_draft(principal, fields)
        if fields.get("lines"):
            await repo.insert_contract_lines(contract_id, fields["lines"])
        return _written(await repo.get_contract(contract_id))


FRANCHISE_ONLY = ("scope", "franchise_fee", "renewal_terms", "termination_terms")


def _check_franchise_terms(fields: dict) -> None:
    """A franchise names its community and its exclusive scope; a service contract carries no franchise terms."""
    for name in ("scope", "renewal_terms", "termination_terms"):
        fields[name] = fields.get(name, "").strip()
    if fields.get("kind", "service") == "franchise":
        if fields.get("community_id") is None or not fields["scope"]:
            raise FranchiseTermsInvalid(detail={"field": "scope" if fields.get("community_id") else "community_id"})
    elif any(fields.get(name) for name in FRANCHISE_ONLY):
        raise FranchiseTermsInvalid(detail={"field": next(n for n in FRANCHISE_ONLY if fields.get(n))})


async def _check_scope_free(community_id: int, scope: str) -> None:
    in_force = await repo.franchise_in_force(community_id, scope)
    if in_force is not None:
        raise FranchiseScopeTaken(detail={"contract_id": in_force, "scope": scope})


def _can_read_contract(principal: Principal, contract: ContractRow) -> bool:
    return principal.can_read_path(contract.street_path) or contract.operator_org_id in principal.org_ids(Role.operator)


async def _readable_contract(principal: Principal, contract_id: int, *, for_update: bool = False) -> ContractRow:
    contract = await repo.get_contract(contract_id, for_update=for_update)
    if contract is None or not _can_read_contract(principal, contract):
        raise ContractNotFound()
    return contract


async def _contract_for_officials(principal: Principal, contract_id: int) -> ContractRow:
    contract = await _readable_contract(principal, contract_id, for_update=True)
    if not principal.can_write_path(contract.street_path, *OFFICIAL_ROLES):
        raise NotCommunityOfficial()
    return contract


async def get_contract(principal: Principal, contract_id: int) -> ContractRow:
    return await _readable_contract(principal, contract_id)


async def list_contracts(
    principal: Principal,
    *,
    community_id: int | None,
    operator_id: int | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[ContractRow], int]:
    patterns = like_patterns(principal.read_paths())
    operator_orgs = principal.org_ids(Role.operator)
    return await with_total(
        lambda lim, off: repo.list_contracts(
            patterns=patterns,
            operator_org_ids=operator_orgs,
            community_id=community_id,
            operator_id=operator_id,
            status=status,
            limit=lim,
            offset=off,
        ),
        limit,
        offset,
    )


async def update_draft(principal: Principal, contract_id: int, changes: dict) -> ContractRow:
    async with transaction():
        contract = await _contract_for_officials(principal, contract_id)
        if contract.status != "draft":
            raise ContractStateInvalid()
        _check_term(changes.get("starts_on", contract.starts_on), changes.get("ends_on", contract.ends_on))
        if "categories" in changes:
            changes["categories"] = await providers.check_categories(changes["categories"])
        before = {k: getattr(contract, k) for k in changes}
        await repo.update_contract(contract_id, changes, clock.now())
        await audit.record(principal, "contract.update", "contract", contract_id, before=before, after=changes)
        return _written(await repo.get_contract(contract_id))


def _signing_reason(contract: ContractRow) -> str:
    """What a signature records when the official gives no reason: the parties and the term."""
    party = contract.community_name or contract.street_name
    return (
        f"签署服务合同：{party} × {contract.operator_name}，{contract.starts_on:%Y-%m-%d}至{contract.ends_on:%Y-%m-%d}"
    )


async def sign_contract(principal: Principal, contract_id: int, reason: str = "") -> ContractRow:
    """Signing needs the operator in good standing and listed for every category today. The reason is
    optional: without one, the audit records the parties and the term."""
    reason = reason.strip()
    async with transaction():
        contract = await _contract_for_officials(principal, contract_id)
        if contract.status != "draft":
            raise ContractStateInvalid()
        # The needs first, as a decision on their vote takes them: locks taken in one order cannot deadlock.
        await follow_vote(principal, contract.need_ids, contract.operator_id, contract.operator_name, reason)
        lines = [(line.operator_id, line.category) for line in await repo.contract_lines(contract_id)]
        await _check_parties(
            contract.operator_id, contract.categories, lines, clock.today(), holding_already=contract_id
        )
        try:
            await repo.update_contract(
                contract_id, {"status": "active", "signed_by": principal.user_id, "signed_at": clock.now()}, clock.now()
            )
        except asyncpg.UniqueViolationError as exc:  # another franchise of the scope came into force first
            raise FranchiseScopeTaken(detail={"scope": contract.scope}) from exc
        if contract.need_ids:
            await repo.set_need_status(contract.need_ids, "matched", clock.now(), only_from="open")
        await audit.record(
            principal,
            "contract.sign",
            "contract",
            contract_id,
            before={"status": "draft"},
            after={"status": "active"},
            reason=reason or _signing_reason(contract),
        )
        return _written(await repo.get_contract(contract_id))


async def renew_contract(principal: Principal, contract_id: int, changes: dict, reason: str) -> ContractRow:
    """A linked successor from the day the contract ends; the contract becomes 'renewed'. The operator must
    be in good standing and listed for the contract's categories both today and on that day."""
    reason = require_reason(reason)
    async with transaction():
        contract = await _contract_for_officials(principal, contract_id)
        if contract.status not in ("active", "expiring"):
            raise ContractStateInvalid()
        _check_term(contract.ends_on, changes["ends_on"])
        # The successor takes over the unit of capacity the contract holds. The operator must be listed
        # today and on the day the new term starts: a listing lapsing before then does not carry a renewal.
        lines = await repo.contract_lines(contract_id)
        parties = [(line.operator_id, line.category) for line in lines]
        for on in (clock.today(), contract.ends_on):
            await _check_parties(contract.operator_id, contract.categories, parties, on, holding_already=contract_id)
        successor = {
            "street_id": contract.street_id,
            "community_id": contract.community_id,
            "operator_id": contract.operator_id,
            "categories": contract.categories,
            "starts_on": contract.ends_on,
            "ends_on": changes["ends_on"],
            "annual_fee": changes.get("annual_fee", contract.annual_fee),
            "revenue_share": changes.get("revenue_share", contract.revenue_share),
            "kpis": changes.get("kpis") or contract.kpis,
            "renewal_of": contract_id,
            "need_ids": contract.need_ids,
            **{name: getattr(contract, name) for name in ("kind", *FRANCHISE_ONLY)},
            "alliance_id": contract.alliance_id,
        }
        # The contract leaves force before its successor enters it: a franchise's scope holds one at a time.
        await repo.update_contract(contract_id, {"status": "renewed"}, clock.now())
        try:
            successor_id = await repo.insert_contract(
                successor, status="active", created_by=principal.user_id, now=clock.now()
            )
        except asyncpg.UniqueViolationError as exc:
            raise ContractStateInvalid() from exc
        if lines:
            await repo.insert_contract_lines(
                successor_id,
                [{"operator_id": x.operator_id, "category": x.category, "fee_share": x.fee_share} for x in lines],
            )
        await audit.record(
            principal,
            "contract.renew",
            "contract",
            contract_id,
            reason=reason,
            before={"status": contract.status},
            after={"status": "renewed", "successor_id": successor_id, **successor},
        )
        return _written(await repo.get_contract(successor_id))


async def terminate_contract(principal: Principal, contract_id: int, reason: str) -> ContractRow:
    """Ends a contract early (or withdraws a draft); its needs open again."""
    reason = require_reason(reason)
    async with transaction():
        contract = await _contract_for_officials(principal, contract_id)
        if contract.status not in ("draft", "active", "expiring"):
            raise ContractStateInvalid()
        await repo.update_contract(
            contract_id,
            {
                "status": "terminated",
                "terminated_by": principal.user_id,
                "terminated_at": clock.now(),
                "termination_reason": reason,
            },
            clock.now(),
        )
        if contract.need_ids:
            await repo.set_need_status(contract.need_ids, "open", clock.now(), only_from="matched")
        await audit.record(
            principal,
            "contract.terminate",
            "contract",
            contract_id,
            before={"status": contract.status},
            after={"status": "terminated"},
            reason=reason,
        )
        return _written(await repo.get_contract(contract_id))


async def mark_expiring_contracts(days: int = 90) -> list[int]:
    today = clock.today()
    async with transaction():
        ids = await repo.mark_expiring(today, today + timedelta(days=days), clock.now())
        await audit.record_many(None, "contract.expiring", "contract", [(i, {"status": "expiring"}) for i in ids])
    return ids


# Ledger ----------------------------------------------------------------------------------------


def _check_month(month: date) -> date:
    month = month_start(month)
    if month > month_start(clock.today()):
        raise LedgerMonthInvalid()
    return month


def posting_org(principal: Principal, path: str) -> int:
    """The deepest official grant covering `path`: the street when a street official posts."""
    grants = [g for g in principal.grants if g.role in OFFICIAL_ROLES and path.startswith(g.org_path)]
    return max(grants, key=lambda g: len(g.org_path)).org_id


async def _insert_entries(
    principal: Principal | None, entries: list[dict], posted_by_org: int | None
) -> list[LedgerEntryRow]:
    try:
        return await repo.insert_entries(
            entries, posted_by=principal.user_id if principal else None, posted_by_org=posted_by_org, now=clock.now()
        )
    except asyncpg.UniqueViolationError as exc:
        raise LedgerSourceExists(detail={"sources": [e["source"] for e in entries]}) from exc


async def post_entry(
    principal: Principal, community_id: int, *, month: date, kind: str, amount: int, reference: str, note: str
) -> LedgerEntryRow:
    """A street (or district, or city) posts a cost or a subsidy under a voucher reference. The reference is
    unique per community whoever posts it: a street and its district posting one voucher would count it twice."""
    if kind not in OFFICIAL_LEDGER_KINDS:
        raise LedgerKindNotAllowed(detail={"allowed": sorted(OFFICIAL_LEDGER_KINDS)})
    month = _check_month(month)
    reference = reference.strip()
    source = f"voucher:{community_id}:{reference}"
    async with transaction():
        community = await _editable_community(principal, community_id)
        org_id = posting_org(principal, community.org_path)
        existing = await repo.entry_by_source(source)
        if existing is not None:
            raise LedgerVoucherExists(
                detail={
                    "reference": reference,
                    "entry_id": existing.id,
                    "posted_by_org_id": existing.posted_by_org_id,
                    "posted_by_org_name": existing.posted_by_org_name,
                }
            )
        entry = {
            "community_id": community_id,
            "month": month,
            "direction": _direction(kind),
            "kind": kind,
            "amount": amount,
            "source": source,
            "note": note,
        }
        try:
            (written,) = await _insert_entries(principal, [entry], org_id)
        except LedgerSourceExists as exc:  # the same voucher posted at the same moment
            raise LedgerVoucherExists(detail={"reference": reference}) from exc
        await audit.record(principal, "ledger.post", "community", community_id, after=entry)
        return written


def _direction(kind: str) -> str:
    return "income" if kind in INCOME_KINDS else "cost"


async def report_operator_month(
    principal: Principal, contract_id: int, *, month: date, service_revenue: int, costs: dict[str, int]
) -> list[LedgerEntryRow]:
    """An operator reports one month of service revenue and costs for a community it has a contract with.
    Each figure's source is contract × month × kind: a month is reported once."""
    month = _check_month(month)
    contract = await _readable_contract(principal, contract_id)
    if contract.operator_org_id not in principal.org_ids(Role.operator):
        raise PermissionDenied("只有合同的运营商可以申报月度收支")  # officials read it, but do not report for it
    next_month = add_months(month, 1)
    terminated_on = clock.business_date(contract.terminated_at) if contract.terminated_at else None
    in_force = (
        contract.community_id is not None
        and contract.status in repo.IN_FORCE_STATES
        and contract.starts_on < next_month
        and contract.ends_on > month
        and (terminated_on is None or terminated_on > month)
    )
    if not in_force:
        raise NoContractForMonth()
    label = f"{month:%Y-%m}"
    figures = [("service_revenue", service_revenue), *((k, costs.get(k, 0)) for k in OPERATOR_REPORT_COST_KINDS)]
    entries = [
        {
            "community_id": contract.community_id,
            "month": month,
            "direction": _direction(kind),
            "kind": kind,
            "amount": amount,
            "source": f"contract:{contract_id}:{label}:{kind}",
            "contract_id": contract_id,
            "note": f"{contract.operator_name} {label} 月报",
        }
        for kind, amount in figures
        if amount > 0
    ]
    if not entries:
        return []
    async with transaction():
        written = await _insert_entries(principal, entries, contract.operator_org_id)
        await audit.record(principal, "ledger.operator_report", "contract", contract_id, after=entries)
        return written


async def post_system_income(
    community_id: int, *, month: date, kind: str, amount: int, source: str, note: str = ""
) -> bool:
    """For other domains (rent paid on a lease): posts once per source and reports whether it did.
    Runs inside the caller's transaction."""
    if kind not in LEDGER_KIND_LABELS:
        raise ValueError(f"unknown ledger kind {kind!r}")
    entry = {
        "community_id": community_id,
        "month": month_start(month),
        "direction": _direction(kind),
        "kind": kind,
        "amount": amount,
        "source": source,
        "note": note,
    }
    return bool(await repo.insert_entries_once([entry], now=clock.now()))


async def post_points_payout(community_id: int, operator_id: int, amount_fen: int, source_id: int, memo: str) -> bool:
    """The community pays an operator for a service residents redeemed with points: one cost entry
    (运营服务费) per redemption, whatever calls it and how often (unique source). Runs inside the caller's
    transaction. A community with a fund (社区基金) pays out of it, and refuses with FundInsufficient when the
    fund cannot cover the payout; without one, the community's operating budget pays."""
    async with transaction():
        if await repo.fund_of_community(community_id, for_update=False) is not None:
            await fund_pay(community_id, amount_fen, "points-redemption", source_id, memo)
        entry = {
            "community_id": community_id,
            "month": month_start(clock.today()),
            "direction": "cost",
            "kind": "service_fee",
            "amount": amount_fen,
            "source": f"points-redemption:{source_id}",
            "note": f"积分兑换服务结算（运营商 {operator_id}）{memo}"[:500],
        }
        return bool(await repo.insert_entries_once([entry], now=clock.now()))


async def list_entries(
    principal: Principal, community_id: int, *, start: date | None, end: date | None, limit: int, offset: int
) -> tuple[list[LedgerEntryRow], int]:
    community = await _readable_community(principal, community_id)
    # An operator reading through its contract sees the entries it reported, not the street's or a rival's.
    posted_by = None if principal.can_read_path(community.org_path) else principal.org_ids(Role.operator)
    start, end = _window(start, end)
    return await with_total(
        lambda lim, off: repo.list_entries(community_id, start, end, lim, off, posted_by_orgs=posted_by), limit, offset
    )


# Balance ---------------------------------------------------------------------------------------


def _window(start: date | None, end: date | None) -> tuple[date, date]:
    """Default: the trailing complete months (BALANCE_WINDOW_MONTHS); months are [start, end)."""
    default_start, default_end = trailing_window(clock.today(), get_settings().balance_window_months)
    start = month_start(start) if start else None
    end = month_start(end) if end else None
    if start is None:
        if end is None:
            return default_start, default_end
        start = add_months(end, -get_settings().balance_window_months)
    elif end is None:
        end = add_months(start, get_settings().balance_window_months)
    if start >= end or add_months(start, MAX_WINDOW_MONTHS) < end:
        raise WindowInvalid()
    return start, end


def _months(start: date, end: date) -> list[date]:
    months, month = [], start
    while month < end:
        months.append(month)
        month = add_months(month, 1)
    return months


async def _commitments(community_ids: list[int], first_month: date) -> dict[int, list[Commitment]]:
    """What active contracts (and any other domain, e.g. leases) already promise each community."""
    found: dict[int, list[Commitment]] = {c: [] for c in community_ids}
    for contract in await repo.contract_commitments(community_ids, first_month):
        monthly = (contract.annual_fee + 6) // 12  # nearest fen; a forecast, not a posting
        found[contract.community].append(Commitment(contract.starts_on, contract.ends_on, monthly, is_income=False))
    for source in collect("service", "BALANCE_COMMITMENTS"):
        for community_id, commitment in await source(community_ids, first_month):
            found[community_id].append(commitment)
    return found


async def community_balance(
    principal: Principal, community_id: int, *, start: date | None = None, end: date | None = None
) -> CommunityBalance:
    community = await _readable_community(principal, community_id)
    start, end = _window(start, end)
    found = {row.month: row for row in await repo.monthly_totals(community_id, start, end)}
    monthly = [found.get(m) or MonthFigures(month=m, income=0, cost=0) for m in _months(start, end)]
    result = balance(sum(m.income for m in monthly), sum(m.cost for m in monthly), thresholds())
    first_month = month_start(clock.today())
    commitments = (await _commitments([community_id], first_month))[community_id]
    by_kind = await repo.totals_by_kind(community_id, start, end)
    return CommunityBalance(
        community=community,
        start=start,
        end=end,
        balance=result,
        monthly=monthly,
        by_kind=[
            KindFigures(direction=k.direction, kind=k.kind, label=LEDGER_KIND_LABELS[k.kind], amount=k.amount)
            for k in by_kind
        ],
        forecast=[MonthFigures(month=m, income=i, cost=c) for m, i, c in forecast(commitments, first_month)],
    )


async def balances(start: date, end: date) -> list[dict]:
    """Every community's balance over [start, end), for the scheduler's snapshot: one statement."""
    current = thresholds()
    return [
        {**msgspec.structs.asdict(row), "balance": balance(row.income, row.cost, current)}
        for row in await repo.balance_overview(["/%"], None, start, end)
    ]


STATUS_ORDER = {"imbalanced": 0, "warning": 1, "balanced": 2, "no_data": 3}


def _overview_sort_key(row: CommunityBalanceRow) -> tuple[int, Decimal, int]:
    result = row.balance
    ratio = result.ratio if result.ratio is not None else Decimal("Infinity")
    return STATUS_ORDER[result.status.value], ratio, row.community.id


async def balance_overview(
    principal: Principal,
    *,
    district_id: int | None,
    status: str | None,
    start: date | None,
    end: date | None,
    limit: int,
    offset: int,
) -> Overview:
    """Every community in scope with its balance: one statement, worst first."""
    start, end = _window(start, end)
    question = (
        tuple(principal.read_paths()),
        district_id,
        status,
        start,
        end,
        limit,
        offset,
        dataclasses.astuple(thresholds()),
    )
    return await _overviews.read(
        question, lambda: _overview(principal.read_paths(), district_id, status, start, end, limit, offset)
    )


async def _overview(
    read_paths: list[str], district_id: int | None, status: str | None, start: date, end: date, limit: int, offset: int
) -> Overview:
    found = await repo.balance_overview(like_patterns(read_paths), district_id, start, end)
    current = thresholds()
    rows = [CommunityBalanceRow(community=c, balance=balance(c.income, c.cost, current)) for c in found]
    counts = {s: 0 for s in STATUS_ORDER}
    for row in rows:
        counts[row.balance.status.value] += 1
    selected = sorted((r for r in rows if status is None or r.balance.status.value == status), key=_overview_sort_key)
    return Overview(
        start=start,
        end=end,
        thresholds=current,
        communities=len(rows),
        counts=counts,
        total=balance(sum(c.income for c in found), sum(c.cost for c in found), current),
        items=selected[offset : offset + limit],
        matching=len(selected),
    )


# Subsidies -------------------------------------------------------------------------------------


def hangzhou_subsidy(total_cost: int, area_m2: Decimal, share: Decimal) -> int:
    try:
        return subsidy.hangzhou_old_estate_subsidy(total_cost, area_m2, share)
    except ValueError as exc:
        raise SubsidyInputInvalid(detail={"problem": str(exc)}) from exc


def fuyang_award(**facts) -> subsidy.FuyangAward:
    try:
        return subsidy.fuyang_award(**facts)
    except ValueError as exc:
        raise SubsidyInputInvalid(detail={"problem": str(exc)}) from exc


# One-click community report -------------------------------------------------------------------


async def community_report(principal: Principal, community_id: int) -> CommunityReport:
    """Everything about one community for one document: file, needs, contracts, ledger and balance, plus
    the sections other domains add (spaces and leases)."""
    community = await _readable_community(principal, community_id)
    if not principal.can_read_path(community.org_path):
        raise CommunityNotFound()
    needs, _ = await repo.list_needs(
        patterns=None, community_id=community_id, status=None, category=None, limit=1000, offset=0
    )
    contracts, _ = await repo.list_contracts(
        patterns=["/%"],
        operator_org_ids=[],
        community_id=community_id,
        operator_id=None,
        status=None,
        limit=1000,
        offset=0,
    )
    return CommunityReport(
        community=community,
        needs=needs,
        contracts=contracts,
        balance=await community_balance(principal, community_id),
        sections=[await build(community_id) for build in collect("service", "COMMUNITY_REPORT_SECTIONS")],
        generated_at=clock.now(),
        category_names=await repo.category_names(),
    )


# Complaints and quarterly performance ----------------------------------------------------------


async def file_complaint(principal: Principal, contract_id: int, received_on: date, text: str) -> ComplaintView:
    """An official of the contract's street (or above) records a resident's complaint about its service."""
    text = text.strip()
    if not text:
        raise ValidationFailed("投诉内容不能为空", detail={"field": "text"})
    if received_on > clock.today():
        raise ValidationFailed("投诉日期不能晚于今天", detail={"field": "received_on"})
    async with transaction():
        contract = await _contract_for_officials(principal, contract_id)
        if contract.status == "draft" or received_on < contract.starts_on:
            raise ValidationFailed("投诉日期须在合同开始之后", detail={"field": "received_on"})
        org_id = next(
            g.org_id
            for g in principal.grants
            if g.role in OFFICIAL_ROLES and contract.street_path.startswith(g.org_path)
        )
        complaint = await repo.insert_complaint(contract_id, received_on, text, principal.user_id, org_id, clock.now())
        await audit.record(
            principal, "complaint.file", "contract", contract_id, after={"complaint_id": complaint.id, "text": text}
        )
    return complaint


async def list_complaints(
    principal: Principal, contract_id: int, limit: int, offset: int
) -> tuple[list[ComplaintView], int]:
    await _readable_contract(principal, contract_id)
    return await with_total(lambda lim, off: repo.complaints_for(contract_id, lim, off), limit, offset)


def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


async def quarterly_evaluations(
    start: date,
    arrears: dict[tuple[int, int], int] | None = None,
    satisfaction: dict[int, Decimal] | None = None,
) -> list[int]:
    """A computed evaluation of every contract in force during the quarter starting `start`: from its monthly
    reports, its community's balance, complaints, and the rent arrears of the operator's rooms in the community
    (`arrears` by (operator, community), from leasing). Once per contract and quarter. Returns the new ids.
    `satisfaction` is the residents' satisfaction rate (percent) of the quarter's closed survey, by contract."""
    arrears = arrears or {}
    satisfaction = satisfaction or {}
    settings = get_settings()
    end = add_months(start, 3)
    weights = performance.weights(settings.performance_weights)
    thresholds = Thresholds(settings.balance_balanced_at, settings.balance_warning_at)
    contracts = [c for c in await repo.contracts_in_force_during(start, end) if not c.already_evaluated]
    ids = [c.id for c in contracts]
    communities = sorted({c.community_id for c in contracts})
    reports = await repo.report_months(ids, start, end)
    complaints = await repo.complaint_counts(ids, start, end)
    now_totals = await repo.ledger_totals(communities, start, end)
    before_totals = await repo.ledger_totals(communities, add_months(start, -3), start)
    by_contract: dict[int, list[repo.ReportMonth]] = {}
    for r in reports:
        by_contract.setdefault(r.contract_id, []).append(r)
    drafts = []
    for c in contracts:
        until = min(c.ends_on, c.terminated_on or c.ends_on)
        months = [add_months(start, i) for i in range(3)]
        due = [m for m in months if c.starts_on < add_months(m, 1) and until > m]
        filed = {r.month: r for r in by_contract.get(c.id, [])}
        on_time = sum(
            1
            for m in due
            if m in filed
            and clock.business_date(filed[m].first_filed)
            <= add_months(m, 1) + timedelta(days=settings.monthly_report_due_day - 1)
        )
        complete = sum(
            1
            for m in due
            if m in filed
            and "service_revenue" in filed[m].kinds
            and set(filed[m].kinds) & set(OPERATOR_REPORT_COST_KINDS)
        )
        now = balance(*now_totals.get(c.community_id, (0, 0)), thresholds)
        before = balance(*before_totals.get(c.community_id, (0, 0)), thresholds)
        facts = performance.QuarterFacts(
            months_due=len(due),
            reports_on_time=on_time,
            reports_complete=complete,
            balance_status=now.status,
            balance_ratio=now.ratio.quantize(Decimal("0.0001")) if now.ratio is not None else None,
            previous_ratio=before.ratio.quantize(Decimal("0.0001")) if before.ratio is not None else None,
            complaints=complaints.get(c.id, 0),
            satisfaction=satisfaction.get(c.id),
            arrears=arrears.get((c.operator_id, c.community_id)),
        )
        score, parts = performance.score(facts, weights)
        drafts.append(
            providers_repo.ComputedEvaluation(
                operator_id=c.operator_id,
                contract_id=c.id,
                evaluator_org_id=c.street_id,
                score=score,
                complaints=facts.complaints,
                satisfaction=facts.satisfaction,
                period_start=start,
                period_end=end,
                parts=parts,
                comment=f"{start:%Y} 年第 {(start.month - 1) // 3 + 1} 季度履约评价（系统按月报、收支、投诉与租金欠缴计算）",
            )
        )
    async with transaction():
        created = await providers_repo.insert_computed_evaluations(drafts, clock.now())
        await audit.record_many(
            None,
            "contract.performance_evaluated",
            "contract",
            [(e.contract_id, {"evaluation_id": e.id, "score": e.score, "parts": e.parts}) for e in created],
        )
    return [e.id for e in created]


# Contracts of suspended or removed operators ---------------------------------------------------


async def decide_after_registry_change(
    principal: Principal, contract_id: int, decision: str, reason: str
) -> RegistryDecisionView:
    """The street decides on a contract whose operator was suspended or removed: go on to the end of the term,
    or terminate now. Either way with a reason, audited; the street's flag for it resolves."""
    reason = require_reason(reason)
    async with transaction():
        contract = await _contract_for_officials(principal, contract_id)
        due = await repo.awaiting_decision(contract_id)
        if due is None:
            raise NoRegistryDecisionDue(detail={"status": contract.status})
        now = clock.now()
        await repo.insert_registry_decision(
            contract_id, due.status_decision_id, decision, reason, principal.user_id, now
        )
        status = contract.status
        if decision == "terminate":
            status = "terminated"
            await repo.update_contract(
                contract_id,
                {
                    "status": status,
                    "terminated_by": principal.user_id,
                    "terminated_at": now,
                    "termination_reason": reason,
                },
                now,
            )
            if contract.need_ids:
                await repo.set_need_status(contract.need_ids, "open", now, only_from="matched")
        await audit.record(
            principal,
            f"contract.registry_{decision}",
            "contract",
            contract_id,
            before={"status": contract.status, "registry_status": due.registry_status},
            after={"status": status, "decision": decision, "status_decision_id": due.status_decision_id},
            reason=reason,
        )
        await repo.resolve_registry_flag(
            contract_id, due.status_decision_id, f"{REGISTRY_DECISION_LABELS[decision]}：{reason}", now
        )
    return RegistryDecisionView(
        contract_id=contract_id,
        status_decision_id=due.status_decision_id,
        decision=decision,
        reason=reason,
        contract_status=status,
    )


async def contracts_awaiting_decision() -> list[repo.AwaitingDecision]:
    return await repo.contracts_awaiting_decision()


# Community fund --------------------------------------------------------------------------------

# What a fund's movements are on the community's ledger.
FUND_LEDGER_KINDS = {"donation": "other_income", "subsidy": "subsidy", "grant": "other_cost"}


def _text(value: str, field: str, label: str) -> str:
    value = value.strip()
    if not value:
        raise ValidationFailed(f"{label}不能为空", detail={"field": field})
    return value


async def open_fund(principal: Principal, community_id: int, *, name: str, charter: str) -> FundRow:
    """A street (or its district, or the city) opens the community's fund; a community has at most one."""
    name = _text(name, "name", "基金名称")
    async with transaction():
        community = await _editable_community(principal, community_id, for_update=True)
        if await repo.fund_of_community(community.id) is not None:
            raise FundExists()
        fund_id = await repo.insert_fund(
            community_id=community.id, name=name, charter=charter.strip(), opened_by=principal.user_id, now=clock.now()
        )
        await audit.record(principal, "fund.open", "fund", fund_id, after={"community_id": community.id, "name": name})
        return _written(await repo.fund_of_community(community.id))


async def _fund(principal: Principal, community_id: int, *, for_update: bool = False) -> FundRow:
    community = await _readable_community(principal, community_id)
    fund = await repo.fund_of_community(community.id, for_update=for_update)
    if fund is None:
        raise FundNotFound()
    return fund


async def _fund_to_write(principal: Principal, community_id: int) -> FundRow:
    """The fund, locked, for an official of its community: movements of one fund queue up behind it."""
    community = await _editable_community(principal, community_id)
    fund = await repo.fund_of_community(community.id, for_update=True)
    if fund is None:
        raise FundNotFound()
    return fund


async def get_fund(principal: Principal, community_id: int) -> FundRow:
    return await _fund(principal, community_id)


async def list_fund_movements(
    principal: Principal, community_id: int, limit: int, offset: int
) -> tuple[list[FundMovementRow], int]:
    fund = await _fund(principal, community_id)
    return await with_total(lambda lim, off: repo.list_fund_movements(fund.id, lim, off), limit, offset)


async def _move_with_entry(
    principal: Principal, fund: FundRow, kind: str, amount: int, reference: str, fields: dict
) -> FundMovementRow:
    """The movement and its ledger entry, both named by the fund's voucher or receipt reference."""
    source = f"fund:{fund.id}:{kind}:{reference}"
    if await repo.movement_by_source(source) is not None:
        raise FundReferenceExists(detail={"reference": reference})
    if kind == "grant" and fund.balance < amount:
        raise FundInsufficient(detail={"balance": fund.balance, "amount": amount})
    label = FUND_MOVEMENT_KIND_LABELS[kind]
    try:
        (entry,) = await _insert_entries(
            principal,
            [
                {
                    "community_id": fund.community_id,
                    "month": month_start(clock.today()),
                    "direction": _direction(FUND_LEDGER_KINDS[kind]),
                    "kind": FUND_LEDGER_KINDS[kind],
                    "amount": amount,
                    "source": source,
                    "note": f"{fund.name}{label}：{fields['counterparty']}（{reference}）",
                }
            ],
            posting_org(principal, fund.org_path),
        )
    except LedgerSourceExists as exc:
        raise FundReferenceExists(detail={"reference": reference}) from exc
    try:
        return await repo.move_fund(
            fund_id=fund.id,
            kind=kind,
            amount=amount,
            source=source,
            fields={**fields, "reference": reference, "ledger_entry_id": entry.id},
            now=clock.now(),
        )
    except asyncpg.CheckViolationError as exc:  # the database's last word on the balance
        raise FundInsufficient(detail={"amount": amount}) from exc


async def contribute_to_fund(
    principal: Principal, community_id: int, *, kind: str, amount: int, counterparty: str, reference: str, note: str
) -> FundMovementRow:
    """A donation or a subsidy into the fund, on the community's ledger as income under its voucher."""
    counterparty = _text(counterparty, "counterparty", "捐赠人或拨款单位")
    reference = _text(reference, "reference", "收款凭证号")
    async with transaction():
        fund = await _fund_to_write(principal, community_id)
        movement = await _move_with_entry(
            principal, fund, kind, amount, reference, {"counterparty": counterparty, "purpose": note.strip()}
        )
        await audit.record(
            principal,
            "fund.contribution",
            "fund",
            fund.id,
            after={"kind": kind, "amount": amount, "counterparty": counterparty, "reference": reference},
        )
        return movement


async def grant_from_fund(
    principal: Principal, community_id: int, *, amount: int, purpose: str, counterparty: str, reference: str
) -> FundMovementRow:
    """A grant to residents' self-governance or a public-welfare activity: the official recording it approves
    it, for a purpose, against a receipt. The fund cannot pay more than it holds."""
    purpose = _text(purpose, "purpose", "资助用途")
    counterparty = _text(counterparty, "counterparty", "受资助的居民组织或活动")
    reference = _text(reference, "reference", "支出票据号")
    async with transaction():
        fund = await _fund_to_write(principal, community_id)
        movement = await _move_with_entry(
            principal,
            fund,
            "grant",
            amount,
            reference,
            {"counterparty": counterparty, "purpose": purpose, "approved_by": principal.user_id},
        )
        await audit.record(
            principal,
            "fund.grant",
            "fund",
            fund.id,
            before={"balance": fund.balance},
            after={"balance": movement.balance_after, "amount": amount, "counterparty": counterparty},
            reason=purpose,
        )
        return movement


async def fund_pay(
    community_id: int, amount_fen: int, source_kind: str, source_id: object, memo: str = ""
) -> FundMovementRow:
    """For other services (residents' points redeemed with an operator): pays `amount_fen` out of the
    community's fund inside the caller's transaction (or a transaction of its own). Idempotent by
    (source_kind, source_id): paying one source again returns the first payment and debits nothing. The
    caller posts the cost on the ledger (market's post_points_payout does); the fund only records where
    the money went. Raises FundNotFound without a fund, FundInsufficient when it cannot cover the amount."""
    if amount_fen <= 0:
        raise ValueError("a fund payment is a positive amount of fen")
    source = f"{source_kind}:{source_id}"
    async with transaction():
        fund = await repo.fund_of_community(community_id, for_update=True)
        if fund is None:
            raise FundNotFound()
        paid = await repo.movement_by_source(source)
        if paid is not None:
            return paid
        if fund.balance < amount_fen:
            raise FundInsufficient(detail={"balance": fund.balance, "amount": amount_fen})
        movement = await repo.move_fund(
            fund_id=fund.id,
            kind="points_payout",
            amount=amount_fen,
            source=source,
            fields={"purpose": memo, "reference": str(source_id)},
            now=clock.now(),
        )
        await audit.record(
            None,
            "fund.pay",
            "fund",
            fund.id,
            after={"amount": amount_fen, "source": source, "balance": movement.balance_after},
        )
        return movement


# Franchises ------------------------------------------------------------------------------------


def franchise_charge(annual_fee: int, revenue_share: Decimal | None, revenue: int) -> tuple[int, int]:
    """One month of a franchise: a twelfth of the yearly fee and the share of the month's revenue, each
    rounded half up to the fen."""
    fee = int((Decimal(annual_fee) / 12).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    share = int((Decimal(revenue) * (revenue_share or Decimal(0))).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return fee, share


def _in_force(contract: ContractRow, month: date) -> bool:
    terminated_on = clock.business_date(contract.terminated_at) if contract.terminated_at else None
    return (
        contract.status in repo.IN_FORCE_STATES
        and contract.starts_on < add_months(month, 1)
        and contract.ends_on > month
        and (terminated_on is None or terminated_on > month)
    )


async def invoice_franchise(principal: Principal, contract_id: int, month: date, revenue: int) -> FranchiseInvoiceRow:
    """The street invoices a month of a franchise; what the franchisee owes is posted at once to the
    community's ledger as income. A month is invoiced once."""
    month = _check_month(month)
    async with transaction():
        contract = await _contract_for_officials(principal, contract_id)
        if contract.kind != "franchise" or contract.community_id is None:
            raise NotAFranchise()
        if not _in_force(contract, month):
            raise NoContractForMonth()
        fee, share = franchise_charge(contract.franchise_fee, contract.revenue_share, revenue)
        if fee + share <= 0:
            raise FranchiseInvoiceEmpty(detail={"field": "revenue"})
        label = f"{month:%Y-%m}"
        entry = {
            "community_id": contract.community_id,
            "month": month,
            "direction": "income",
            "kind": "other_income",
            "amount": fee + share,
            "source": f"franchise:{contract_id}:{label}",
            "contract_id": contract_id,
            "note": f"{contract.operator_name} {contract.scope}特许经营费 {label}",
        }
        try:
            (posted,) = await _insert_entries(principal, [entry], posting_org(principal, contract.street_path))
        except LedgerSourceExists as exc:
            raise FranchiseInvoiceExists(detail={"month": label}) from exc
        invoice = await repo.insert_franchise_invoice(
            {
                "contract_id": contract_id,
                "month": month,
                "revenue": revenue,
                "fee_amount": fee,
                "share_amount": share,
                "amount": fee + share,
                "ledger_entry_id": posted.id,
            },
            invoiced_by=principal.user_id,
            now=clock.now(),
        )
        await audit.record(
            principal,
            "franchise.invoice",
            "contract",
            contract_id,
            after={"month": label, "revenue": revenue, "fee": fee, "share": share},
        )
        return invoice


# State-owned platforms -------------------------------------------------------------------------

PLATFORM_ORG_KINDS = (OrgKind.owner, OrgKind.operator)


def _require_city(principal: Principal) -> None:
    if not principal.has_role(Role.city):
        raise PermissionDenied("只有市建委工作人员可以操作国企平台统一运营试点")


async def designate_platform(principal: Principal, fields: dict) -> PlatformRow:
    """City staff designate a state-owned company as a city- or district-level platform."""
    _require_city(principal)
    reason = require_reason(fields["reason"])
    async with transaction():
        org = await accounts_repo.get_org(fields["org_id"])
        if org is None or org.kind not in PLATFORM_ORG_KINDS:
            raise PlatformOrgInvalid(detail={"field": "org_id"})
        if fields["level"] == "district":
            district = await accounts_repo.get_org(fields["district_id"]) if fields.get("district_id") else None
            if district is None or district.kind != OrgKind.district:
                raise PlatformOrgInvalid(detail={"field": "district_id"})
        elif fields.get("district_id") is not None:
            raise PlatformOrgInvalid(detail={"field": "district_id"})
        try:
            platform_id = await repo.insert_platform(
                {**fields, "reason": reason}, designated_by=principal.user_id, now=clock.now()
            )
        except asyncpg.UniqueViolationError as exc:
            raise PlatformExists() from exc
        await audit.record(
            principal,
            "platform.designate",
            "platform",
            platform_id,
            before={"org_id": org.id, "platform": False},
            after={"org_id": org.id, "level": fields["level"], "district_id": fields.get("district_id")},
            reason=reason,
        )
        return _written(await repo.get_platform(platform_id))


def _platform_reader_orgs(principal: Principal) -> list[int] | None:
    """None: the reader sees every platform (officials, auditors); otherwise the companies whose platform
    the reader may see (its own)."""
    if any(principal.has_role(role) for role in (*OFFICIAL_ROLES, Role.auditor)):
        return None
    return principal.org_ids(Role.owner) + principal.org_ids(Role.operator)


async def _readable_platform(principal: Principal, platform_id: int) -> PlatformRow:
    platform = await repo.get_platform(platform_id)
    orgs = _platform_reader_orgs(principal)
    if platform is None or (orgs is not None and platform.org_id not in orgs):
        raise PlatformNotFound()
    return platform


async def list_platforms(principal: Principal, limit: int, offset: int) -> tuple[list[PlatformRow], int]:
    orgs = _platform_reader_orgs(principal)
    return await with_total(lambda lim, off: repo.list_platforms(orgs, lim, off), limit, offset)


async def platform_detail(
    principal: Principal, platform_id: int
) -> tuple[PlatformRow, list[AssignmentRow], MasterContractRow | None, int]:
    platform = await _readable_platform(principal, platform_id)
    master = await repo.master_contract_of(platform.id)
    subs = await repo.sub_contract_count(master.id) if master else 0
    return platform, await repo.assignments_of(platform.id), master, subs


async def assign_to_platform(principal: Principal, platform_id: int, fields: dict) -> AssignmentRow:
    """An old-renovation community goes under the platform from `starts_on`; the database refuses a second
    platform over the same days, however many officials assign at once."""
    _require_city(principal)
    reason = require_reason(fields["reason"])
    async with transaction():
        platform = await _readable_platform(principal, platform_id)
        community = await repo.get_community(fields["community_id"])
        if community is None:
            raise CommunityNotFound()
        if community.community_type != "renovation":
            raise NotRenovationCommunity(detail={"field": "community_id"})
        if platform.district_id is not None and community.district_id != platform.district_id:
            raise CommunityOutsidePlatformDistrict(detail={"field": "community_id"})
        try:
            assignment_id = await repo.insert_assignment(
                {
                    "platform_id": platform.id,
                    "community_id": community.id,
                    "starts_on": fields["starts_on"],
                    "reason": reason,
                },
                assigned_by=principal.user_id,
                now=clock.now(),
            )
        except asyncpg.ExclusionViolationError as exc:
            raise CommunityUnderPlatform(detail={"community_id": community.id}) from exc
        await audit.record(
            principal,
            "platform.assign",
            "community",
            community.id,
            before={"platform_id": None},
            after={"platform_id": platform.id, "starts_on": fields["starts_on"]},
            reason=reason,
        )
        return _written(await repo.get_assignment(assignment_id))


async def sign_master_contract(principal: Principal, platform_id: int, fields: dict) -> MasterContractRow:
    """The platform's one master contract in force, covering the communities assigned to it."""
    _require_city(principal)
    reason = require_reason(fields.pop("reason"))
    _check_term(fields["starts_on"], fields["ends_on"])
    async with transaction():
        platform = await _readable_platform(principal, platform_id)
        try:
            master = await repo.insert_master_contract(
                {**fields, "platform_id": platform.id, "terms": fields["terms"].strip()},
                signed_by=principal.user_id,
                now=clock.now(),
            )
        except asyncpg.UniqueViolationError as exc:
            raise MasterContractExists() from exc
        await audit.record(
            principal,
            "platform.master_contract",
            "platform",
            platform.id,
            before={"master_contract_id": None},
            after={"master_contract_id": master.id, **fields},
            reason=reason,
        )
        return master


async def _check_master_contract(fields: dict) -> None:
    """A sub-contract under a platform's master contract: the master is in force and the community is under
    its platform on the day the sub-contract starts."""
    master_id = fields.get("master_contract_id")
    if master_id is None:
        return
    master = await repo.get_master_contract(master_id)
    if (
        master is None
        or master.status != "active"
        or fields.get("community_id") is None
        or await repo.platform_of_community(fields["community_id"], fields["starts_on"]) != master.platform_id
    ):
        raise MasterContractInvalid(detail={"field": "master_contract_id"})


def _portfolio_explanation(result: portfolio.Portfolio) -> str:
    if result.cross_subsidy == 0:
        return "各社区之间没有盈亏互补"
    return (
        f"盈余社区共结余 {format_yuan(result.surplus)}，亏损社区共缺口 {format_yuan(result.deficit)}，"
        f"平台内部以盈补亏 {format_yuan(result.cross_subsidy)}"
    )


async def platform_portfolio(
    principal: Principal, platform_id: int, start: date | None, end: date | None
) -> PortfolioView:
    """Each community's income and cost under the platform and the platform's total over the window, with
    how much of one community's surplus covers another's gap."""
    platform = await _readable_platform(principal, platform_id)
    start, end = _window(start, end)
    assignments = await repo.assignments_of(platform.id)
    totals = await repo.community_totals([a.community_id for a in assignments], start, end)
    lines = []
    for a in assignments:
        income, cost = totals.get(a.community_id, (0, 0))
        figures = portfolio.Figures(1, income, cost)
        lines.append(
            PortfolioLine(
                community_id=a.community_id,
                community_name=a.community_name,
                income=income,
                cost=cost,
                net=figures.net,
                ratio=_rounded(figures.ratio),
            )
        )
    result = portfolio.portfolio([(line.income, line.cost) for line in lines])
    return PortfolioView(
        platform_id=platform.id,
        start=start,
        end=end,
        communities=lines,
        income=result.total.income,
        cost=result.total.cost,
        net=result.total.net,
        ratio=_rounded(result.total.ratio),
        surplus=result.surplus,
        deficit=result.deficit,
        cross_subsidy=result.cross_subsidy,
        explanation=_portfolio_explanation(result),
    )


def _rounded(ratio: Decimal | None) -> Decimal | None:
    return ratio.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP) if ratio is not None else None


# Consortium contracts --------------------------------------------------------------------------


async def _check_consortium(fields: dict) -> None:
    """A consortium contract is signed with an approved alliance's lead; each of its categories is served by
    one member in good standing whose role in the alliance is that category, and the fee shares add up to 1."""
    lines = fields.get("lines") or []
    alliance_id = fields.get("alliance_id")
    if alliance_id is None:
        if lines:
            raise ConsortiumInvalid(detail={"field": "alliance_id"})
        return
    alliance = await providers_repo.get_alliance(alliance_id)
    if alliance is None or alliance.status != "approved" or alliance.lead_id != fields["operator_id"]:
        raise ConsortiumInvalid(detail={"field": "alliance_id"})
    members = {
        (m.operator_id, m.category)
        for m in await providers_repo.alliance_members([alliance_id], clock.today())
        if providers.member_in_good_standing(m)
    }
    categories = [line["category"] for line in lines]
    if (
        not lines
        or sorted(categories) != sorted(set(fields["categories"]))
        or len(set(categories)) != len(categories)
        or sum(Decimal(line["fee_share"]) for line in lines) != 1
        or any(not 0 < Decimal(line["fee_share"]) <= 1 for line in lines)
        or any((line["operator_id"], line["category"]) not in members for line in lines)
    ):
        raise ConsortiumInvalid(detail={"field": "lines"})


async def contract_lines(principal: Principal, contract_id: int) -> list[ContractLineRow]:
    contract = await _readable_contract(principal, contract_id)
    return await repo.contract_lines(contract.id)


def split_fee(amount: int, shares: list[Decimal]) -> list[int]:
    """`amount` fen split by `shares` (adding up to 1): each share rounded down, the last line takes what
    is left, so the parts add up to the amount exactly."""
    parts = [int(Decimal(amount) * share) for share in shares[:-1]]
    return [*parts, amount - sum(parts)]


async def pay_contract_fee(principal: Principal, contract_id: int, month: date, amount: int) -> list[LedgerEntryRow]:
    """A month's fee paid under a contract, posted to the community's ledger as service-fee cost: one entry
    per line of a consortium contract (each member's share), one for any other contract. Once per month."""
    month = _check_month(month)
    async with transaction():
        contract = await _contract_for_officials(principal, contract_id)
        if contract.community_id is None or not _in_force(contract, month):
            raise NoContractForMonth()
        lines = await repo.contract_lines(contract_id)
        parties = [(x.id, x.operator_name, x.category, x.fee_share) for x in lines] or [
            (0, contract.operator_name, "、".join(contract.categories), Decimal(1))
        ]
        label = f"{month:%Y-%m}"
        entries = [
            {
                "community_id": contract.community_id,
                "month": month,
                "direction": "cost",
                "kind": "service_fee",
                "amount": part,
                "source": f"contract:{contract_id}:fee:{label}:{line_id}",
                "contract_id": contract_id,
                "note": f"{name} {category} {label} 服务费",
            }
            for (line_id, name, category, _), part in zip(
                parties, split_fee(amount, [p[3] for p in parties]), strict=True
            )
            if part > 0
        ]
        written = await _insert_entries(principal, entries, posting_org(principal, contract.street_path))
        await audit.record(
            principal, "fee_payment.record", "contract", contract_id, after={"month": label, "amount": amount}
        )
        return written


async def alliance_communities(principal: Principal, alliance_id: int) -> list[AllianceCommunity]:
    """For the alliance's page: the communities its consortium contracts serve, with their balance over the
    trailing window; officials see those in their part of the tree, the alliance's members all of them."""
    if await providers_repo.get_alliance(alliance_id) is None:
        raise AllianceNotFound()
    today = clock.today()
    members = {m.operator_org_id for m in await providers_repo.alliance_members([alliance_id], today)}
    is_member = bool(members & set(principal.org_ids(Role.operator)))
    rows = [
        r
        for r in await repo.alliance_communities(alliance_id, today)
        if is_member or principal.can_read_path(r["org_path"])
    ]
    start, end = _window(None, None)
    totals = await repo.community_totals([r["community_id"] for r in rows], start, end)
    result = []
    for r in rows:
        income, cost = totals.get(r["community_id"], (0, 0))
        figures = portfolio.Figures(1, income, cost)
        result.append(
            AllianceCommunity(
                community_id=r["community_id"],
                community_name=r["community_name"],
                contract_id=r["contract_id"],
                income=income,
                cost=cost,
                net=figures.net,
                ratio=_rounded(figures.ratio),
            )
        )
    return result
