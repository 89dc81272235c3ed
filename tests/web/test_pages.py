"""Every page in the browser: as the public, as the roles that may see it and one that may not; the journeys
of an operator applying, the public objecting during a 公示 and an operator paying its rent."""

from __future__ import annotations

import random
import re

from playwright.async_api import expect

from leasing import service as leasing
from providers.credit_code import make_credit_code
from tests.leasing.helpers import lease, space
from tests.market.helpers import listed_operators
from tests.providers.helpers import approve, register_operator, submitted_self_application
from tests.providers.test_public_notice import on_notice
from tests.world import PASSWORD

OPERATOR_PASSWORD = "operator-pass-1"


async def test_the_public_reads_the_directory_and_an_operator_page(world, frozen_clock, browse):
    operators = await listed_operators(
        world,
        frozen_clock,
        {
            "tot": {"name": "小太阳托育有限公司", "categories": ("childcare",)},
            "elder": {"name": "夕阳红养老服务公司", "categories": ("elderly",)},
        },
    )
    person = await browse()
    page = await person.open("/directory")
    text = await person.text()
    assert "小太阳托育有限公司" in text and "夕阳红养老服务公司" in text and "共 2 条" in text

    await page.get_by_label("服务类别").select_option(label="托育")
    await expect(page).to_have_url(re.compile(r"category=childcare"))
    await expect(page.locator("main")).not_to_contain_text("夕阳红养老服务公司")
    assert "小太阳托育有限公司" in await person.text()
    await person.check()
    assert (
        await page.get_by_role("link", name="导出 Excel").get_attribute("href")
        == "/api/v1/public/operators.xlsx?category=childcare&sort=name"
    )

    await page.get_by_role("link", name="小太阳托育有限公司").click()
    await page.wait_for_url(re.compile(rf"/directory/operators/{operators['tot']['id']}$"))
    await person.check()
    text = await person.text()
    assert "在库" in text and "2026年第二批" in text and "托育" in text


async def test_an_operator_registers_applies_answers_a_return_and_follows_its_application(world, browse):
    person = await browse()
    page = await person.open("/register")
    await page.get_by_label("企业名称").fill("春风社区服务有限公司")
    await page.get_by_label("统一社会信用代码").fill("91330100MA2H1234X1")
    await page.get_by_label("统一社会信用代码").blur()
    await expect(page.locator("#credit_code-check")).to_contain_text("校验位不正确")
    await page.get_by_label("统一社会信用代码").fill(make_credit_code(random.Random(7)))
    await expect(page.locator("#credit_code-check")).to_contain_text("信用代码格式和校验位正确")
    await page.get_by_label("法定代表人").fill("张三")
    await page.get_by_role("checkbox", name="托育").check()
    await page.get_by_role("checkbox", name="富阳区").check()
    await page.get_by_label("联系人姓名").fill("李四")
    await page.get_by_label("联系电话").fill("13800001111")
    await page.get_by_label("电子邮箱").fill("chunfeng@example.org")
    await page.get_by_label("用户名").fill("chunfeng")
    await page.get_by_label("密码").fill("short")
    await page.get_by_role("button", name="注册企业").click()
    await page.wait_for_load_state("load")
    assert "长度应不小于 8" in await page.inner_text("#password-error")
    await person.check()

    await page.get_by_label("密码").fill(OPERATOR_PASSWORD)
    await page.get_by_role("button", name="注册企业").click()
    await page.wait_for_url(re.compile(r"/operator\?registered=1$"))
    await person.check()
    assert "注册成功" in await person.text()

    await page.get_by_role("link", name="新建自荐申请").click()
    await person.check()
    await page.get_by_role("checkbox", name="托育").check()
    await page.get_by_label("申请说明").fill("我们运营托育机构五年。")
    await page.get_by_role("button", name="保存并提交申请").click()
    await page.wait_for_url(re.compile(r"/operator/applications/\d+$"))
    await person.check()
    assert "已提交" in await person.text()
    application_id = int(page.url.rsplit("/", 1)[1])

    world.tokens["chunfeng"] = (
        await world.client.post("/api/v1/auth/login", json={"username": "chunfeng", "password": OPERATOR_PASSWORD})
    ).json()["access_token"]
    returned = await world.post(
        "city",
        f"/api/v1/applications/{application_id}/decision",
        json={"decision": "return", "reason": "请补充托育机构备案证明"},
    )
    assert returned.status_code == 200, returned.text

    await page.reload()
    await person.check()
    text = await person.text()
    assert "退回修改" in text and "请补充托育机构备案证明" in text
    await page.get_by_role("link", name="修改申请").click()
    await person.check()
    await page.get_by_label("申请说明").fill("我们运营托育机构五年，已补充备案证明。")
    await page.get_by_role("button", name="保存并提交申请").click()
    await page.wait_for_url(re.compile(rf"/operator/applications/{application_id}$"))
    text = await person.text()
    assert "已提交" in text and "已补充备案证明" in text

    await approve(world, application_id)
    await page.goto(person.base + "/operator")
    await person.check()
    assert "已通过" in await person.text()


