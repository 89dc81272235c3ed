"""Awards by the published rules: weights on the listing, the street's panel, the ranking, the award after the
window closes, the public result, and the preferential track from listing to invoice."""

from __future__ import annotations

import asyncio

from leasing import award, service
from tests.leasing.helpers import listing, listing_terms, space
from tests.market.helpers import listed_operators

APPLY = {"term_months": 36, "plan": "社区服务方案"}


def applications_url(listing_id: int) -> str:
    return f"/api/v1/space-listings/{listing_id}/applications"


async def apply(world, user: str, listing_id: int, **fields) -> dict:
    response = await world.post(user, applications_url(listing_id), json={**APPLY, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def score(world, user: str, listing_id: int, application_id: int, scores: dict, comment: str = "意见"):
    return await world.post(
        user,
        f"/api/v1/space-listings/{listing_id}/applications/{application_id}/scores",
        json={"scores": scores, "comment": comment},
    )


async def award_to(world, user: str, listing_id: int, application_id: int, reason: str = "综合得分第一"):
    return await world.post(
        user, f"/api/v1/space-listings/{listing_id}/award", json={"application_id": application_id, "reason": reason}
    )


def test_rent_scores_are_shares_of_the_highest_offer_and_totals_are_weighted_panel_means():
    assert award.rent_scores({1: 5_000, 2: 4_000, 3: 0}) == {1: 100, 2: 80, 3: 0}
    assert award.rent_scores({1: 0}) == {1: 0}
    ranking = award.rank(
        "competitive",
        {"rent": 30, "plan": 70},
        [
            award.Candidate(1, 5_000, [{"plan": 50}, {"plan": 70}]),  # 30 + 70 × 60 % = 72
            award.Candidate(2, 4_000, [{"plan": 90}]),  # 30 × 80 % + 70 × 90 % = 87
            award.Candidate(3, 4_000, []),  # unscored: 24
        ],
    )
    assert [(r.application_id, r.rank, str(r.total)) for r in ranking] == [
        (2, 1, "87.00"),
        (1, 2, "72.00"),
        (3, 3, "24.00"),
    ]
    assert ranking[1].criteria == {"rent": 100, "plan": 60} and ranking[1].panel_size == 2
    tie = award.rank(
        "preferential", award.DEFAULT_WEIGHTS["preferential"], [award.Candidate(9, 0, []), award.Candidate(4, 0, [])]
    )
    assert [r.application_id for r in tie] == [4, 9]  # the earlier application first
    assert award.weight_problems("competitive", {"rent": 60, "plan": 40}) == []
    assert len(award.weight_problems("competitive", {"rent": 60, "plan": 50})) == 1
    assert len(award.weight_problems("preferential", {"rent": 60, "plan": 40})) == 1
    assert award.score_problems("preferential", {"elderly": 80, "children": 70, "discounts": 60}) == []
    assert len(award.score_problems("competitive", {"plan": 101})) == 1


async def test_weights_are_published_per_track_and_must_sum_to_100(world, frozen_clock):
    room = await space(world)
    for criteria, problem in (
        ({"rent": 70, "plan": 40}, "合计须为 100"),
        ({"rent": 60, "use": 40}, "须且只须包含"),
        ({"rent": 120, "plan": -20}, "每项须在 0 至 100 之间"),
    ):
        refused = await world.post(
            "street_x",
            f"/api/v1/spaces/{room['id']}/listings",
            json={**listing_terms(), "criteria": criteria},
        )
        assert refused.status_code == 422, refused.text
        body = refused.json()
        assert (
            body["code"] == "listing.criteria_invalid" and "criteria" in body["message"] and problem in body["message"]
        )
    assert (await world.get("street_x", f"/api/v1/spaces/{room['id']}")).json()["status"] == "idle"

    published = await listing(world, room["id"], criteria={"rent": 30, "plan": 70})
    assert published["criteria"] == {"rent": 30, "plan": 70}
    other = await space(world, community_id=room["community_id"], address="江滨路 9 号")
    preferential = await listing(world, other["id"], track="preferential")
    assert preferential["criteria"] == {"elderly": 40, "children": 30, "discounts": 30}


async def test_the_panel_scores_after_the_window_closes_and_the_first_ranked_wins_unless_the_street_says_why(
    world, frozen_clock
):
    operators = await listed_operators(
        world,
        frozen_clock,
        {
            "tot": {"name": "小橙托育", "categories": ("childcare",)},
            "shop": {"name": "邻里便利", "categories": ("commerce",)},
        },
    )
    room = await space(world)
    offer = await listing(world, room["id"], closes_on="2026-12-05", criteria={"rent": 30, "plan": 70})
    shop = await apply(world, "shop", offer["id"], proposed_use="commerce", proposed_rent_per_m2_month=5_000)
    tot = await apply(world, "tot", offer["id"], proposed_use="childcare", proposed_rent_per_m2_month=4_500)

    early = await score(world, "street_x", offer["id"], tot["id"], {"plan": 80})
    assert early.status_code == 409 and early.json()["code"] == "listing.window_open"
    too_early = await award_to(world, "street_x", offer["id"], tot["id"])
    assert too_early.status_code == 409 and too_early.json()["code"] == "listing.window_open"
    hidden = await world.get(None, f"/api/v1/public/space-listings/{offer['id']}/result")
    assert hidden.status_code == 404 and hidden.json()["code"] == "listing.result_not_public"

    frozen_clock.advance(days=4)
    late = await world.post("tot", applications_url(offer["id"]), json={**APPLY, "proposed_use": "childcare"})
    assert late.status_code == 409 and late.json()["code"] == "listing.not_open"
    not_panel = await score(world, "district", offer["id"], tot["id"], {"plan": 80})
    assert not_panel.status_code == 403  # the panel is the street's
    elsewhere = await score(world, "street_y", offer["id"], tot["id"], {"plan": 80})
    assert elsewhere.status_code == 404
    bad = await score(world, "street_x", offer["id"], tot["id"], {"plan": 80, "elderly": 90})
    assert bad.status_code == 422 and bad.json()["code"] == "panel.score_invalid" and "scores" in bad.json()["message"]
    no_comment = await score(world, "street_x", offer["id"], tot["id"], {"plan": 80}, comment="")
    assert no_comment.status_code in (400, 422)
    unknown = await score(world, "street_x", offer["id"], 999_999, {"plan": 80})
    assert unknown.status_code == 404 and unknown.json()["code"] == "lease_application.not_found"

    # Two panel members: 小橙托育's plan averages 85, 邻里便利's 40.
    for user, tot_plan, shop_plan in (("street_x", 80, 30), ("street_x_and_operator_a", 90, 50)):
        assert (await score(world, user, offer["id"], tot["id"], {"plan": tot_plan})).status_code == 201
        assert (await score(world, user, offer["id"], shop["id"], {"plan": shop_plan})).status_code == 201
    again = await score(world, "street_x", offer["id"], tot["id"], {"plan": 100})
    assert again.status_code == 409 and again.json()["code"] == "panel.score_duplicate"

    ranked = (await world.get("street_x", applications_url(offer["id"]))).json()
    # 30 × 90 % + 70 × 85 % = 86.50 against 30 + 70 × 40 % = 58.00.
    assert [(a["operator_name"], a["rank"], a["score"]) for a in ranked] == [
        ("小橙托育", 1, "86.50"),
        ("邻里便利", 2, "58.00"),
    ]
    own = (await world.get("shop", applications_url(offer["id"]))).json()
    assert [a["operator_name"] for a in own] == ["邻里便利"] and own[0]["rank"] is None

    passed_over = await award_to(world, "street_x", offer["id"], shop["id"], reason="托育机构另有安排，经协商放弃")
    assert passed_over.status_code == 201, passed_over.text
    assert passed_over.json()["lessee_name"] == "邻里便利"

    result = await world.get(None, f"/api/v1/public/space-listings/{offer['id']}/result")
    assert result.status_code == 200, result.text
    body = result.json()
    assert body["winner"] == "邻里便利" and body["override_reason"] == "托育机构另有安排，经协商放弃"
    assert [(e["rank"], e["operator_name"], e["score"], e["awarded"]) for e in body["ranking"]] == [
        (1, "小橙托育", "86.50", False),
        (2, "邻里便利", "58.00", True),
    ]
    assert body["ranking"][0]["criteria"] == {"rent": "90.00", "plan": "85.00"}
    assert body["ranking"][0]["panel_size"] == 2 and body["criteria"] == {"rent": 30, "plan": 70}
    for private in (operators["tot"]["contact_email"], operators["tot"]["contact_phone"], "社区服务方案"):
        assert private not in result.text
    after = await score(world, "street_x", offer["id"], tot["id"], {"plan": 10})
    assert after.status_code == 409 and after.json()["code"] == "listing.not_open"
    decided = (await world.get("street_x", applications_url(offer["id"]))).json()
    assert [(a["operator_name"], a["rank"], a["status"]) for a in decided] == [
        ("小橙托育", 1, "not_awarded"),
        ("邻里便利", 2, "awarded"),
    ]

    audit = (await world.get("city", "/api/v1/audit", params={"action": "listing.award"})).json()["items"]
    assert audit[0]["after"]["override_reason"] == "托育机构另有安排，经协商放弃"
    assert audit[0]["after"]["first_ranked"] == tot["id"]
    scored = (await world.get("city", "/api/v1/audit", params={"action": "lease_application.score"})).json()
    assert scored["total"] == 4


async def test_awarding_the_first_ranked_publishes_no_override(world, frozen_clock):
    await listed_operators(world, frozen_clock, {"tot": {"name": "小橙托育", "categories": ("childcare",)}})
    room = await space(world)
    offer = await listing(world, room["id"], closes_on="2026-12-05")
    tot = await apply(world, "tot", offer["id"], proposed_use="childcare", proposed_rent_per_m2_month=4_500)
    frozen_clock.advance(days=4)
    # The street sets the lease's late-payment rate when it signs.
    signed = await world.post(
        "street_x",
        f"/api/v1/space-listings/{offer['id']}/award",
        json={"application_id": tot["id"], "reason": "综合得分第一", "late_fee_bp_per_day": 5},
    )
    assert signed.status_code == 201 and signed.json()["late_fee_bp_per_day"] == 5, signed.text
    body = (await world.get(None, f"/api/v1/public/space-listings/{offer['id']}/result")).json()
    assert body["winner"] == "小橙托育" and body["override_reason"] == ""
    assert body["ranking"][0]["criteria"] == {"rent": "100.00", "plan": "0.00"}  # no panel score: 0


async def test_two_officials_awarding_one_listing_at_once_leave_one_award(world, frozen_clock):
    await listed_operators(
        world,
        frozen_clock,
        {"tot": {"categories": ("childcare",)}, "care": {"categories": ("childcare",)}},
    )
    room = await space(world)
    offer = await listing(world, room["id"], closes_on="2026-12-05")
    first = await apply(world, "tot", offer["id"], proposed_use="childcare", proposed_rent_per_m2_month=4_600)
    second = await apply(world, "care", offer["id"], proposed_use="childcare", proposed_rent_per_m2_month=4_500)
    frozen_clock.advance(days=4)

    answers = await asyncio.gather(
        award_to(world, "street_x", offer["id"], first["id"]),
        award_to(world, "district", offer["id"], second["id"], reason="区级统筹安排"),
    )
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    assert [a.json()["code"] for a in answers if a.status_code == 409] == ["listing.not_open"]
    leases = (await world.get("street_x", "/api/v1/leases", params={"space_id": room["id"]})).json()
    assert leases["total"] == 1
    statuses = sorted(a["status"] for a in (await world.get("street_x", applications_url(offer["id"]))).json())
    assert statuses == ["awarded", "not_awarded"]


async def test_the_preferential_track_from_listing_to_invoice(world, frozen_clock):
    operators = await listed_operators(
        world,
        frozen_clock,
        {
            "elder": {"name": "银龄养老", "categories": ("elderly",)},
            "kids": {"name": "童趣托育", "categories": ("childcare",)},
            "paused": {"name": "暂停企业", "categories": ("childcare",)},
        },
    )
    suspended = await world.post(
        "city",
        f"/api/v1/operators/{operators['paused']['id']}/status",
        json={"status": "suspended", "reason": "发生安全事故，暂停整改"},
    )
    assert suspended.status_code in (200, 201), suspended.text
    room = await space(world, uses=("elderly_care", "childcare", "commerce"), area="100.00")
    offer = await listing(
        world,
        room["id"],
        track="preferential",
        rent_per_m2_month=2_000,
        public_welfare_discount="0.5",
        rent_free_months=0,
        deposit_months=1,
        closes_on="2026-12-05",
        criteria={"elderly": 50, "children": 30, "discounts": 20},
    )

    refused = await world.post("paused", applications_url(offer["id"]), json={**APPLY, "proposed_use": "childcare"})
    assert refused.status_code == 409 and refused.json()["code"] == "lease_application.not_listed"
    commerce = await world.post("kids", applications_url(offer["id"]), json={**APPLY, "proposed_use": "commerce"})
    assert commerce.status_code == 409 and commerce.json()["code"] == "lease_application.not_listed"
    elder = await apply(world, "elder", offer["id"], proposed_use="elderly_care", proposed_rent_per_m2_month=9_999)
    kids = await apply(world, "kids", offer["id"], proposed_use="childcare")
    assert elder["proposed_rent_per_m2_month"] == kids["proposed_rent_per_m2_month"] == 2_000  # the fixed rent

    frozen_clock.advance(days=4)
    rent_only = await score(world, "street_x", offer["id"], elder["id"], {"plan": 80})
    assert rent_only.status_code == 422 and rent_only.json()["code"] == "panel.score_invalid"
    for application, scores in (
        (elder, {"elderly": 95, "children": 40, "discounts": 80}),  # 47.5 + 12 + 16 = 75.50
        (kids, {"elderly": 30, "children": 95, "discounts": 70}),  # 15 + 28.5 + 14 = 57.50
    ):
        filed = await score(world, "street_x", offer["id"], application["id"], scores, comment="公益服务评分")
        assert filed.status_code == 201, filed.text
        assert filed.json()["scores"] == scores

    ranked = (await world.get("street_x", applications_url(offer["id"]))).json()
    assert [(a["operator_name"], a["score"]) for a in ranked] == [("银龄养老", "75.50"), ("童趣托育", "57.50")]
    signed = await award_to(world, "street_x", offer["id"], elder["id"])
    assert signed.status_code == 201, signed.text
    lease = signed.json()
    # 20 元 × 100 m² less the 50 % public-welfare discount for a public-service use.
    assert lease["monthly_rent"] == 100_000 and lease["deposit"] == 100_000 and lease["use"] == "elderly_care"
    assert (lease["starts_on"], lease["ends_on"]) == ("2027-01-01", "2030-01-01")

    result = (await world.get(None, f"/api/v1/public/space-listings/{offer['id']}/result")).json()
    assert result["winner"] == "银龄养老" and result["track"] == "preferential"
    assert result["ranking"][0]["criteria"] == {"elderly": "95.00", "children": "40.00", "discounts": "80.00"}

    frozen_clock.advance(days=30)  # into January 2027
    assert await service.generate_invoices() >= 1
    invoices = (await world.get("elder", "/api/v1/rent-invoices", params={"lease_id": lease["id"]})).json()
    january = sorted((i["kind"], i["amount"]) for i in invoices["items"] if i["month"] == "2027-01-01")
    assert january == [("deposit", 100_000), ("rent", 100_000)]  # the deposit billed with the first rent


async def test_an_operator_whose_registry_listing_ends_before_the_lease_starts_cannot_apply_preferentially(
    world, frozen_clock
):
    operators = await listed_operators(world, frozen_clock, {"kids": {"categories": ("childcare",)}})
    listings = (await world.get(None, f"/api/v1/public/operators/{operators['kids']['id']}/listings")).json()
    valid_until = listings[0]["valid_until"]
    room = await space(world)
    # The window closes after the registry listing has lapsed: the lease could only start after it.
    offer = await listing(world, room["id"], track="preferential", closes_on=valid_until, opens_on="2026-11-01")
    refused = await world.post("kids", applications_url(offer["id"]), json={**APPLY, "proposed_use": "childcare"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "lease_application.not_listed"
    assert refused.json()["detail"]["registry_status"] == "listed"
