"""Who may evaluate an operator by hand, and that each such evaluation says why."""

from __future__ import annotations

from tests.market.helpers import community, contract
from tests.providers.helpers import listed_operator


def evaluation(operator_id: int, start: str, end: str, **extra) -> dict:
    return {
        "operator_id": operator_id,
        "score": 85,
        "satisfaction": "90",
        "complaints": 1,
        "period_start": start,
        "period_end": end,
        "reason": "季度履约考核",
        **extra,
    }


async def test_only_the_city_or_a_contract_holder_over_the_period_may_evaluate(world, frozen_clock):
    operator = await listed_operator(world, frozen_clock, "被评价企业", "evaluated")
    target = await community(world, "street_x", "江滨社区")

    def file(user: str, start: str = "2026-10-01", end: str = "2027-01-01", **extra):
        return world.post(user, "/api/v1/evaluations", json=evaluation(operator["id"], start, end, **extra))

    # No contract yet: no street or district may evaluate; the city may.
    for user in ("street_x", "district"):
        refused = await file(user)
        assert refused.status_code == 403 and refused.json()["code"] == "evaluation.not_allowed", user
    assert (await file("city")).status_code == 201

    await contract(world, "street_x", target["id"], operator["id"], starts_on="2026-06-01", ends_on="2028-06-01")
    by_street = await file("street_x")
    assert by_street.status_code == 201, by_street.text
    assert by_street.json()["evaluator_org_id"] == world.org_id("street_x")
    by_district = await file("district")
    assert by_district.status_code == 201 and by_district.json()["evaluator_org_id"] == world.org_id("district_a")

    # Another street of the same district, a district elsewhere, or a period outside the contract: refused.
    for user, start, end in (
        ("street_y", "2026-10-01", "2027-01-01"),
        ("district_b", "2026-10-01", "2027-01-01"),
        ("street_x", "2026-01-01", "2026-06-01"),
        ("street_x", "2028-06-01", "2028-09-01"),
    ):
        refused = await file(user, start, end)
        assert refused.status_code == 403 and refused.json()["code"] == "evaluation.not_allowed", (user, start)

    # A hand-filed evaluation needs a reason.
    for blank in ("", "  \n"):
        unexplained = await file("street_x", reason=blank)
        assert unexplained.status_code == 422 and unexplained.json()["code"] == "decision.reason_required"

    listed = (await world.get("city", f"/api/v1/operators/{operator['id']}/evaluations")).json()
    assert listed["total"] == 3
    assert {(e["kind"], e["reason"]) for e in listed["items"]} == {("manual", "季度履约考核")}