async def test_the_public_objects_during_a_notice(world, frozen_clock, browse, mailbox):
    operator = await register_operator(world, "蓝天托育有限公司", "lantian")
    application_id = await submitted_self_application(world, "lantian", operator["id"])
    await approve(world, application_id)
    batch_id = await on_notice(world, [application_id])

    person = await browse()
    page = await person.open("/notices")
    assert "2026年第二批" in await person.text()
    await page.get_by_role("link", name="2026年第二批").click()
    await person.check()
    assert "蓝天托育有限公司" in await person.text()

    await page.get_by_label("对哪家企业有异议").select_option(label="蓝天托育有限公司")
    await page.get_by_label("您的姓名").fill("王五")
    await page.get_by_label("手机号").fill("12345")
    await page.get_by_label("异议内容").fill("该企业去年发生过安全事故。")
    await page.get_by_role("button", name="提交异议").click()
    await page.wait_for_load_state("load")
    assert await page.locator("#phone-error").is_visible()
    await person.check()

    await page.get_by_label("手机号").fill("13812341234")
    await page.get_by_role("button", name="提交异议").click()
    await page.wait_for_url(re.compile(rf"/batches/{batch_id}\?filed=1"))
    assert "异议已提交" in await person.text()
    objections = (await world.get("city", f"/api/v1/batches/{batch_id}/objections")).json()
    assert [(o["objector_name"], o["text"]) for o in objections] == [("王五", "该企业去年发生过安全事故。")]

    page = await person.open("/batches")
    assert "公示中" in await person.text()


async def test_an_operator_pays_its_rent_and_sees_the_receipt(world, frozen_clock, browse, localstripe):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    room = await space(world)
    await lease(world, room["id"], operators["tot"]["id"], starts_on="2026-12-01", monthly_rent=345_678)
    await leasing.generate_invoices()

    person = await browse()
    await person.login("tot", OPERATOR_PASSWORD)
    page = person.page
    await person.check()
    assert "¥3,456.78" in await person.text()
    await page.get_by_role("link", name=re.compile("¥3,456.78")).click()
    await person.check()
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="支付 ¥3,456.78").click()
    await page.wait_for_load_state("load")
    await expect(page.locator("main")).to_contain_text("支付成功")
    await person.check()
    text = await person.text()
    assert "已缴" in text and "第 1 次" in text and "支付时间" in text


async def test_operator_pages_are_for_operators_only(world, frozen_clock, browse):
    await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    for path in ["/operator", "/operator/applications/new", "/operator/invoices"]:
        anonymous = await browse()
        page = await anonymous.open(path, check=False)
        assert page.url.startswith(anonymous.base + "/login?next=")
        await anonymous.check()

        operator = await browse()
        await operator.login("tot", OPERATOR_PASSWORD)
        await operator.open(path)

        street = await browse()
        await street.login("street_x", PASSWORD)
        await street.open(path, status=403)
        assert "无权查看" in await street.text()


