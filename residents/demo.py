"""Demo residents: two of 富春街道's future communities (江滨社区, 百合社区) with their household registers
imported and confirmed, thirty signed-up residents each, an open poll in 江滨社区 with some ballots cast,
and a closed poll in 百合社区 with its published result and the street's decision to follow it; in 江滨社区,
points earned by volunteering and voting, redeemed for the demo operator's service, delivered and paid out,
and elderly-care hours in the time bank.

Satisfaction surveys: a third-party surveyor for 富阳区 (surveyor_demo); a closed survey of a contract in one of
them two quarters back, with households' answers and the surveyor's offline results, whose rate went into that
quarter's computed evaluations; and this quarter's open surveys, the one in 江滨社区 with a few answers.

Built through the residents service where a rule applies, with the poll windows set in the past or around
today. Everything loads in one transaction, and a second run adds nothing.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from datetime import datetime, time, timedelta
from decimal import Decimal

from core import clock
from core.accounts import repository as accounts_repo
from core.accounts import service as accounts
from core.accounts.principal import Principal
from core.accounts.tables import Role
from core.audit import service as audit
from core.db import transaction
from core.settings import get_settings
from market import repository as market_repo
from market import service as market
from residents import repository as repo
from residents import satisfaction, service
from residents.errors import NoContractInCommunity

STREET_ACCOUNT = "fuchun_street"
SURVEYOR_ACCOUNT = ("surveyor_demo", "浙江民意调查中心（演示）", "330111")
DEMO_OPERATOR = "operator_demo"
COMMUNITIES = (("江滨社区", "open"), ("百合社区", "closed"))
RESIDENTS_EACH = 30
SURNAMES = "王李张刘陈杨黄赵周吴徐孙朱马胡郭何高林罗"
GIVEN = ["建国", "秀英", "志强", "丽华", "晓明", "桂芳", "海燕", "国平", "婷婷", "伟", "静", "磊"]
PACKAGE = {"name": "街道普惠服务套餐", "description": "由街道统一采购的基础服务，按户每月收费，价格受政府指导"}


def _addresses() -> list[tuple[str, str, str]]:
    """Three buildings, two units each, six floors, two flats a floor: 72 households."""
    return [
        (str(building), str(unit), f"{floor}0{flat}")
        for building in range(1, 4)
        for unit in range(1, 3)
        for floor in range(1, 7)
        for flat in range(1, 3)
    ]


async def _street() -> Principal | None:
    credentials = await accounts_repo.get_credentials(STREET_ACCOUNT)
    return await accounts.load_principal(credentials.id) if credentials else None


async def load() -> None:
    if await repo.any_household():
        return
    principal = await _street()
    if principal is None:
        return
    rng = random.Random(2026)
    now = clock.now()
    volunteers: list[tuple[int, int]] = []
    # One hash of a secret nobody is told, shared by the demo residents' logins: they log in with codes.
    password_hash = await accounts.hash_password(secrets.token_urlsafe(32))
    found: dict[str, tuple[int, list[tuple[int, int]]]] = {}
    async with transaction():
        for index, (name, state) in enumerate(COMMUNITIES):
            org = await accounts_repo.get_org_by_code(f"330111-富春街道-{name}")
            community_id = await repo.community_of_org(org.id) if org else None
            if org is None or community_id is None:
                continue
            addresses = _addresses()
            rows, created = await repo.confirm_register(community_id, addresses, principal.user_id, now)
            await audit.record(
                principal,
                "household.register_import",
                "community",
                community_id,
                before={"confirmed_households": None},
                after={"rows": len(addresses), "confirmed": rows, "created": created},
                reason="导入街道住户名册",
            )
            residents = await _residents(rng, index, org.id, community_id, addresses, password_hash, now)
            found[state] = (community_id, residents)
            await _poll(rng, principal, community_id, name, state, residents, now)
            if index == 0:
                volunteers = residents
        await service.close_due_polls()
    for poll in (await repo.list_polls(patterns=None, community_ids=None, state="closed", limit=10, offset=0))[0]:
        if poll.result and poll.result.get("winner_option_id"):
            await service.decide(principal, poll.id, follows=True, option_id=None, reason="采纳居民投票结果")
    if volunteers:
        await _points(principal, volunteers, now)
    await _surveys(rng, found)


async def _surveyor(now) -> tuple[int, int] | None:
    """(user id, district org id) of the demo's third-party surveyor, assigned to 富阳区."""
    username, display_name, district_code = SURVEYOR_ACCOUNT
    district = await accounts_repo.get_org_by_code(district_code)
    if district is None:
        return None
    credentials = await accounts_repo.get_credentials(username)
    if credentials is not None:
        return credentials.id, district.id
    user = await accounts_repo.insert_user(
        username=username,
        password_hash=await accounts.hash_password(get_settings().demo_password),
        email=f"{username}@example.org",
        display_name=display_name,
        admin=False,
    )
    await accounts_repo.insert_grant(user_id=user.id, role=Role.surveyor.value, org_id=district.id, now=now)
    return user.id, district.id


