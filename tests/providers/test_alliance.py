"""Industry alliances (产业联盟): listed operators under a lead, approved by the city, offered by matching as
one candidate for a community's needs; a member that loses its listing is flagged and left out."""

from __future__ import annotations

from tests.concurrency.test_one_outcome import CHINESE
from tests.market.helpers import community, listed_operators, need


async def members(world, frozen_clock) -> dict:
    return await listed_operators(
        world,
        frozen_clock,
        {
            "lead": {"name": "富春综合运营有限公司", "categories": ("integrated",)},
            "care": {"name": "康颐养老服务有限公司", "categories": ("elderly",)},
            "kids": {"name": "小星星托育有限公司", "categories": ("childcare",)},
            "outsider": {"name": "局外文化有限公司", "categories": ("culture",)},
        },
    )


def proposal(ops: dict, **extra) -> dict:
    return {
        "name": "富春未来社区产业联盟",
        "lead_operator_id": ops["lead"]["id"],
        "charter_ref": "联盟章程〔2026〕1号",
        "members": [
            {"operator_id": ops["lead"]["id"], "role": "integrated"},
            {"operator_id": ops["care"]["id"], "role": "specialist", "category": "elderly"},
            {"operator_id": ops["kids"]["id"], "role": "specialist", "category": "childcare"},
        ],
        **extra,
    }


async def approved(world, ops) -> dict:
    proposed = await world.post("lead", "/api/v1/alliances", json=proposal(ops))
    assert proposed.status_code == 201, proposed.text
    assert proposed.json()["status_label"] == "待市建委批准"
    decided = await world.post(
        "city", f"/api/v1/alliances/{proposed.json()['id']}/approve", json={"reason": "成员均在名录内，章程齐备"}
    )
    assert decided.status_code == 200, decided.text
    return decided.json()


async def test_an_approved_alliance_is_offered_as_one_candidate_for_the_communitys_needs(world, frozen_clock):
    ops = await members(world, frozen_clock)
    target = await community(world, "street_x", "江滨社区")
    for category in ("elderly", "childcare"):
        await need(world, "street_x", target["id"], category)
    before = (await world.get("street_x", f"/api/v1/communities/{target['id']}/matches")).json()
    assert before["alliances"] == []  # proposed alliances are not offered yet

    alliance = await approved(world, ops)
    assert alliance["status"] == "approved"
    found = (await world.get("street_x", f"/api/v1/communities/{target['id']}/matches")).json()
    (offer,) = found["alliances"]
    assert offer["alliance_name"] == "富春未来社区产业联盟" and offer["total"] > 0
    assert offer["bundle"]["integrated"]["operator_name"] == "富春综合运营有限公司"
    assert {c: s["operator_name"] for c, s in offer["bundle"]["specialists"].items()} == {
        "elderly": "康颐养老服务有限公司",
        "childcare": "小星星托育有限公司",
    }
    assert offer["bundle"]["uncovered"] == []
    assert offer["bundle"]["explanation"].startswith("产业联盟富春未来社区产业联盟：由富春综合运营有限公司牵头综合运营")

    # A member suspended by the registry is flagged on the alliance's page and drops out of new offers.
    suspended = await world.post(
        "city", f"/api/v1/operators/{ops['kids']['id']}/status", json={"status": "suspended", "reason": "违规收费"}
    )
    assert suspended.status_code == 200, suspended.text
    page = (await world.get("operator_b", f"/api/v1/alliances/{alliance['id']}")).json()
    standing = {m["operator_name"]: m["in_good_standing"] for m in page["members"]}
    assert standing == {"富春综合运营有限公司": True, "康颐养老服务有限公司": True, "小星星托育有限公司": False}
    (flag,) = page["flags"]
    assert flag["operator_name"] == "小星星托育有限公司" and "不再参与新的推荐" in flag["text"]
    found = (await world.get("street_x", f"/api/v1/communities/{target['id']}/matches")).json()
    (offer,) = found["alliances"]
    assert list(offer["bundle"]["specialists"]) == ["elderly"] and offer["bundle"]["uncovered"] == ["childcare"]


