"""Demo registry: about 60 operators across every category, applications in every state, two published
batches and one on notice with an objection from the public, evaluations, one operator suspended and one
warning proposed. Built through the service layer, so events, audit rows and emails are what real use would
leave behind."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time

from core import clock
from core.accounts import repository as accounts_repo
from core.accounts import service as accounts
from core.accounts.principal import Principal
from core.calendar import service as calendar
from providers import repository as repo
from providers import service
from providers.credit_code import make_credit_code
from providers.reference import DEFAULT_CATEGORIES
from providers.schemas import Attachment
from providers.tables import Channel, Operator, RegistryStatus

NAME_WORDS = [
    "邻里",
    "乐活",
    "暖阳",
    "安康",
    "未来",
    "悦享",
    "春晖",
    "和美",
    "善邻",
    "康宁",
    "启航",
    "青禾",
    "桂语",
    "云栖",
    "富春",
    "钱塘",
    "西溪",
    "银湖",
    "鹿山",
    "东洲",
    "江滨",
    "百合",
    "逸城",
    "山水",
    "阳陂",
    "梓树",
    "金桥",
    "彩虹",
    "春雨",
    "鹤山",
    "东吴",
    "登云",
    "龙潭",
    "杭黄",
    "新民",
    "蒋桥",
]
CATEGORY_TRADE = {
    "integrated": "社区运营管理",
    "childcare": "托育服务",
    "elderly": "养老服务",
    "culture": "文化传播",
    "health": "健康管理",
    "education": "教育科技",
    "commerce": "商业管理",
    "property": "物业服务",
    "incubation": "创业孵化",
}
# Companion categories an operator of each kind plausibly also runs.
COMPANIONS = {
    "integrated": ["commerce", "culture", "elderly"],
    "childcare": ["education"],
    "elderly": ["health"],
    "culture": ["education"],
    "health": ["elderly"],
    "education": ["childcare", "culture"],
    "commerce": ["incubation"],
    "property": ["integrated"],
    "incubation": ["commerce"],
}

# Final state of each demo application after the one published in batches.
PENDING_STATES = (
    ["draft"] * 3 + ["submitted"] * 3 + ["under_review"] * 3 + ["approved"] * 2 + ["rejected"] * 2 + ["returned"] * 3
)


def _at(day: date) -> datetime:
    return datetime.combine(day, time(10, 0), tzinfo=clock.BUSINESS_TZ).astimezone(UTC)


async def _principal(username: str) -> Principal:
    user_id = await accounts_repo.user_id_by_username(username)
    assert user_id is not None, username
    principal = await accounts.load_principal(user_id)
    assert principal is not None, username
    return principal


def _fields(rng: random.Random, name: str, categories: list[str], district_ids: list[int]) -> dict:
    return {
        "name": name,
        "credit_code": make_credit_code(rng, region="330100"),
        "legal_representative": rng.choice("王李张刘陈杨赵黄周吴")
        + rng.choice(["建国", "丽华", "志强", "晓燕", "伟", "敏", "静", "磊"]),
        "contact_name": rng.choice("孙胡朱高林何郭马罗") + rng.choice(["芳", "勇", "杰", "娟", "涛", "琳"]),
        "contact_phone": f"0571-{rng.randint(60000000, 89999999)}",
        "contact_email": f"contact{rng.randint(1000, 9999)}@{rng.choice(['163.com', 'qq.com', 'example.cn'])}",
        "categories": categories,
        "district_ids": district_ids,
        "capacity": rng.randint(2, 15),
        "staff_count": rng.randint(15, 400),
        "founded_on": date(rng.randint(2005, 2021), rng.randint(1, 12), rng.randint(1, 28)),
        "description": f"专注于未来社区{'、'.join(CATEGORY_TRADE[c] for c in categories)}。",
    }


async def load() -> None:
    if await Operator.exists():
        return
    rng = random.Random(2026)
    city = await _principal("city_admin")
    district = await _principal("fuyang_district")
    street = await _principal("fuchun_street")
    operator_user = await _principal("operator_demo")
    districts = await accounts.district_names()
    fuyang = next(i for i, n in districts.items() if n == "富阳区")
    others = [i for i in districts if i != fuyang]

    # The demo operator account's own company, applying by itself (自荐).
    demo_org = await accounts_repo.get_org_by_code("operator-demo")
    assert demo_org is not None
    demo_fields = _fields(rng, demo_org.name, ["integrated", "commerce", "culture"], [fuyang])
    demo_fields["contact_email"] = "operator_demo@example.org"
    demo_id = await repo.insert_operator(org_id=demo_org.id, fields=demo_fields, now=clock.now())

    with clock.business_time(_at(date(2025, 5, 6))):
        operators = [demo_id]
        codes = [code for code, _ in DEFAULT_CATEGORIES]
        for index in range(59):
            main = codes[index % len(codes)]
            categories = sorted({main, *rng.sample(COMPANIONS[main], k=rng.randint(0, 1))})
            served = sorted({fuyang, *rng.sample(others, k=rng.randint(0, 3))}) if index % 3 else rng.sample(others, 2)
            name = f"杭州{NAME_WORDS[index % len(NAME_WORDS)]}{CATEGORY_TRADE[main]}有限公司"
            if index >= len(NAME_WORDS):
                name = name.replace("杭州", "浙江")
            recommender = street if index % 4 == 0 else district
            created = await service.create_operator(recommender, _fields(rng, name, categories, served))
            operators.append(created.id)

        applications = []
        for operator_id in operators:
            operator = await repo.get_operator(operator_id)
            assert operator is not None
            applicant, channel = (
                (operator_user, Channel.self_nominated)
                if operator_id == demo_id
                else (street if operator_id % 4 == 0 else district, Channel.recommended)
            )
            app = await service.create_application(
                applicant,
                operator_id=operator_id,
                channel=channel,
                categories=operator.categories,
                statement=f"{operator.name}申请入库：已在{rng.randint(2, 25)}个社区提供服务，居民满意度良好。",
                attachments=[
                    Attachment(name="营业执照.pdf", size_bytes=180000),
                    Attachment(name="运营业绩清单.xlsx", size_bytes=42000),
                ],
            )
            applications.append((applicant, app.id))

    published_first, published_second = applications[:24], applications[24:44]
    pending = applications[44:]
    for batch_title, members, notice_day in (
        ("2025年第一批", published_first, date(2025, 5, 12)),
        ("2026年第一批", published_second, date(2026, 4, 13)),
    ):
        with clock.business_time(_at(notice_day)):
            for applicant, application_id in members:
                await service.submit_application(applicant, application_id)
                await service.start_review(city, application_id)
                await service.decide_application(
                    city, application_id, "approve", "材料齐全，运营业绩与服务能力符合入库条件"
                )
            batch = await service.create_batch(city, batch_title)
            await service.add_entries(city, batch.id, [a for _, a in members])
            await service.open_notice(city, batch.id, None)
        deadline = clock.add_working_days(notice_day, 5, await calendar.working_calendar(notice_day))
        with clock.business_time(_at(deadline)):
            await service.publish_batch(city, batch.id)

    with clock.business_time(_at(date(2026, 10, 20))):
        for (applicant, application_id), state in zip(pending, PENDING_STATES, strict=True):
            if state == "draft":
                continue
            await service.submit_application(applicant, application_id)
            if state == "submitted":
                continue
            await service.start_review(city, application_id)
            if state == "under_review":
                continue
            decision = {"approved": "approve", "rejected": "reject", "returned": "return"}[state]
            reason = {
                "approve": "符合入库条件，待编入下一批次",
                "reject": "近三年无社区运营业绩，不符合入库条件",
                "return": "请补充消防安全检查合格证明",
            }[decision]
            await service.decide_application(city, application_id, decision, reason)

    # The approved applications wait on a batch on notice, open today, with one objection from the public.
    waiting = [a for (_, a), state in zip(pending, PENDING_STATES, strict=True) if state == "approved"]
    on_notice = await service.create_batch(city, "补充批次（公示中）")
    await service.add_entries(city, on_notice.id, waiting)
    await service.open_notice(city, on_notice.id, None)
    await service.file_public_objection(
        on_notice.id,
        waiting[0],
        name="陈女士",
        phone="13857112345",
        email="objector_demo@example.org",
        text="该企业在我们小区的托育点去年多次被家长投诉，希望核实其服务质量后再入库。",
    )

    # Evaluations of listed operators by the city (no street holds a contract with them yet), a few poor.
    listed = [operators[i] for i in range(44)]
    with clock.business_time(_at(date(2026, 10, 15))):
        for index, operator_id in enumerate(listed[:18]):
            poor = index in (3, 7)
            for start, end in [
                (date(2026, 1, 1), date(2026, 4, 1)),
                (date(2026, 4, 1), date(2026, 7, 1)),
                (date(2026, 7, 1), date(2026, 10, 1)),
            ]:
                await service.add_evaluation(
                    city,
                    {
                        "operator_id": operator_id,
                        "contract_id": None,
                        "score": rng.randint(52, 66) if poor else rng.randint(78, 97),
                        "satisfaction": rng.randint(60, 75) if poor else rng.randint(85, 99),
                        "complaints": rng.randint(4, 9) if poor else rng.randint(0, 2),
                        "period_start": start,
                        "period_end": end,
                        "comment": "季度考核" + ("：服务响应慢，居民投诉集中" if poor else "：运营规范"),
                        "reason": "季度履约考核",
                    },
                )
        await service.run_registry_rules()
        await service.change_status(
            city, listed[5], RegistryStatus.suspended, "托育场所未通过消防检查，暂停在库资格，整改期三个月"
        )