def _marks(rng: random.Random) -> dict[str, int]:
    overall = rng.choices([5, 4, 3, 2, 1], weights=[40, 42, 10, 6, 2])[0]
    return {
        "overall": overall,
        **{name: max(1, min(5, overall + rng.choice((-1, 0, 0, 1)))) for name in satisfaction.ASPECTS},
    }


async def _surveys(rng: random.Random, found: dict[str, tuple[int, list[tuple[int, int]]]]) -> None:
    """A closed survey two quarters back in one of the communities, counted into that quarter's evaluations,
    and this quarter's open surveys (the daily job's), with a few answers in 江滨社区."""
    now = clock.now()
    this_quarter, _ = service.quarter_of(clock.today())
    closed_quarter = clock.add_months(this_quarter, -6)
    closed_end = clock.add_months(closed_quarter, 3)
    async with transaction():
        surveyor = await _surveyor(now)
        # The first of the two communities with a contract in force then (百合社区, else 江滨社区).
        contract_id, residents = None, []
        for community_id, candidates in (found[state] for state in ("closed", "open") if state in found):
            contract_id = await repo.contract_in_force(community_id, closed_end - timedelta(days=1))
            if contract_id is not None:
                residents = candidates
                break
        if surveyor is not None and contract_id is not None:
            opens = datetime.combine(closed_quarter, time(0), tzinfo=clock.BUSINESS_TZ)
            closes = datetime.combine(closed_end, time(0), tzinfo=clock.BUSINESS_TZ)
            [created] = await repo.open_surveys(
                day=closed_end - timedelta(days=1),
                period_start=closed_quarter,
                period_end=closed_end,
                opens_at=opens,
                closes_at=closes,
                now=opens,
                contract_ids=[contract_id],
            )
            await audit.record(None, "survey.open", "survey", created["id"], after={"contract_id": contract_id})
            for resident_id, household_id in residents[:24]:
                await repo.upsert_answer(
                    survey_id=created["id"],
                    household_id=household_id,
                    resident_id=resident_id,
                    marks=_marks(rng),
                    comment=rng.choice(["", "", "服务人员很耐心", "希望延长服务时间", "收费可以再透明些"]),
                    now=opens + timedelta(days=rng.randint(5, 80)),
                )
            offline = [{"row": i + 2, **_marks(rng), "comment": ""} for i in range(20)]
            upload_id = await repo.insert_upload(
                survey_id=created["id"],
                user_id=surveyor[0],
                surveyor_org_id=surveyor[1],
                file_name="入户测评.xlsx",
                rows=offline,
                now=closes - timedelta(days=3),
            )
            await audit.record(
                await accounts.load_principal(surveyor[0]),
                "survey.offline_upload",
                "survey",
                created["id"],
                after={"upload_id": upload_id, "file_name": "入户测评.xlsx", "rows": len(offline)},
            )
    await service.close_due_surveys()
    # That quarter's computed evaluations, as the quarterly job would have made them, with the rate.
    await market.quarterly_evaluations(
        closed_quarter, satisfaction=await service.satisfaction_by_contract(closed_quarter)
    )
    await service.open_quarter_surveys(clock.today())
    if "open" in found:
        community_id, residents = found["open"]
        contract_id = await repo.contract_in_force(community_id, clock.today())
        surveys = (
            await repo.list_surveys(patterns=None, community_ids=[community_id], state="open", limit=10, offset=0)
        )[0]
        current = next((s for s in surveys if s.contract_id == contract_id), None)
        if current is not None:
            async with transaction():
                for resident_id, household_id in residents[:8]:
                    await repo.upsert_answer(
                        survey_id=current.id,
                        household_id=household_id,
                        resident_id=resident_id,
                        marks=_marks(rng),
                        comment="",
                        now=now,
                    )


async def _principal_of_user(user_id: int) -> Principal:
    principal = await accounts.load_principal(user_id)
    assert principal is not None
    return principal


