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
    ghost = [
        {"operator_id": 999_999, "role": "integrated"},
        {"operator_id": ops["care"]["id"], "role": "specialist", "category": "elderly"},
    ]
    unknown = await world.post("city", "/api/v1/alliances", json=proposal(ops, lead_operator_id=999_999, members=ghost))
    assert unknown.status_code == 404 and unknown.json()["code"] == "operator.not_found", unknown.text
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


def consortium(ops: dict, target: dict, alliance: dict, **extra) -> dict:
    return {
        "community_id": target["id"],
        "operator_id": ops["lead"]["id"],
        "alliance_id": alliance["id"],
        "categories": ["integrated", "elderly", "childcare"],
        "starts_on": "2026-12-01",
        "ends_on": "2027-12-01",
        "annual_fee": 1_200_000,
        "lines": [
            {"operator_id": ops["lead"]["id"], "category": "integrated", "fee_share": "0.5"},
            {"operator_id": ops["care"]["id"], "category": "elderly", "fee_share": "0.3"},
            {"operator_id": ops["kids"]["id"], "category": "childcare", "fee_share": "0.2"},
        ],
        **extra,
    }


async def test_a_consortium_contract_checks_every_member_and_posts_its_fee_per_line(world, frozen_clock):
    ops = await members(world, frozen_clock)
    alliance = await approved(world, ops)
    target = await community(world, "street_x", "江滨社区")
    drafted = await world.post("street_x", "/api/v1/contracts", json=consortium(ops, target, alliance))
    assert drafted.status_code == 201, drafted.text
    assert drafted.json()["alliance_id"] == alliance["id"]
    lines = (await world.get("street_x", f"/api/v1/contracts/{drafted.json()['id']}/lines")).json()
    assert [(line["operator_name"], line["fee_share"]) for line in lines] == [
        ("富春综合运营有限公司", "0.5000"),
        ("康颐养老服务有限公司", "0.3000"),
        ("小星星托育有限公司", "0.2000"),
    ]

    # Signing checks every member's listing: a member suspended since the draft stops it.
    await world.post(
        "city", f"/api/v1/operators/{ops['kids']['id']}/status", json={"status": "suspended", "reason": "违规收费"}
    )
    refused = await world.post("street_x", f"/api/v1/contracts/{drafted.json()['id']}/sign")
    assert refused.status_code == 409 and refused.json()["code"] == "contract.operator_not_listed"
    await world.post(
        "city", f"/api/v1/operators/{ops['kids']['id']}/status", json={"status": "listed", "reason": "整改完成"}
    )
    signed = await world.post("street_x", f"/api/v1/contracts/{drafted.json()['id']}/sign")
    assert signed.status_code == 200, signed.text

    paid = await world.post(
        "street_x",
        f"/api/v1/contracts/{drafted.json()['id']}/fee-payments",
        json={"month": "2026-12-01", "amount": 100_001},
    )
    assert paid.status_code == 201, paid.text
    assert [(e["kind"], e["amount"]) for e in paid.json()] == [
        ("service_fee", 50_000),
        ("service_fee", 30_000),
        ("service_fee", 20_001),
    ]
    again = await world.post(
        "district", f"/api/v1/contracts/{drafted.json()['id']}/fee-payments", json={"month": "2026-12-01", "amount": 1}
    )
    assert again.status_code == 409 and again.json()["code"] == "ledger.source_exists"
    before = await world.post(
        "street_x", f"/api/v1/contracts/{drafted.json()['id']}/fee-payments", json={"month": "2026-10-01", "amount": 1}
    )
    assert before.status_code == 409 and before.json()["code"] == "ledger.no_contract_for_month"

    # The alliance's page lists the communities its consortium contracts serve, each with its balance.
    url = f"/api/v1/alliances/{alliance['id']}/communities"
    (served,) = (await world.get("street_x", url)).json()
    assert (served["community_name"], served["contract_id"]) == ("江滨社区", drafted.json()["id"])
    assert {"income", "cost", "net", "ratio"} <= served.keys() and served["satisfaction"] is None
    assert [c["community_name"] for c in (await world.get("care", url)).json()] == ["江滨社区"]  # a member
    assert (await world.get("street_y", url)).json() == []  # outside street Y's tree
    assert (await world.get("operator_a", url)).json() == []  # not a member
    assert (await world.get("resident", url)).status_code == 403
    assert (await world.get("street_x", "/api/v1/alliances/999999/communities")).status_code == 404


async def test_a_consortium_contract_must_match_its_alliance(world, frozen_clock):
    ops = await members(world, frozen_clock)
    alliance = await approved(world, ops)
    target = await community(world, "street_x", "江滨社区")
    base = consortium(ops, target, alliance)
    wrong = [
        {**base, "operator_id": ops["care"]["id"]},  # not the lead
        {**base, "lines": base["lines"][:2]},  # a category without a line
        {**base, "lines": [{**base["lines"][0], "fee_share": "0.6"}, *base["lines"][1:]]},  # shares add to 1.1
        {
            **base,
            "lines": [base["lines"][0], {**base["lines"][1], "operator_id": ops["outsider"]["id"]}, base["lines"][2]],
        },
        {**base, "alliance_id": None},  # lines without an alliance
        {**base, "alliance_id": 999_999},
    ]
    for body in wrong:
        refused = await world.post("street_x", "/api/v1/contracts", json=body)
        assert refused.status_code == 422 and refused.json()["code"] == "contract.consortium_invalid", refused.text
        assert refused.json()["detail"]["field"] in ("alliance_id", "lines")
    assert (await world.get("street_x", "/api/v1/contracts")).json()["total"] == 0
