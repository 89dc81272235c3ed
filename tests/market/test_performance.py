"""Quarterly performance evaluations computed from a contract's facts, and the complaints they count."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from leasing import service as leasing
from market import performance
from market.balance import BalanceStatus
from market.jobs import quarterly_evaluations
from scheduler import engine
from scheduler.jobs import job_named
from tests.leasing.helpers import lease, space
from tests.market.helpers import community, contract, listed_operators


def facts(**overrides) -> performance.QuarterFacts:
    values = {
        "months_due": 3,
        "reports_on_time": 3,
        "reports_complete": 3,
        "balance_status": BalanceStatus.balanced,
        "balance_ratio": Decimal("1.2"),
        "previous_ratio": Decimal("1.1"),
        "complaints": 0,
        "satisfaction": None,
        "arrears": 0,
    }
    return performance.QuarterFacts(**{**values, **overrides})


def test_missing_parts_are_left_out_and_the_rest_renormalised():
    weights = performance.weights({})
    perfect, parts = performance.score(facts(), weights)
    assert perfect == 100
    assert parts["satisfaction"]["points"] is None and parts["satisfaction"]["applied_weight"] == "0.000"
    # The applied weights add up to one (each shown rounded to three places).
    assert abs(sum(Decimal(p["applied_weight"]) for p in parts.values()) - 1) <= Decimal("0.004")
    # A survey, when there is one, counts with its weight: a poor one lowers the score.
    surveyed, parts = performance.score(facts(satisfaction=Decimal(40)), weights)
    assert surveyed < perfect and parts["satisfaction"]["applied_weight"] == "0.100"
    # No ledger at all: neither balance part counts, the reports and complaints carry the score.
    unknown, parts = performance.score(
        facts(balance_status=BalanceStatus.no_data, balance_ratio=None, previous_ratio=None, reports_on_time=0),
        weights,
    )
    assert parts["balance"]["points"] is None and parts["balance_trend"]["points"] is None
    on_time = Decimal(parts["reports_on_time"]["applied_weight"])
    assert unknown == int((100 * (1 - on_time)).quantize(Decimal(1), rounding="ROUND_HALF_UP"))


def test_the_weights_decide_and_a_zero_weight_drops_a_part():
    complaints_only = {name: 0.0 for name in performance.DEFAULT_WEIGHTS} | {"complaints": 1.0}
    assert performance.score(facts(complaints=2), performance.weights(complaints_only))[0] == 60
    assert performance.score(facts(complaints=9), performance.weights(complaints_only))[0] == 0
    without_complaints = performance.weights({"complaints": 0})
    assert performance.score(facts(complaints=9), without_complaints)[0] == 100
    worse_trend = performance.score(facts(previous_ratio=Decimal("1.5")), performance.weights({}))[0]
    assert worse_trend < 100


def test_rent_in_arrears_lowers_the_score_only_where_the_operator_leases():
    weights = performance.weights({})
    paid_up, parts = performance.score(facts(arrears=0), weights)
    assert paid_up == 100 and parts["arrears"]["points"] == "100.0"
    behind, parts = performance.score(facts(arrears=2), weights)
    assert parts["arrears"]["fact"] == 2 and parts["arrears"]["points"] == "50.0" and behind < paid_up
    assert performance.score(facts(arrears=9), weights)[1]["arrears"]["points"] == "0.0"
    # No room leased in the community: the part is left out, not counted as clean.
    _, parts = performance.score(facts(arrears=None), weights)
    assert parts["arrears"]["points"] is None and parts["arrears"]["applied_weight"] == "0.000"


async def report(world, user: str, contract_id: int, month: str, costs: dict) -> None:
    response = await world.post(
        user,
        f"/api/v1/contracts/{contract_id}/monthly-reports",
        json={"month": month, "service_revenue": 1_000_000, "costs": costs},
    )
    assert response.status_code == 201, response.text


async def test_complaints_are_recorded_by_the_contracts_officials(world, frozen_clock):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    target = await community(world, "street_x", "江滨社区")
    signed = await contract(world, "street_x", target["id"], operators["tot"]["id"])
    url = f"/api/v1/contracts/{signed['id']}/complaints"

    filed = await world.post("street_x", url, json={"received_on": "2026-11-20", "text": "  托育老师频繁更换  "})
    assert filed.status_code == 201, filed.text
    assert filed.json()["text"] == "托育老师频繁更换"
    assert filed.json()["filed_by_org_id"] == world.org_id("street_x")
    assert (
        await world.post("district", url, json={"received_on": "2026-11-21", "text": "收费不透明"})
    ).status_code == 201
    for user, status in (("street_y", 404), ("district_b", 404), ("tot", 403)):
        refused = await world.post(user, url, json={"received_on": "2026-11-20", "text": "投诉"})
        assert refused.status_code == status, (user, refused.text)
    for body, field in (
        ({"received_on": "2026-11-20", "text": "  "}, "text"),
        ({"received_on": "2027-01-01", "text": "未来的投诉"}, "received_on"),
        ({"received_on": "2025-06-01", "text": "合同开始前"}, "received_on"),
    ):
        invalid = await world.post("street_x", url, json=body)
        assert invalid.status_code == 422 and invalid.json()["detail"]["field"] == field, body
    # The operator reads what was recorded against it.
    listed = (await world.get("tot", url)).json()
    assert listed["total"] == 2 and [c["text"] for c in listed["items"]] == ["收费不透明", "托育老师频繁更换"]


async def test_each_contract_gets_one_computed_evaluation_a_quarter_from_its_facts(world, frozen_clock):
    operators = await listed_operators(
        world, frozen_clock, {"tot": {"categories": ("childcare",)}, "idle": {"categories": ("elderly",)}}
    )
    target = await community(world, "street_x", "江滨社区")
    other = await community(world, "street_y", "彩虹社区")
    signed = await contract(world, "street_x", target["id"], operators["tot"]["id"])
    await contract(world, "street_y", other["id"], operators["idle"]["id"], categories=("elderly",))
    # Today is 2026-12-01: October's report is late; November's is on time and complete.
    await report(world, "tot", signed["id"], "2026-10-01", {"staff": 700_000})
    await report(world, "tot", signed["id"], "2026-11-01", {"staff": 700_000, "utilities": 50_000})
    for day in ("2026-11-05", "2026-12-01"):
        response = await world.post(
            "street_x", f"/api/v1/contracts/{signed['id']}/complaints", json={"received_on": day, "text": "服务差"}
        )
        assert response.status_code == 201
    # The operator also rents a room in the community and has paid none of its rent.
    room = await space(world, community_id=target["id"])
    await lease(world, room["id"], operators["tot"]["id"], starts_on="2026-10-01")
    await leasing.generate_invoices(through=date(2026, 12, 1))
    frozen_clock.advance(days=35)  # 2027-01-05: December's report is on time but has no costs
    await report(world, "tot", signed["id"], "2026-12-01", {})

    [run] = await engine.run_due(job_named("quarterly_evaluations"))
    assert (run.period, run.result) == ("2026-10", {"evaluations": 2})
    # Exactly once per contract and quarter, however often it runs.
    assert await quarterly_evaluations(date(2026, 10, 1)) == {"evaluations": 0}

    [evaluation] = (await world.get("city", f"/api/v1/operators/{operators['tot']['id']}/evaluations")).json()["items"]
    assert evaluation["kind"] == "computed" and evaluation["contract_id"] == signed["id"]
    assert (evaluation["period_start"], evaluation["period_end"]) == ("2026-10-01", "2027-01-01")
    assert evaluation["satisfaction"] is None and evaluation["complaints"] == 2
    assert evaluation["evaluator_org_id"] == world.org_id("street_x")
    parts = evaluation["parts"]
    assert parts["reports_on_time"]["fact"] == "2/3" and parts["reports_complete"]["fact"] == "2/3"
    assert parts["complaints"]["fact"] == 2 and parts["complaints"]["points"] == "60.0"
    assert parts["satisfaction"]["fact"] is None and parts["satisfaction"]["applied_weight"] == "0.000"
    # October, November and December's rent fell due in the quarter and none was paid.
    assert parts["arrears"]["fact"] == 3 and parts["arrears"]["points"] == "25.0"
    expected = sum(
        Decimal(p["points"]) * Decimal(p["applied_weight"]) for p in parts.values() if p["points"] is not None
    )
    assert abs(evaluation["score"] - expected) <= 1
    # The idle operator filed nothing and had no complaints.
    [idle] = (await world.get("city", f"/api/v1/operators/{operators['idle']['id']}/evaluations")).json()["items"]
    assert idle["parts"]["reports_on_time"]["fact"] == "0/3" and idle["parts"]["complaints"]["points"] == "100.0"
    assert idle["parts"]["balance"]["fact"] == "no_data" and idle["parts"]["balance"]["points"] is None
    assert idle["parts"]["arrears"]["fact"] is None and idle["parts"]["arrears"]["points"] is None
    assert idle["score"] < evaluation["score"]