async def _points(street: Principal, residents: list[tuple[int, int]], now) -> None:
    """积分换服务 and 时间银行 in 江滨社区: residents earn points by volunteering (and by voting, above), one
    redeems them for the demo operator's service, which the operator delivers and the community pays out (one
    ledger cost); elderly-care hours go to the time bank, and one resident's withdrawal is confirmed."""
    first = await repo.resident_by_id(residents[0][0])
    if first is None:
        return
    async with transaction():
        activity = await service.create_activity(
            street,
            {
                "community_id": first.community_id,
                "title": "江滨社区垃圾分类督导志愿服务",
                "kind": "ordinary",
                "starts_at": now - timedelta(days=5),
                "ends_at": now - timedelta(days=5) + timedelta(hours=3),
                "points_per_hour": 10,
                "fixed_points": None,
            },
        )
        care = await service.create_activity(
            street,
            {
                "community_id": first.community_id,
                "title": "独居老人上门陪伴（时间银行）",
                "kind": "elderly_care",
                "starts_at": now - timedelta(days=4),
                "ends_at": now - timedelta(days=4) + timedelta(hours=4),
                "points_per_hour": None,
                "fixed_points": None,
            },
        )
        for resident_id, _ in residents[:6]:
            signup = await repo.insert_signup(activity.id, resident_id, now - timedelta(days=6))
            if signup is not None:
                await service.confirm_hours(street, signup, Decimal("3"), "督导三小时，签到表已核")
        for resident_id, _ in residents[6:9]:
            signup = await repo.insert_signup(care.id, resident_id, now - timedelta(days=5))
            if signup is not None:
                await service.confirm_hours(street, signup, Decimal("2.5"), "上门陪伴已由老人家属确认")
        carer = await repo.resident_by_id(residents[6][0])
        if carer is not None:
            withdrawal = await service.request_withdrawal(
                await _principal_of_user(carer.user_id), Decimal("1"), "腿伤期间需要上门助餐"
            )
            await service.confirm_withdrawal(street, withdrawal.id, "已安排上门助餐一次")
    operator_user = await accounts_repo.user_id_by_username(DEMO_OPERATOR)
    if operator_user is None:
        return
    operator = await _principal_of_user(operator_user)
    try:
        offered = await service.publish_service(
            operator,
            {
                "community_id": first.community_id,
                "title": "社区食堂午餐券（一餐）",
                "description": "凭兑换记录到社区食堂用餐一次",
                "price_points": 15,
                "capacity": 50,
                "opens_at": now - timedelta(days=3),
                "closes_at": now + timedelta(days=60),
            },
        )
    except NoContractInCommunity:
        return  # the demo operator holds no contract here: no service to offer
    resident = await _principal_of_user(first.user_id)
    redeemed = await service.redeem(resident, offered.id)
    await service.deliver(operator, redeemed.id)
    await service.redeem(resident, offered.id)  # a second one, waiting for the operator


async def _residents(
    rng: random.Random,
    index: int,
    org_id: int,
    community_id: int,
    addresses: list[tuple[str, str, str]],
    password_hash: str,
    now,
) -> list[tuple[int, int]]:
    """(resident id, household id) of the community's demo residents, one per household."""
    found = []
    for number, (building, unit, room) in enumerate(addresses[:RESIDENTS_EACH]):
        username = f"resident_demo_{index}_{number:02d}"
        user = await accounts_repo.insert_user(
            username=username,
            password_hash=password_hash,
            email=f"{username}@residents.invalid",
            display_name="居民",
            admin=False,
        )
        await accounts_repo.insert_grant(user_id=user.id, role=Role.resident.value, org_id=org_id, now=now)
        household_id = await repo.household_id(community_id, building, unit, room, now)
        resident_id = await repo.insert_resident(
            user_id=user.id,
            phone=f"1390571{index}{number:03d}",
            name=rng.choice(SURNAMES) + rng.choice(GIVEN),
            household_id=household_id,
            now=now,
        )
        found.append((resident_id, household_id))
    return found


async def _poll(
    rng: random.Random,
    principal: Principal,
    community_id: int,
    name: str,
    state: str,
    residents: list[tuple[int, int]],
    now,
) -> None:
    for candidate in await market_repo.open_needs(community_id):
        need = await market_repo.get_need(candidate.id)
        if need is None:
            continue
        operators = (await service.shortlisted_operators(principal, need))[:3]
        if not operators:
            continue
        options = await service.poll_options(principal, need, operators, [PACKAGE])
        if state == "open":
            opens, closes, voting = now - timedelta(days=3), now + timedelta(days=11), residents[:12]
        else:
            opens, closes, voting = now - timedelta(days=20), now - timedelta(days=6), residents[:26]
        title = f"{name}{need.category_name}服务由谁来做"
        poll_id = await service.insert_poll(principal, need, title, opens, closes, Decimal("0.3"), options, now)
        option_ids = [o.id for o in (await repo.options_of([poll_id]))[poll_id]]
        weights = [len(option_ids) - i for i in range(len(option_ids))]
        for resident_id, household_id in voting:
            await repo.upsert_ballot(
                poll_id=poll_id,
                household_id=household_id,
                option_id=rng.choices(option_ids, weights=weights)[0],
                resident_id=resident_id,
                receipt_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
                now=opens + timedelta(hours=rng.randint(1, 72)),
            )
            await service.award_participation(resident_id, "ballot", poll_id, get_settings().points_for_ballot)
        return