async def test_public_pages_open_for_everyone(world, frozen_clock, browse):
    await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    for path in ["/", "/directory", "/notices", "/batches", "/register", "/login"]:
        for user in (None, "street_x"):
            person = await browse()
            if user:
                await person.login(user, PASSWORD)
            await person.open(path)
    person = await browse()
    await person.open("/batches/999999", status=404)
    await person.open("/directory/operators/999999", status=404)


async def test_a_wrong_password_is_said_next_to_the_field_and_the_person_returns_where_they_were(world, browse):
    person = await browse()
    page = await person.open("/operator/invoices", check=False)
    await page.get_by_label("用户名").fill("street_x")
    await page.get_by_label("密码").fill("wrong-password")
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_load_state("load")
    assert "用户名或密码" in await page.inner_text("#password-error")
    await person.check()
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url(re.compile(r"/operator/invoices$"))
    assert "无权查看" in await person.text()


async def test_an_operator_pays_with_a_card_its_bank_must_authenticate(world, frozen_clock, browse, localstripe):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    room = await space(world)
    await lease(world, room["id"], operators["tot"]["id"], starts_on="2026-12-01", monthly_rent=120_000)
    await leasing.generate_invoices()
    invoice_id = (await world.get("tot", "/api/v1/rent-invoices")).json()["items"][0]["id"]

    person = await browse()
    await person.login("tot", OPERATOR_PASSWORD)
    page = await person.open(f"/operator/invoices/{invoice_id}")
    await page.get_by_label("需银行验证的测试卡").check()
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="支付 ¥1,200.00").click()
    await expect(page.locator("h1")).to_have_text("银行验证")
    await person.check()

    await page.get_by_role("button", name="完成银行验证").click()
    await expect(page).to_have_url(re.compile(rf"/operator/invoices/{invoice_id}\?authenticated=1$"))
    await person.check()
    text = await person.text()
    assert "银行验证已完成" in text and "处理中" in text

    frozen_clock.advance(minutes=5)
    await leasing.reconcile_payments()
    await page.reload()
    await person.check()
    text = await person.text()
    assert "已缴" in text and "支付成功" in text


async def test_a_street_lists_a_room_an_operator_applies_and_the_street_awards(world, frozen_clock, browse, mailbox):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    await space(world)

    street = await browse()
    await street.login("street_x", PASSWORD)
    page = await street.open("/street")
    assert "暂无待办提醒" in await street.text()
    page = await street.open("/street/spaces")
    assert "江滨路 8 号一层" in await street.text()
    await page.get_by_role("link", name="发布招租").click()
    await street.check()
    await page.get_by_label("竞争性租赁").check()
    await page.get_by_label("租金（元/㎡·月）").fill("45.5")
    await page.get_by_label("最短租期（月）").fill("12")
    await page.get_by_label("最长租期（月）").fill("60")
    await page.get_by_label("申请开始日期").fill("2026-12-01")
    await page.get_by_label("申请截止日期").fill("2026-11-01")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="确认发布").click()
    await page.wait_for_load_state("load")
    await street.check()
    assert "申请截止日期须晚于开始日期" in await page.inner_text("#closes_on-error")
    await page.get_by_label("申请截止日期").fill("2026-12-15")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="确认发布").click()
    await page.wait_for_url(re.compile(r"/street/listings/\d+$"))
    listing_id = int(page.url.rsplit("/", 1)[1])
    await street.check()
    text = await street.text()
    assert "招租中" in text and "¥45.50/㎡·月" in text and "暂无申请" in text

    operator = await browse()
    await operator.login("tot", OPERATOR_PASSWORD)
    op_page = await operator.open("/operator/listings")
    await op_page.get_by_role("link", name=re.compile("江滨路 8 号一层")).click()
    await operator.check()
    await op_page.get_by_label("托育").check()
    await op_page.get_by_label("租期（月）").fill("24")
    await op_page.get_by_label("租金报价（元/㎡·月）").fill("40")
    await op_page.get_by_role("button", name="提交承租申请").click()
    await op_page.wait_for_load_state("load")
    assert "不能低于挂牌租金" in await op_page.inner_text("#proposed_rent_per_m2_month-error")
    await operator.check()
    await op_page.get_by_label("托育").check()
    await op_page.get_by_label("租金报价（元/㎡·月）").fill("50")
    await op_page.get_by_label("经营方案").fill("开办社区托育点，提供日托和临时托。")
    await op_page.get_by_role("button", name="提交承租申请").click()
    await op_page.wait_for_url(re.compile(rf"/operator/listings/{listing_id}\?applied=1$"))
    await operator.check()
    assert "已申请" in await operator.text()

    frozen_clock.advance(days=15)
    page = await street.open(f"/street/listings/{listing_id}")
    text = await street.text()
    assert "tot运营有限公司" in text and "托育" in text
    await page.get_by_label("起租日期（选填）").fill("2026-12-16")
    await page.get_by_role("button", name="确认授予").click()  # no reason: the browser asks for it first
    assert await page.get_by_label("理由").evaluate("field => field.validity.valueMissing")
    await page.get_by_label("理由").fill("综合得分第一，方案可行")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="确认授予").click()
    await page.wait_for_url(re.compile(r"/street/leases\?awarded=1$"))
    await street.check()
    text = await street.text()
    assert "租约已签订" in text and "tot运营有限公司" in text and "2026-12-16" in text

    result = await (await browse()).open(f"/space-listings/{listing_id}/result")
    text = await result.inner_text("main")
    assert "tot运营有限公司" in text and "确定为承租方" in text

    await leasing.generate_invoices()
    op_page = await operator.open("/operator/invoices")
    text = await operator.text()
    assert "2026-12" in text and "江滨社区" in text
    assert operators["tot"]["id"]


