"""Allocation can give a community's whole set of needs to an approved industry alliance, explained like a
bundle; accepting it drafts one consortium contract with the lead and a line per member and category."""

from __future__ import annotations

from market.allocation import alliance_choice
from tests.market.helpers import community, need
from tests.providers.test_alliance import approved, members


async def plan_for_district_a(world) -> dict:
    plan = await world.post("district", "/api/v1/allocation-plans", json={"district_id": world.org_id("district_a")})
    assert plan.status_code == 201, plan.text
    return plan.json()


async def community_with_two_needs(world) -> tuple[dict, dict]:
    target = await community(world, "street_x", "江滨社区")
    needs = {c: await need(world, "street_x", target["id"], c) for c in ("elderly", "childcare")}
    return target, needs


async def test_allocation_gives_a_communitys_needs_to_an_approved_alliance(world, frozen_clock):
    ops = await members(world, frozen_clock)
    target, needs = await community_with_two_needs(world)
    before = await plan_for_district_a(world)
    assert {line["alliance_id"] for line in before["lines"]} == {None}  # no approved alliance yet

    alliance = await approved(world, ops)
    plan = await plan_for_district_a(world)
    lines = {line["category"]: line for line in plan["lines"]}
    assert {c: (line["operator_name"], line["alliance_name"]) for c, line in lines.items()} == {
        "elderly": ("康颐养老服务有限公司", "富春未来社区产业联盟"),
        "childcare": ("小星星托育有限公司", "富春未来社区产业联盟"),
    }
    explanation = lines["elderly"]["explanation"]
    assert explanation == lines["childcare"]["explanation"]
    assert explanation.startswith("产业联盟富春未来社区产业联盟整体承接江滨社区的2项需求：由富春综合运营有限公司牵头")
    assert "由康颐养老服务有限公司承担" in explanation and "由小星星托育有限公司承担" in explanation

    # Accepting one line accepts the alliance's offer whole: one consortium draft with the lead.
    url = f"/api/v1/allocation-plans/{plan['id']}/lines"
    accepted = await world.post("district", f"{url}/{lines['elderly']['id']}/accept", json={})
    assert accepted.status_code == 200, accepted.text
    contract_id = accepted.json()["contract_id"]
    decided = {
        line["category"]: line
        for line in (await world.get("district", f"/api/v1/allocation-plans/{plan['id']}")).json()["lines"]
    }
    assert {(line["state"], line["contract_id"]) for line in decided.values()} == {("accepted", contract_id)}
    drafted = (await world.get("street_x", f"/api/v1/contracts/{contract_id}")).json()
    assert (drafted["operator_name"], drafted["alliance_id"], drafted["status"]) == (
        "富春综合运营有限公司",
        alliance["id"],
        "draft",
    )
    assert sorted(drafted["need_ids"]) == sorted(n["id"] for n in needs.values())
    contract_lines = (await world.get("street_x", f"/api/v1/contracts/{contract_id}/lines")).json()
    assert sorted((line["category"], line["operator_name"], line["fee_share"]) for line in contract_lines) == [
        ("childcare", "小星星托育有限公司", "0.3333"),
        ("elderly", "康颐养老服务有限公司", "0.3333"),
        ("integrated", "富春综合运营有限公司", "0.3334"),
    ]
    again = await world.post("district", f"{url}/{lines['childcare']['id']}/accept", json={})
    assert again.status_code == 409 and again.json()["code"] == "allocation.line_decided"
    signed = await world.post("street_x", f"/api/v1/contracts/{contract_id}/sign")
    assert signed.status_code == 200, signed.text


async def test_rejecting_an_alliance_line_rejects_its_offer_whole(world, frozen_clock):
    ops = await members(world, frozen_clock)
    await community_with_two_needs(world)
    await approved(world, ops)
    plan = await plan_for_district_a(world)
    first = plan["lines"][0]
    assert first["alliance_id"] is not None
    url = f"/api/v1/allocation-plans/{plan['id']}/lines/{first['id']}/reject"
    assert (await world.post("operator_a", url, json={"reason": "不在本街道"})).status_code == 403
    rejected = await world.post("district", url, json={"reason": "社区希望分别签约"})
    assert rejected.status_code == 200, rejected.text
    lines = (await world.get("district", f"/api/v1/allocation-plans/{plan['id']}")).json()["lines"]
    assert {line["state"] for line in lines} == {"rejected"}


async def test_a_member_out_of_good_standing_keeps_its_alliance_out_of_the_plan(world, frozen_clock):
    ops = await members(world, frozen_clock)
    await community_with_two_needs(world)
    await approved(world, ops)
    suspended = await world.post(
        "city", f"/api/v1/operators/{ops['kids']['id']}/status", json={"status": "suspended", "reason": "违规收费"}
    )
    assert suspended.status_code == 200, suspended.text
    plan = await plan_for_district_a(world)
    assert {line["alliance_id"] for line in plan["lines"]} == {None}
    assert {line["category"]: line["operator_name"] for line in plan["lines"]}["elderly"] == "康颐养老服务有限公司"


def test_an_alliance_takes_a_community_only_whole_and_when_it_scores_no_worse():
    needs = [(1, "elderly"), (2, "childcare")]
    current = {1: (10, 60.0), 2: (11, 50.0)}
    offers = {7: (20, {"elderly": [(21, 70.0)], "childcare": [(22, 45.0)]})}
    spare = {10: 0, 11: 0, 20: 1, 21: 1, 22: 1}
    choice = alliance_choice(needs, current, offers, spare)
    assert choice is not None and choice.members == {1: (21, 70.0), 2: (22, 45.0)}
    assert (choice.total, choice.replaced) == (115.0, 110.0)
    # Scoring worse than the lines it would replace, covering only part, or a lead without capacity: no.
    assert alliance_choice(needs, {1: (10, 80.0), 2: (11, 50.0)}, offers, spare) is None
    assert alliance_choice(needs, current, {7: (20, {"elderly": [(21, 70.0)]})}, spare) is None
    assert alliance_choice(needs, current, offers, {**spare, 20: 0}) is None
    assert alliance_choice(needs[:1], current, offers, spare) is None  # one need is no set
    # A member planned on one of the needs gets its unit of capacity back; an unassigned need counts 0.
    assert alliance_choice(needs, {1: (21, 60.0), 2: (None, None)}, offers, {**spare, 21: 0}) is not None
    # The better of two alliances wins.
    better = {**offers, 8: (30, {"elderly": [(31, 90.0)], "childcare": [(32, 90.0)]})}
    found = alliance_choice(needs, current, better, {**spare, 30: 1, 31: 1, 32: 1})
    assert found is not None and found.alliance_id == 8
