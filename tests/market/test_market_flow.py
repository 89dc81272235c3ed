"""Community files, needs, matching, contracts and allocation through the API, on the real database."""

from __future__ import annotations

import asyncio

from core.outbox.service import send_pending
from tests.market.helpers import community, community_payload, contract, listed_operators, need
from tests.providers.helpers import approve, publish_batch, submitted_self_application


async def test_a_community_file_is_edited_within_scope_and_audited(world):
    created = await community(world, "street_x", "江滨未来社区")
    assert created["community_type_label"] == "旧改类" and created["pool_label"] == "创建型"
    assert created["district_name"] == "富阳区" and created["street_name"] == "富春街道"

    # Another street neither reads nor edits it, and cannot tell it exists.
    for response in (
        await world.get("street_y", f"/api/v1/communities/{created['id']}"),
        await world.patch("street_y", f"/api/v1/communities/{created['id']}", json={"households": 1}),
    ):
        assert response.status_code == 404 and response.json()["code"] == "community.not_found"
    listed = (await world.get("street_y", "/api/v1/communities")).json()
    assert listed["total"] == 0
    assert (await world.get("district_b", f"/api/v1/communities/{created['id']}")).status_code == 404
    assert (await world.get("district", f"/api/v1/communities/{created['id']}")).status_code == 200

    # Nor can a street open a file under someone else's street.
    foreign = await world.post("street_x", "/api/v1/communities", json=community_payload(world, "street_y", "彩虹"))
    assert foreign.status_code == 422 and foreign.json()["code"] == "community.street_invalid"

    # 验收 rests on residents' satisfaction: the file's status cannot be set to it by hand.
    refused = await world.patch("street_x", f"/api/v1/communities/{created['id']}", json={"status": "accepted"})
    assert refused.status_code == 409 and refused.json()["code"] == "community.acceptance_needs_survey"
    updated = await world.patch(
        "street_x", f"/api/v1/communities/{created['id']}", json={"households": 3500, "status": "operating"}
    )
    assert updated.status_code == 200 and updated.json()["households"] == 3500
    assert updated.json()["status_label"] == "运营中"
    bad_dates = await world.patch(
        "street_x", f"/api/v1/communities/{created['id']}", json={"planned_finish": "2024-01-01"}
    )
    assert bad_dates.status_code == 422 and bad_dates.json()["code"] == "community.plan_dates_invalid"

    audit = (await world.get("city", "/api/v1/audit", params={"entity_type": "community"})).json()["items"]
    change = next(a for a in audit if a["action"] == "community.update")
    assert change["before"]["households"] == 3200 and change["after"]["households"] == 3500


async def test_publishing_a_need_emails_the_listed_operators_serving_the_district(world, frozen_clock, mailbox):
    operators = await listed_operators(
        world,
        frozen_clock,
        {
            "tot_a": {"categories": ("childcare",), "districts": ("district_a",)},
            "tot_b": {"categories": ("childcare",), "districts": ("district_b",)},
            "elder_a": {"categories": ("elderly",), "districts": ("district_a",)},
        },
    )
    await send_pending()
    mailbox.clear()
    target = await community(world, "street_x", "江滨社区")
    created = await need(world, "street_x", target["id"], "childcare", priority=1)
    assert created["status"] == "open" and created["priority_label"] == "高" and created["category_name"] == "托育"

    await send_pending()
    notified = {m["To"] for m in mailbox.messages}
    assert notified == {operators["tot_a"]["contact_email"]}
    assert "江滨社区" in mailbox.to(operators["tot_a"]["contact_email"])[0]["Subject"]

    # Operators browse open needs; a street outside the community does not see them.
    assert (await world.get("tot_b", "/api/v1/needs")).json()["total"] == 1
    assert (await world.get("street_y", "/api/v1/needs")).json()["total"] == 0