async def test_street_pages_are_for_street_offices_only(world, frozen_clock, browse):
    await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    for path in ["/street", "/street/spaces", "/street/leases"]:
        anonymous = await browse()
        page = await anonymous.open(path, check=False)
        assert page.url.startswith(anonymous.base + "/login?next=")

        street = await browse()
        await street.login("street_x", PASSWORD)
        await street.open(path)

        operator = await browse()
        await operator.login("tot", OPERATOR_PASSWORD)
        await operator.open(path, status=403)
        assert "仅限街道/乡镇" in await operator.text()
    operator = await browse()
    await operator.login("tot", OPERATOR_PASSWORD)
    await operator.open("/operator/listings")


async def test_anyone_reads_a_closed_polls_result(world, frozen_clock, browse):
    from residents import jobs as resident_jobs
    from tests.residents.helpers import open_poll, poll_scene
    from tests.residents.test_polls import voters

    scene = await poll_scene(world, frozen_clock)
    poll = await open_poll(world, scene, frozen_clock)
    first, second, _ = (o["id"] for o in poll["options"])
    await voters(world, scene["community"]["id"], ["v1", "v2", "v3"])
    for voter, option in (("v1", first), ("v2", first), ("v3", second)):
        cast = await world.post(voter, f"/api/v1/polls/{poll['id']}/ballots", json={"option_id": option})
        assert cast.status_code in (200, 201), cast.text

    person = await browse()
    await person.open(f"/polls/{poll['id']}/result", status=409)
    frozen_clock.advance(days=8)
    await resident_jobs.close_polls()
    await person.open(f"/polls/{poll['id']}/result")
    text = await person.text()
    assert "江滨社区托育服务运营商选择" in text and "得票最多：运营商甲社区服务有限公司" in text
    assert "3 户 / 已确认 3 户" in text and "100.0%" in text and "街道尚未作出决定" in text


