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
from decimal import Decimal
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
from core.outbox import service as outbox
from core.pagination import with_total
from core.settings import get_settings
from market import allocation, matching, performance, subsidy
from market import repository as repo
from market.balance import Commitment, Thresholds, balance, forecast, trailing_window
from market.errors import (
    CapacityExceeded,
    CommunityNameTaken,
    CommunityNotFound,
    ContractNotFound,
    ContractPartyMissing,
    ContractStateInvalid,
    ContractTermInvalid,
    LedgerKindNotAllowed,
    LedgerMonthInvalid,
    LedgerSourceExists,
    LedgerVoucherExists,
    NeedNotFound,
    NeedNotOpen,
    NeedsNotOfCommunity,
    NoContractForMonth,
    NoRegistryDecisionDue,
    NotCommunityOfficial,
    OperatorNotListed,
    PlanDatesInvalid,
    PlanLineDecided,
    PlanLineEmpty,
    PlanNotFound,
    StreetNotFound,
    SubsidyInputInvalid,
    WindowInvalid,
)
from market.labels import (
    COMMUNITY_TYPE_LABELS,
    COST_KINDS,
    INCOME_KINDS,
    LEDGER_KIND_LABELS,
    REGISTRY_DECISION_LABELS,
)
from market.schemas import (
    CandidateRow,
    CommunityBalance,
    CommunityBalanceRow,
    CommunityReport,
    CommunityRow,
    ComplaintView,
    ContractRow,
    KindFigures,
    LedgerEntryRow,
    MonthFigures,
    NeedRow,
    Overview,
    PlanLineRow,
    PlanRow,
    RegistryDecisionView,
    ScopedNeed,
    Shortlist,
)
from providers import repository as providers_repo
from providers import service as providers
from providers.errors import OperatorNotFound
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
_shortlists: VersionedCache[Shortlist] = VersionedCache(("registry", "market"), get_settings().read_cache_entries)
_communities: VersionedCache[CommunityRow | None] = VersionedCache(("market",), get_settings().read_cache_entries)
_overviews: VersionedCache[Overview] = VersionedCache(("market",), get_settings().read_cache_entries)


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
    shortlist = matching.explain(ranked[:limit], candidates, target, today, current_weights, names)
    lead_target = dataclasses.replace(target, open_categories=with_lead)
    offer = matching.bundle_for(candidates, lead_target, today, current_weights, names)
    return Shortlist(
        community=community,
        open_needs=sorted(categories),
        weights=dataclasses.asdict(current_weights),
        candidates=len(ranked),
        shortlist=shortlist,
        bundle=offer,
        category_names=names,
    )


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
    rows = await repo.match_candidates(sorted({n.category for n in needs}), today) if needs else []
    current_weights = weights()
    by_type = {COMMUNITY_TYPE_LABELS[t]: [_candidate(r, t) for r in rows] for t in COMMUNITY_TYPE_LABELS}
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
    spare = {r.id: max(r.capacity - r.contracts, 0) for r in rows}
    flows = allocation.allocate_groups(scores, demand, spare)
    baseline = allocation.greedy_groups(scores, demand, spare)
    lines = _plan_lines(groups, keys, flows)
    async with transaction():
        plan_id = await repo.insert_plan(
            scope_org_id=scope.id,
            created_by=principal.user_id,
            total=round(sum(f.score * f.count for f in flows), 1),
            greedy_total=round(sum(f.score * f.count for f in baseline), 1),
            need_count=len(needs),
            weights=dataclasses.asdict(current_weights),
            now=clock.now(),
        )
        if lines:
            await repo.insert_plan_lines(plan_id, lines)
        await audit.record(
            principal,
            "allocation.create",
            "allocation_plan",
            plan_id,
            after={"scope": scope.name, "needs": len(needs), "assigned": sum(f.count for f in flows)},
        )
        return await get_allocation_plan(principal, plan_id)


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
        line = await _decidable_line(principal, plan_id, line_id)
        if line.operator_id is None:
            raise PlanLineEmpty()
        need = _written(await repo.get_need(line.need_id, for_update=True))
        if need.status != "open":
            raise NeedNotOpen()
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


async def reject_plan_line(principal: Principal, plan_id: int, line_id: int, reason: str) -> PlanLineRow:
    reason = require_reason(reason)
    async with transaction():
        line = await _decidable_line(principal, plan_id, line_id)
        await repo.decide_plan_line(
            line_id, state="rejected", contract_id=None, by=principal.user_id, reason=reason, now=clock.now()
        )
        await audit.record(
            principal,
            "allocation.reject",
            "allocation_line",
            line_id,
            reason=reason,
            before={"state": line.state},
            after={"state": "rejected", "need_id": line.need_id, "operator_id": line.operator_id},
        )
        return _written(await repo.get_plan_line(plan_id, line_id))


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


async def _insert_draft(principal: Principal, fields: dict) -> int:
    await _check_operator_can_hold(fields["operator_id"], fields["categories"], clock.today())
    contract_id = await repo.insert_contract(fields, status="draft", created_by=principal.user_id, now=clock.now())
    await audit.record(principal, "contract.create", "contract", contract_id, after=fields)
    return contract_id


def _check_term(starts_on: date, ends_on: date) -> None:
    if starts_on >= ends_on:
        raise ContractTermInvalid()


async def create_contract(principal: Principal, fields: dict) -> ContractRow:
    """A draft between a community (or a street) and an operator; it already holds a unit of capacity."""
    _check_term(fields["starts_on"], fields["ends_on"])
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
        contract_id = await _insert_draft(principal, fields)
        return _written(await repo.get_contract(contract_id))


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
        await _check_operator_can_hold(
            contract.operator_id, contract.categories, clock.today(), holding_already=contract_id
        )
        await repo.update_contract(
            contract_id, {"status": "active", "signed_by": principal.user_id, "signed_at": clock.now()}, clock.now()
        )
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
        for on in (clock.today(), contract.ends_on):
            await _check_operator_can_hold(contract.operator_id, contract.categories, on, holding_already=contract_id)
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
        }
        try:
            successor_id = await repo.insert_contract(
                successor, status="active", created_by=principal.user_id, now=clock.now()
            )
        except asyncpg.UniqueViolationError as exc:
            raise ContractStateInvalid() from exc
        await repo.update_contract(contract_id, {"status": "renewed"}, clock.now())
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