async def test_matching_ranks_explains_and_never_shortlists_a_suspended_operator(world, frozen_clock):
    operators = await listed_operators(
        world,
        frozen_clock,
        {
            "both": {"name": "全能运营", "categories": ("childcare", "elderly"), "districts": ("district_a",)},
            "far": {"name": "远方托育", "categories": ("childcare",), "districts": ("district_b",)},
            "bad": {"name": "问题养老", "categories": ("elderly",), "districts": ("district_a",)},
        },
    )
    target = await community(world, "street_x", "江滨社区")
    await need(world, "street_x", target["id"], "childcare")
    await need(world, "street_x", target["id"], "elderly")
    suspended = await world.post(
        "city",
        f"/api/v1/operators/{operators['bad']['id']}/status",
        json={"status": "suspended", "reason": "投诉核实，暂停"},
    )
    assert suspended.status_code == 200, suspended.text

    result = await world.get("street_x", f"/api/v1/communities/{target['id']}/matches")
    assert result.status_code == 200, result.text
    body = result.json()
    ranked = [m["operator_name"] for m in body["shortlist"]]
    assert ranked == ["全能运营", "远方托育"]
    top = body["shortlist"][0]
    parts = {p["key"]: p for p in top["parts"]}
    assert parts["coverage"]["explanation"] == "覆盖社区需求 2/2 项：托育、养老"
    assert parts["district"]["explanation"] == "服务富阳区"
    assert body["shortlist"][1]["parts"][1]["explanation"] == "未登记服务富阳区"
    assert abs(top["total"] - sum(p["points"] for p in top["parts"])) < 0.1
    assert body["bundle"]["explanation"] == "暂无在库运营商可牵头综合运营；托育由全能运营承担；养老由全能运营承担"

    # Operators never see a community's shortlist, not even one they could be on.
    assert (await world.get("both", f"/api/v1/communities/{target['id']}/matches")).status_code == 404


async def test_a_suspended_operator_cannot_sign(world, frozen_clock):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    target = await community(world, "street_x", "江滨社区")
    draft = await contract(world, "street_x", target["id"], operators["tot"]["id"], sign=False)
    assert draft["status"] == "draft" and draft["status_label"] == "拟签"
    await world.post(
        "city", f"/api/v1/operators/{operators['tot']['id']}/status", json={"status": "suspended", "reason": "暂停整改"}
    )

    signed = await world.post("street_x", f"/api/v1/contracts/{draft['id']}/sign")
    assert signed.status_code == 409 and signed.json()["code"] == "contract.operator_not_listed"
    assert (await world.get("street_x", f"/api/v1/contracts/{draft['id']}")).json()["status"] == "draft"
    again = await world.post(
        "street_x",
        "/api/v1/contracts",
        json={
            "community_id": target["id"],
            "operator_id": operators["tot"]["id"],
            "categories": ["childcare"],
            "starts_on": "2027-01-01",
            "ends_on": "2028-01-01",
        },
    )
    assert again.status_code == 409 and again.json()["code"] == "contract.operator_not_listed"


async def test_signing_needs_a_listing_for_every_category(world, frozen_clock):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    target = await community(world, "street_x", "江滨社区")
    response = await world.post(
        "street_x",
        "/api/v1/contracts",
        json={
            "community_id": target["id"],
            "operator_id": operators["tot"]["id"],
            "categories": ["childcare", "elderly"],
            "starts_on": "2027-01-01",
            "ends_on": "2028-01-01",
        },
    )
    assert response.status_code == 409
    assert response.json()["detail"]["not_listed"] == ["elderly"]


async def test_contracts_never_exceed_capacity_even_when_drafted_at_once(world, frozen_clock):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",), "capacity": 2}})
    communities = [await community(world, "street_x", f"社区{i}") for i in range(5)]

    async def draft(target):
        return await world.post(
            "street_x",
            "/api/v1/contracts",
            json={
                "community_id": target["id"],
                "operator_id": operators["tot"]["id"],
                "categories": ["childcare"],
                "starts_on": "2027-01-01",
                "ends_on": "2030-01-01",
            },
        )

    responses = await asyncio.gather(*(draft(c) for c in communities))
    assert sorted(r.status_code for r in responses) == [201, 201, 409, 409, 409]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"contract.capacity_exceeded"}

    # Terminating one frees its unit; the capacity is then used again.
    held = next(r.json() for r in responses if r.status_code == 201)
    refused = await world.post("street_x", f"/api/v1/contracts/{held['id']}/terminate", json={"reason": " "})
    assert refused.status_code == 422 and refused.json()["code"] == "decision.reason_required"
    ended = await world.post("street_x", f"/api/v1/contracts/{held['id']}/terminate", json={"reason": "社区调整"})
    assert ended.json()["status_label"] == "已终止"
    again = await world.post("street_x", f"/api/v1/contracts/{held['id']}/terminate", json={"reason": "重复提交"})
    assert again.status_code == 409 and again.json()["code"] == "contract.state_invalid"
    edited = await world.patch("street_x", f"/api/v1/contracts/{held['id']}", json={"annual_fee": 1})
    assert edited.status_code == 409 and edited.json()["code"] == "contract.state_invalid"
    assert (await draft(communities[4])).status_code == 201
    assert (await draft(communities[3])).status_code == 409


