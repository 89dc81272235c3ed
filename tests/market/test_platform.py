"""State-owned platforms (国企平台统一运营试点): designation, old-renovation communities under one platform at a
time, the master contract and its sub-contracts with listed specialists, and the portfolio balance."""

from __future__ import annotations

import asyncio

from tests.concurrency.test_one_outcome import CHINESE, one_winner
from tests.market.helpers import community, contract, listed_operators


async def designate(world, org="owner", level="district", district="district_a", user="city"):
    body = {"org_id": world.org_id(org), "level": level, "reason": "区属国企，承接旧改类社区统一运营试点"}
    if district:
        body["district_id"] = world.org_id(district)
    return await world.post(user, "/api/v1/platforms", json=body)


async def platform(world) -> dict:
    response = await designate(world)
    assert response.status_code == 201, response.text
    return response.json()


async def assign(world, platform_id, community_id, user="city", starts_on="2026-07-01"):
    return await world.post(
        user,
        f"/api/v1/platforms/{platform_id}/communities",
        json={"community_id": community_id, "starts_on": starts_on, "reason": "旧改类社区纳入统一运营试点"},
    )


async def post_ledger(world, community_id, kind, amount, reference):
    response = await world.post(
        "street_x",
        f"/api/v1/communities/{community_id}/ledger",
        json={"month": "2026-10-01", "kind": kind, "amount": amount, "reference": reference},
    )
    assert response.status_code == 201, response.text


async def test_a_district_platform_runs_old_renovation_communities_as_one_portfolio(world, frozen_clock):
    designated = await platform(world)
    assert (designated["level_label"], designated["org_name"], designated["district_name"]) == (
        "区级国企平台",
        "富阳城投",
        "富阳区",
    )
    again = await designate(world)
    assert again.status_code == 409 and again.json()["code"] == "platform.exists"

    rich = await community(world, "street_x", "江滨社区")
    poor = await community(world, "street_x", "富春社区")
    for target in (rich, poor):
        assigned = await assign(world, designated["id"], target["id"])
        assert assigned.status_code == 201, assigned.text
    await post_ledger(world, rich["id"], "other_income", 900_000, "SR-1")
    await post_ledger(world, rich["id"], "staff", 500_000, "ST-1")
    await post_ledger(world, poor["id"], "staff", 300_000, "ST-2")
    await post_ledger(world, poor["id"], "subsidy", 100_000, "SB-2")

    portfolio = await world.get(
        "district",
        f"/api/v1/platforms/{designated['id']}/portfolio",
        params={"start": "2026-01-01", "end": "2027-01-01"},
    )
    assert portfolio.status_code == 200, portfolio.text
    body = portfolio.json()
    lines = {line["community_name"]: line for line in body["communities"]}
    assert (lines["江滨社区"]["net"], lines["富春社区"]["net"]) == (400_000, -200_000)
    assert (body["income"], body["cost"], body["net"]) == (1_000_000, 800_000, 200_000)
    assert (body["surplus"], body["deficit"], body["cross_subsidy"]) == (400_000, 200_000, 200_000)
    assert "以盈补亏 ¥2,000.00" in body["explanation"]

    # The platform's own company reads it; another company does not.
    assert (await world.get("owner", f"/api/v1/platforms/{designated['id']}")).status_code == 200
    assert (await world.get("operator_a", f"/api/v1/platforms/{designated['id']}")).status_code == 404
    detail = (await world.get("auditor", f"/api/v1/platforms/{designated['id']}")).json()
    assert [c["community_name"] for c in detail["communities"]] == ["江滨社区", "富春社区"]


async def test_only_old_renovation_communities_of_the_platforms_district_are_assigned(world, frozen_clock):
    designated = await platform(world)
    new_build = await community(world, "street_x", "未来城社区", community_type="new_build")
    refused = await assign(world, designated["id"], new_build["id"])
    assert refused.status_code == 422 and refused.json()["code"] == "platform.not_renovation"
    assert refused.json()["detail"] == {"field": "community_id"}
    elsewhere = await community(world, "street_z", "文新社区", user="district_b")
    refused = await assign(world, designated["id"], elsewhere["id"])
    assert refused.status_code == 422 and refused.json()["code"] == "platform.outside_district"
    assert (await assign(world, designated["id"], elsewhere["id"], user="district")).status_code == 403
    missing = await assign(world, designated["id"], 999_999)
    assert missing.status_code == 404 and missing.json()["code"] == "community.not_found"
    unknown = await assign(world, 999_999, elsewhere["id"])
    assert unknown.status_code == 404 and unknown.json()["code"] == "platform.not_found"
    blank = await world.post(
        "city",
        f"/api/v1/platforms/{designated['id']}/communities",
        json={"community_id": new_build["id"], "starts_on": "2026-07-01", "reason": "  "},
    )
    assert blank.status_code == 422 and CHINESE.search(blank.json()["message"])