async def test_a_street_works_through_its_arrears_flags(world, frozen_clock, browse):
    from scheduler import jobs as scheduler_jobs

    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    room = await space(world)
    await lease(world, room["id"], operators["tot"]["id"], starts_on="2026-09-01", monthly_rent=200_000)
    await leasing.generate_invoices()
    found = await scheduler_jobs.overdue_invoices(frozen_clock().date())
    assert found["flags_raised"] >= 1, found

    street = await browse()
    await street.login("street_x", PASSWORD)
    page = await street.open("/street")
    text = await street.text()
    assert f"待办提醒（{found['flags_raised']} 条）" in text
    page = await street.open("/street/leases")
    text = await street.text()
    assert "欠费账单" in text and "¥2,000.00" in text and "tot运营有限公司" in text

    page = await street.open("/street")
    await page.get_by_role("button", name="确认知悉").first.click()
    await page.wait_for_load_state("load")
    await street.check()
    assert "确认知悉" in await street.text()
    await page.get_by_role("button", name="办结").first.click()
    await page.wait_for_load_state("load")
    await street.check()
    assert "必须填写理由" in await street.text()
    await page.get_by_label("处理情况").first.fill("已电话催缴，承租方承诺本周内缴清")
    await page.get_by_role("button", name="办结").first.click()
    await page.wait_for_load_state("load")
    await street.check()
    assert f"待办提醒（{found['flags_raised'] - 1} 条）" in await street.text()


async def test_every_page_with_a_record_opens_for_its_role_and_no_other(world, frozen_clock, browse, localstripe):
    from tests.leasing.helpers import listing
    from tests.leasing.test_awards import apply

    operators = await listed_operators(
        world, frozen_clock, {"tot": {"categories": ("childcare",)}, "other": {"categories": ("childcare",)}}
    )
    leased_room = await space(world)
    await lease(world, leased_room["id"], operators["tot"]["id"], starts_on="2026-12-01")
    await leasing.generate_invoices()
    invoice_id = (await world.get("tot", "/api/v1/rent-invoices")).json()["items"][0]["id"]
    community_id = leased_room["community_id"]
    idle_room = await space(world, community_id=community_id, address="江滨路 10 号二层")
    offered_room = await space(world, community_id=community_id, address="江滨路 12 号一层")
    offered = await listing(world, offered_room["id"], opens_on="2026-12-01", closes_on="2026-12-20")
    await apply(world, "tot", offered["id"], proposed_use="childcare", term_months=24, proposed_rent_per_m2_month=5_000)
    application_id = (await world.get("tot", "/api/v1/applications")).json()["items"][0]["id"]

    operator_pages = [
        f"/operator/applications/{application_id}",
        f"/operator/applications/{application_id}/edit",
        f"/operator/invoices/{invoice_id}",
        f"/operator/listings/{offered['id']}",
    ]
    street_pages = [f"/street/spaces/{idle_room['id']}/listings/new", f"/street/listings/{offered['id']}"]
    tot, other, street = await browse(), await browse(), await browse()
    await tot.login("tot", OPERATOR_PASSWORD)
    await other.login("other", OPERATOR_PASSWORD)
    await street.login("street_x", PASSWORD)
    for path in operator_pages:
        await tot.open(path)
        await street.open(path, status=403)
    # Another company's records are not found, as in the API; an open listing is for every operator.
    for path in operator_pages[:3]:
        await other.open(path, status=404)
    await other.open(operator_pages[3])
    for path in street_pages:
        await street.open(path)
        await tot.open(path, status=403)
    y_street = await browse()
    await y_street.login("street_y", PASSWORD)
    for path in street_pages:
        await y_street.open(path, status=404)