async def test_an_alliance_needs_a_lead_and_listed_members(world, frozen_clock):
    ops = await members(world, frozen_clock)
    cases = [
        (
            proposal(
                ops, members=[{"operator_id": ops["care"]["id"], "role": "specialist", "category": "elderly"}] * 2
            ),
            "alliance.members_invalid",
        ),
        (proposal(ops, lead_operator_id=ops["care"]["id"]), "alliance.members_invalid"),
        (
            proposal(
                ops,
                members=[
                    {"operator_id": ops["lead"]["id"], "role": "integrated"},
                    {"operator_id": ops["outsider"]["id"], "role": "specialist", "category": "elderly"},
                ],
            ),
            "alliance.member_not_listed",
        ),
        (proposal(ops, name="  "), "request.validation_failed"),
    ]
    for body, code in cases:
        refused = await world.post("city", "/api/v1/alliances", json=body)
        assert refused.status_code == 422 and refused.json()["code"] == code, refused.text
        assert CHINESE.search(refused.json()["message"])
    not_lead = await world.post("care", "/api/v1/alliances", json=proposal(ops))
    assert not_lead.status_code == 403 and not_lead.json()["code"] == "alliance.not_lead"
    assert (await world.post("street_x", "/api/v1/alliances", json=proposal(ops))).status_code == 403
    assert (await world.get("city", "/api/v1/alliances")).json()["total"] == 0

    alliance = await approved(world, ops)
    again = await world.post("lead", "/api/v1/alliances", json=proposal(ops))
    assert again.status_code == 409 and again.json()["code"] == "alliance.name_taken"
    twice = await world.post("city", f"/api/v1/alliances/{alliance['id']}/approve", json={"reason": "再次批准"})
    assert twice.status_code == 409 and twice.json()["code"] == "alliance.already_approved"
    missing = await world.get("city", "/api/v1/alliances/999999")
    assert missing.status_code == 404 and missing.json()["code"] == "alliance.not_found"
    assert (
        await world.post("district", f"/api/v1/alliances/{alliance['id']}/approve", json={"reason": "x"})
    ).status_code == 403


async def alliance_flags(world, user: str, **params) -> list[dict]:
    response = await world.get(user, "/api/v1/flags", params={"kind": "alliance_member_standing", **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_member_that_loses_its_standing_is_flagged_to_the_city_and_the_lead(world, frozen_clock):
    from scheduler import engine
    from scheduler.jobs import job_named

    ops = await members(world, frozen_clock)
    await approved(world, ops)
    job = job_named("alliance_standing")
    await engine.run_due(job)
    assert await alliance_flags(world, "city") == []

    await world.post(
        "city", f"/api/v1/operators/{ops['care']['id']}/status", json={"status": "suspended", "reason": "服务投诉集中"}
    )
    frozen_clock.advance(days=1)
    await engine.run_due(job)
    (flag,) = await alliance_flags(world, "city")
    assert flag["mark"] == "suspended" and "康颐养老服务有限公司" in flag["title"] and "不参与新的推荐" in flag["title"]
    assert [f["id"] for f in await alliance_flags(world, "lead")] == [flag["id"]]  # the lead sees it
    assert await alliance_flags(world, "kids") == []  # another member does not
    frozen_clock.advance(days=1)
    await engine.run_due(job)
    assert len(await alliance_flags(world, "city")) == 1  # asked once per member and status

    await world.post(
        "city",
        f"/api/v1/operators/{ops['care']['id']}/status",
        json={"status": "listed", "reason": "整改完成，恢复在库"},
    )
    frozen_clock.advance(days=1)
    await engine.run_due(job)
    assert await alliance_flags(world, "city") == []
    assert [f["id"] for f in await alliance_flags(world, "city", state="resolved")] == [flag["id"]]