async def test_bad_designations_are_refused_with_the_field_named(world, frozen_clock):
    street = await designate(world, org="street_x")
    assert street.status_code == 422 and street.json()["detail"] == {"field": "org_id"}
    no_district = await designate(world, district=None)
    assert no_district.status_code == 422 and no_district.json()["detail"] == {"field": "district_id"}
    city_with_district = await designate(world, org="operator_a", level="city")
    assert city_with_district.status_code == 422 and city_with_district.json()["detail"] == {"field": "district_id"}
    assert (await designate(world, user="district")).status_code == 403
    city_level = await designate(world, org="operator_b", level="city", district=None)
    assert city_level.status_code == 201 and city_level.json()["level_label"] == "市级国企平台"


async def test_two_platforms_taking_one_community_at_once_leave_one(world, frozen_clock):
    district = await platform(world)
    city = (await designate(world, org="operator_b", level="city", district=None)).json()
    target = await community(world, "street_x", "江滨社区")
    responses = await asyncio.gather(
        assign(world, district["id"], target["id"]), assign(world, city["id"], target["id"], starts_on="2026-09-01")
    )
    one_winner(list(responses), (201,), {"platform.community_taken"})
    details = [(await world.get("city", f"/api/v1/platforms/{p['id']}")).json() for p in (district, city)]
    assert sum(len(d["communities"]) for d in details) == 1


async def test_the_master_contract_covers_the_platforms_communities_and_specialists_sign_under_it(world, frozen_clock):
    designated = await platform(world)
    operators = await listed_operators(
        world, frozen_clock, {"care": {"categories": ("elderly",)}, "kids": {"categories": ("childcare",)}}
    )
    covered = await community(world, "street_x", "江滨社区")
    outside = await community(world, "street_x", "富春社区")
    assert (await assign(world, designated["id"], covered["id"])).status_code == 201
    url = f"/api/v1/platforms/{designated['id']}/master-contract"
    terms = {"starts_on": "2026-07-01", "ends_on": "2029-07-01", "annual_fee": 2_000_000, "reason": "试点总合同"}
    master = await world.post("city", url, json=terms)
    assert master.status_code == 201, master.text
    second = await world.post("city", url, json=terms)
    assert second.status_code == 409 and second.json()["code"] == "platform.master_contract_exists"
    backwards = await world.post("city", url, json={**terms, "ends_on": "2026-01-01"})
    assert backwards.status_code == 422 and backwards.json()["code"] == "contract.term_invalid"

    sub = await contract(
        world,
        "street_x",
        covered["id"],
        operators["care"]["id"],
        ("elderly",),
        starts_on="2026-12-01",
        master_contract_id=master.json()["id"],
    )
    assert sub["master_contract_id"] == master.json()["id"] and sub["status"] == "active"
    # A community outside the platform, or a specialist not listed for the category, cannot sign under it.
    refused = await world.post(
        "street_x",
        "/api/v1/contracts",
        json={
            "community_id": outside["id"],
            "operator_id": operators["care"]["id"],
            "categories": ["elderly"],
            "starts_on": "2026-12-01",
            "ends_on": "2027-12-01",
            "master_contract_id": master.json()["id"],
        },
    )
    assert refused.status_code == 422 and refused.json()["code"] == "platform.master_contract_invalid"
    unlisted = await world.post(
        "street_x",
        "/api/v1/contracts",
        json={
            "community_id": covered["id"],
            "operator_id": operators["kids"]["id"],
            "categories": ["elderly"],
            "starts_on": "2026-12-01",
            "ends_on": "2027-12-01",
            "master_contract_id": master.json()["id"],
        },
    )
    assert unlisted.status_code == 409 and unlisted.json()["code"] == "contract.operator_not_listed"
    detail = (await world.get("city", f"/api/v1/platforms/{designated['id']}")).json()
    assert detail["master_contract"]["annual_fee"] == 2_000_000 and detail["sub_contracts"] == 1