async def test_an_operator_sees_needs_in_its_categories_and_reports_a_month(world, frozen_clock, browse):
    from tests.market.helpers import community, contract, need

    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    target = await community(world, "street_x", "江滨社区")
    await need(world, "street_x", target["id"], "childcare", text="社区需要普惠托育点")
    await need(world, "street_x", target["id"], "elderly", text="社区需要助餐服务")
    signed = await contract(world, "street_x", target["id"], operators["tot"]["id"], starts_on="2026-03-01")

    person = await browse()
    await person.login("tot", OPERATOR_PASSWORD)
    page = await person.open("/operator/needs")
    text = await person.text()
    assert "社区需要普惠托育点" in text and "社区需要助餐服务" not in text

    page = await person.open("/operator/contracts")
    await page.get_by_role("link", name=f"合同 {signed['id']}").click()
    await person.check()
    await page.get_by_label("申报月份").fill("2026-10")
    await page.get_by_label("服务收入（元）").fill("12000")
    await page.get_by_label("人员成本（元）").fill("7000.5")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="提交月度申报").click()
    await expect(page.locator("main")).to_contain_text("月度收支已申报")
    await person.check()
    text = await person.text()
    assert "¥12,000.00" in text and "¥7,000.50" in text

    await page.get_by_label("申报月份").fill("2026-10")
    await page.get_by_label("服务收入（元）").fill("1")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="提交月度申报").click()
    await page.wait_for_load_state("load")
    assert await page.locator("#month-error").is_visible()
    await person.check()

    street = await browse()
    await street.login("street_x", PASSWORD)
    for path in ("/operator/needs", "/operator/contracts", f"/operator/contracts/{signed['id']}"):
        await street.open(path, status=403)


async def test_a_street_opens_a_community_file_and_its_one_click_report(world, frozen_clock, browse):
    from tests.market.helpers import community, contract, need

    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    target = await community(world, "street_x", "江滨社区")
    await need(world, "street_x", target["id"], "childcare", text="社区需要普惠托育点")
    signed = await contract(world, "street_x", target["id"], operators["tot"]["id"], starts_on="2026-03-01")
    report = {"month": "2026-10-01", "service_revenue": 1_200_000, "costs": {"staff": 700_000}}
    filed = await world.post("tot", f"/api/v1/contracts/{signed['id']}/monthly-reports", json=report)
    assert filed.status_code == 201, filed.text

    street = await browse()
    await street.login("street_x", PASSWORD)
    page = await street.open("/street/communities")
    await page.get_by_role("link", name="江滨社区").click()
    await street.check()
    text = await street.text()
    assert "收入 ¥12,000.00，支出 ¥7,000.00" in text and "平衡" in text and "社区需要普惠托育点" in text
    assert "tot运营有限公司" in text and "评分说明" in text
    download = await page.request.get(street.base + f"/street/communities/{target['id']}/report.xlsx")
    assert download.status == 200 and download.headers["content-type"].startswith("application/vnd.openxml")
    await page.get_by_role("link", name="一键生成社区报告").click()
    await page.wait_for_load_state("load")
    assert "江滨社区 社区运营报告" in await page.inner_text("h1")
    await street.check()
    assert "¥12,000.00" in await street.text()

    operator = await browse()
    await operator.login("tot", OPERATOR_PASSWORD)
    for path in (
        "/street/communities",
        f"/street/communities/{target['id']}",
        f"/street/communities/{target['id']}/report",
    ):
        await operator.open(path, status=403)
    y_street = await browse()
    await y_street.login("street_y", PASSWORD)
    await y_street.open(f"/street/communities/{target['id']}", status=404)


async def test_the_directory_pages_and_sorts_in_place(world, frozen_clock, browse):
    specs = {f"op{i:02d}": {"name": f"第{i:02d}号社区服务有限公司", "capacity": i} for i in range(1, 23)}
    await listed_operators(world, frozen_clock, specs)
    person = await browse()
    page = await person.open("/directory")
    assert "共 22 条，第 1 / 2 页" in await person.text()
    await page.get_by_role("link", name="下一页").click()
    await expect(page.locator("main")).to_contain_text("第 2 / 2 页")
    await expect(page).to_have_url(re.compile(r"offset=20"))
    await person.check()
    assert "第22号社区服务有限公司" in await person.text()

    await page.goto(person.base + "/directory")
    await page.get_by_role("link", name="服务能力").click()
    await expect(page).to_have_url(re.compile(r"sort=capacity"))
    await page.get_by_role("link", name="服务能力").click()
    await expect(page).to_have_url(re.compile(r"sort=-capacity"))
    first = await page.locator("tbody tr").first.inner_text()
    assert "第22号社区服务有限公司" in first
    await person.check()