async def test_renewal_links_a_successor_and_keeps_capacity(world, frozen_clock):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",), "capacity": 1}})
    target = await community(world, "street_x", "江滨社区")
    # The listing runs to 2028-12-01: the new term starts while it is in force.
    first = await contract(world, "street_x", target["id"], operators["tot"]["id"], ends_on="2028-06-01")
    assert first["status"] == "active"

    for blank in ("", " \n "):
        refused = await world.post(
            "street_x", f"/api/v1/contracts/{first['id']}/renew", json={"ends_on": "2032-01-01", "reason": blank}
        )
        assert refused.status_code == 422 and refused.json()["code"] == "decision.reason_required"
    unexplained = await world.post("street_x", f"/api/v1/contracts/{first['id']}/renew", json={"ends_on": "2032-01-01"})
    assert unexplained.status_code == 422 and unexplained.json()["code"] == "request.validation_failed"
    assert (await world.get("street_x", f"/api/v1/contracts/{first['id']}")).json() == first
    held = (await world.get("street_x", "/api/v1/contracts", params={"community_id": target["id"]})).json()
    assert held["total"] == 1

    renewed = await world.post(
        "street_x", f"/api/v1/contracts/{first['id']}/renew", json={"ends_on": "2032-01-01", "reason": "服务评价良好"}
    )
    assert renewed.status_code == 201, renewed.text
    successor = renewed.json()
    assert successor["renewal_of"] == first["id"] and successor["starts_on"] == first["ends_on"]
    assert successor["status"] == "active" and successor["annual_fee"] == first["annual_fee"]
    assert (await world.get("street_x", f"/api/v1/contracts/{first['id']}")).json()["status"] == "renewed"
    twice = await world.post(
        "street_x", f"/api/v1/contracts/{first['id']}/renew", json={"ends_on": "2033-01-01", "reason": "再续一年"}
    )
    assert twice.status_code == 409 and twice.json()["code"] == "contract.state_invalid"


async def test_renewal_needs_a_listing_in_force_when_the_new_term_starts(world, frozen_clock):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    target = await community(world, "street_x", "江滨社区")
    # Listed until 2028-12-01; the contract ends, and the new term would start, on 2029-01-01.
    first = await contract(world, "street_x", target["id"], operators["tot"]["id"])
    body = {"ends_on": "2031-01-01", "reason": "服务评价良好"}
    refused = await world.post("street_x", f"/api/v1/contracts/{first['id']}/renew", json=body)
    assert refused.status_code == 409 and refused.json()["code"] == "contract.operator_not_listed"
    assert refused.json()["detail"]["not_listed"] == ["childcare"]
    assert (await world.get("street_x", f"/api/v1/contracts/{first['id']}")).json()["status"] == "active"

    # The operator renews its listing in 2028; from then on the contract can be renewed.
    frozen_clock.advance(days=460)
    application_id = await submitted_self_application(world, "tot", operators["tot"]["id"])
    await approve(world, application_id)
    await publish_batch(world, frozen_clock, [application_id], title="2028年续期批次")
    renewed = await world.post("street_x", f"/api/v1/contracts/{first['id']}/renew", json=body)
    assert renewed.status_code == 201, renewed.text
    assert renewed.json()["starts_on"] == "2029-01-01"


