"""Alliance membership over time: the city adds a listed operator to an alliance from a joining date and
records a member leaving with a date and a reason; a member that left drops out of matching and of new
allocation proposals. One operator holds a category in an alliance once, whatever races."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from core import clock
from tests.concurrency.test_one_outcome import CHINESE, audit_count, one_winner, scalar
from tests.market.helpers import community, listed_operators, need
from tests.providers.test_alliance import approved, members


async def test_the_city_adds_a_listed_member_and_records_one_leaving(world, frozen_clock):
    ops = await members(world, frozen_clock)
    more = await listed_operators(
        world,
        frozen_clock,
        {"care2": {"name": "夕阳红养老服务有限公司", "categories": ("elderly",)}},
        title="2026年第三批",
    )
    alliance = await approved(world, ops)
    url = f"/api/v1/alliances/{alliance['id']}/members"
    added = await world.post(
        "city",
        url,
        json={
            "operator_id": more["care2"]["id"],
            "role": "specialist",
            "category": "elderly",
            "reason": "联盟决议〔2026〕2号",
        },
    )
    assert added.status_code == 201, added.text
    assert (added.json()["operator_name"], added.json()["joined_on"], added.json()["left_on"]) == (
        "夕阳红养老服务有限公司",
        clock.today().isoformat(),
        None,
    )
    page = (await world.get("city", f"/api/v1/alliances/{alliance['id']}")).json()
    assert "夕阳红养老服务有限公司" in {m["operator_name"] for m in page["members"]}

    # The childcare specialist leaves in a week: until then it still counts.
    week = (clock.today() + timedelta(days=7)).isoformat()
    kids = next(m for m in page["members"] if m["operator_name"] == "小星星托育有限公司")
    left = await world.post(
        "city", f"{url}/{kids['id']}/leave", json={"left_on": week, "reason": "企业调整经营方向，申请退出"}
    )
    assert left.status_code == 200, left.text
    assert (left.json()["left_on"], left.json()["leave_reason"]) == (week, "企业调整经营方向，申请退出")
    again = await world.post("city", f"{url}/{kids['id']}/leave", json={"left_on": week, "reason": "重复登记"})
    assert again.status_code == 409 and again.json()["code"] == "alliance.member_left"

    target = await community(world, "street_x", "江滨社区")
    for category in ("elderly", "childcare"):
        await need(world, "street_x", target["id"], category)
    (offer,) = (await world.get("street_x", f"/api/v1/communities/{target['id']}/matches")).json()["alliances"]
    assert offer["bundle"]["specialists"]["childcare"]["operator_name"] == "小星星托育有限公司"

    frozen_clock.advance(days=7)  # the day it leaves: gone from the alliance
    page = (await world.get("city", f"/api/v1/alliances/{alliance['id']}")).json()
    assert "小星星托育有限公司" not in {m["operator_name"] for m in page["members"]}
    assert [(m["operator_name"], m["left_on"], m["leave_reason"]) for m in page["former_members"]] == [
        ("小星星托育有限公司", week, "企业调整经营方向，申请退出")
    ]
    (offer,) = (await world.get("street_x", f"/api/v1/communities/{target['id']}/matches")).json()["alliances"]
    assert "childcare" not in offer["bundle"]["specialists"] and offer["bundle"]["uncovered"] == ["childcare"]
    plan = await world.post("district", "/api/v1/allocation-plans", json={"district_id": world.org_id("district_a")})
    assert plan.status_code == 201, plan.text
    assert {line["alliance_id"] for line in plan.json()["lines"]} == {None}  # no longer covers the community

    # Having left, the operator may join again from today.
    rejoined = await world.post(
        "city",
        url,
        json={"operator_id": ops["kids"]["id"], "role": "specialist", "category": "childcare", "reason": "重新加入"},
    )
    assert rejoined.status_code == 201, rejoined.text
    assert await audit_count(("alliance.member_add",), alliance["id"]) == 2
    assert await audit_count(("alliance.member_leave",), alliance["id"]) == 1


async def test_membership_changes_refuse_bad_input_naming_the_field(world, frozen_clock):
    ops = await members(world, frozen_clock)
    alliance = await approved(world, ops)
    url = f"/api/v1/alliances/{alliance['id']}/members"
    body = {"operator_id": ops["outsider"]["id"], "role": "specialist", "category": "culture", "reason": "扩充联盟"}
    cases = [
        ({**body, "category": "elderly"}, 422, "alliance.member_not_listed", "category"),  # not listed for it
        ({**body, "category": "integrated"}, 422, "alliance.members_invalid", "category"),
        (
            {**body, "joined_on": (clock.today() - timedelta(days=1)).isoformat()},
            422,
            "alliance.member_date_invalid",
            "joined_on",
        ),
        (
            {**body, "operator_id": ops["care"]["id"], "category": "elderly"},
            409,
            "alliance.member_exists",
            "operator_id",
        ),
    ]
    for wrong, status, code, name in cases:
        refused = await world.post("city", url, json=wrong)
        assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
        assert refused.json()["detail"]["field"] == name and CHINESE.search(refused.json()["message"])
    unknown = await world.post("city", url, json={**body, "operator_id": 999_999})
    assert unknown.status_code == 404 and unknown.json()["code"] == "operator.not_found"
    nowhere = await world.post("city", "/api/v1/alliances/999999/members", json=body)
    assert nowhere.status_code == 404 and nowhere.json()["code"] == "alliance.not_found"
    assert (await world.post("city", url, json={**body, "reason": "  "})).status_code == 422
    assert (await world.post("lead", url, json=body)).status_code == 403  # the city decides, not the lead

    page = (await world.get("city", f"/api/v1/alliances/{alliance['id']}")).json()
    by_name = {m["operator_name"]: m for m in page["members"]}
    lead, care = by_name["富春综合运营有限公司"], by_name["康颐养老服务有限公司"]
    leave = {"left_on": (clock.today() + timedelta(days=7)).isoformat(), "reason": "退出"}
    refused = await world.post("city", f"{url}/{lead['id']}/leave", json=leave)
    assert refused.status_code == 409 and refused.json()["code"] == "alliance.lead_cannot_leave"
    for day in (clock.today() - timedelta(days=1), clock.today()):  # in the past; not after joining (today)
        refused = await world.post("city", f"{url}/{care['id']}/leave", json={**leave, "left_on": day.isoformat()})
        assert refused.status_code == 422 and refused.json()["code"] == "alliance.member_date_invalid"
        assert refused.json()["detail"]["field"] == "left_on" and "left_on" in refused.json()["message"]
    missing = await world.post("city", f"{url}/999999/leave", json=leave)
    assert missing.status_code == 404 and missing.json()["code"] == "alliance.member_not_found"
    assert (await world.post("city", f"{url}/{care['id']}/leave", json={**leave, "reason": ""})).status_code == 422
    assert await scalar("SELECT count(*) FROM provider_alliance_member WHERE left_on IS NOT NULL") == 0
    assert await scalar("SELECT count(*) FROM provider_alliance_member") == 3


async def test_two_requests_adding_one_operator_at_once_leave_one_membership(world, frozen_clock):
    ops = await members(world, frozen_clock)
    alliance = await approved(world, ops)
    body = {"operator_id": ops["outsider"]["id"], "role": "specialist", "category": "culture", "reason": "扩充联盟"}
    url = f"/api/v1/alliances/{alliance['id']}/members"
    responses = await asyncio.gather(*(world.post("city", url, json=body) for _ in range(2)))
    one_winner(list(responses), (201,), {"alliance.member_exists"})
    count = "SELECT count(*) FROM provider_alliance_member WHERE alliance = {} AND operator = {}"
    assert await scalar(count, alliance["id"], ops["outsider"]["id"]) == 1
    assert await audit_count(("alliance.member_add",), alliance["id"]) == 1