async def test_an_operator_reads_its_contracts_and_nobody_elses(world, frozen_clock):
    operators = await listed_operators(
        world, frozen_clock, {"tot": {"categories": ("childcare",)}, "other": {"categories": ("childcare",)}}
    )
    target = await community(world, "street_x", "江滨社区")
    signed = await contract(world, "street_x", target["id"], operators["tot"]["id"])
    assert (await world.get("tot", f"/api/v1/contracts/{signed['id']}")).status_code == 200
    assert (await world.get("tot", f"/api/v1/communities/{target['id']}")).status_code == 200
    assert (await world.get("other", f"/api/v1/contracts/{signed['id']}")).status_code == 404
    assert (await world.get("other", f"/api/v1/communities/{target['id']}")).status_code == 404
    assert (await world.get("other", "/api/v1/contracts")).json()["total"] == 0
    assert (await world.get("street_y", f"/api/v1/contracts/{signed['id']}")).status_code == 404
    # An operator cannot sign its own contract.
    denied = await world.post("tot", f"/api/v1/contracts/{signed['id']}/terminate", json={"reason": "不想做了"})
    assert denied.status_code == 403


async def test_the_allocation_plan_respects_capacity_and_lines_are_accepted_one_by_one(world, frozen_clock):
    operators = await listed_operators(
        world,
        frozen_clock,
        {
            "one": {"categories": ("childcare",), "capacity": 1, "districts": ("district_a",)},
            "two": {"categories": ("childcare", "elderly"), "capacity": 2, "districts": ("district_a",)},
        },
    )
    communities = [await community(world, "street_x", f"社区{i}") for i in range(3)]
    for target in communities:
        await need(world, "street_x", target["id"], "childcare")
        await need(world, "street_x", target["id"], "elderly")

    denied = await world.post("street_x", "/api/v1/allocation-plans", json={"district_id": world.org_id("district_a")})
    assert denied.status_code == 403
    response = await world.post(
        "district", "/api/v1/allocation-plans", json={"district_id": world.org_id("district_a")}
    )
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["need_count"] == 6 and plan["assigned"] == 3  # three units of capacity in all
    per_operator: dict[int, int] = {}
    for line in plan["lines"]:
        if line["operator_id"] is not None:
            per_operator[line["operator_id"]] = per_operator.get(line["operator_id"], 0) + 1
    assert per_operator == {operators["one"]["id"]: 1, operators["two"]["id"]: 2}
    assert float(plan["total_score"]) >= float(plan["greedy_score"])

    line = next(ln for ln in plan["lines"] if ln["operator_id"] == operators["one"]["id"])
    accepted = await world.post("district", f"/api/v1/allocation-plans/{plan['id']}/lines/{line['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state_label"] == "已采纳" and accepted.json()["contract_id"]
    drafted = (await world.get("district", f"/api/v1/contracts/{accepted.json()['contract_id']}")).json()
    assert drafted["status"] == "draft" and drafted["need_ids"] == [line["need_id"]]
    assert (await world.get("district", f"/api/v1/needs/{line['need_id']}")).json()["status"] == "matched"
    again = await world.post("district", f"/api/v1/allocation-plans/{plan['id']}/lines/{line['id']}/accept")
    assert again.status_code == 409 and again.json()["code"] == "allocation.line_decided"

    # A second plan sees the capacity the accepted line now holds.
    second = (
        await world.post("district", "/api/v1/allocation-plans", json={"district_id": world.org_id("district_a")})
    ).json()
    assert second["need_count"] == 5
    assert all(ln["operator_id"] != operators["one"]["id"] for ln in second["lines"])

    unassigned = next(ln for ln in plan["lines"] if ln["operator_id"] is None)
    empty = await world.post("district", f"/api/v1/allocation-plans/{plan['id']}/lines/{unassigned['id']}/accept")
    assert empty.status_code == 409 and empty.json()["code"] == "allocation.line_unassigned"
    rejected = await world.post(
        "district",
        f"/api/v1/allocation-plans/{plan['id']}/lines/{unassigned['id']}/reject",
        json={"reason": "另行招募"},
    )
    assert rejected.json()["state"] == "rejected"


async def test_a_closed_need_stays_closed(world):
    place = await community(world, "street_x", "江滨社区")
    wanted = await need(world, "street_x", place["id"], "childcare")
    closed = await world.post("street_x", f"/api/v1/needs/{wanted['id']}/close", json={"reason": "已由社区自办"})
    assert closed.status_code == 200 and closed.json()["status_label"] == "已关闭", closed.text
    again = await world.post("street_x", f"/api/v1/needs/{wanted['id']}/close", json={"reason": "再次关闭"})
    assert again.status_code == 409 and again.json()["code"] == "need.not_open"
    assert again.json()["message"] == "该需求已对接或已关闭"
