"""A suspension or removal ends nothing silently: each contract waits for its street's decision."""

from __future__ import annotations

from core import clock
from tests.market.helpers import community, contract, listed_operators


async def run_registry_job(world) -> dict:
    response = await world.post("city", "/api/v1/jobs/registry_rules/run", json={"period": clock.today().isoformat()})
    assert response.status_code == 200, response.text
    [run] = response.json()
    assert run["status"] == "succeeded", run
    return run["result"]


async def flags(world, user: str, state: str = "open") -> list[dict]:
    response = await world.get(user, "/api/v1/flags", params={"kind": "contract_registry_status", "state": state})
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_each_contract_of_a_suspended_operator_waits_for_its_streets_decision(world, frozen_clock):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    tot = operators["tot"]["id"]
    kept = await contract(world, "street_x", (await community(world, "street_x", "江滨社区"))["id"], tot)
    ended = await contract(world, "street_y", (await community(world, "street_y", "彩虹社区"))["id"], tot)

    def decide(user: str, contract_id: int, decision: str, reason: str = "经街道研究决定"):
        return world.post(
            user, f"/api/v1/contracts/{contract_id}/registry-decision", json={"decision": decision, "reason": reason}
        )

    # Nothing to decide while the operator is listed.
    early = await decide("street_x", kept["id"], "continue")
    assert early.status_code == 409 and early.json()["code"] == "contract.no_registry_decision_due"

    suspended = await world.post(
        "city", f"/api/v1/operators/{tot}/status", json={"status": "suspended", "reason": "发生安全事故，暂停整改"}
    )
    assert suspended.status_code == 200
    result = await run_registry_job(world)
    assert result["contract_flags_raised"] == 2
    # Each street sees the flag of its own contract only; the contracts go on until someone decides.
    [x_flag] = await flags(world, "street_x")
    [y_flag] = await flags(world, "street_y")
    assert (x_flag["subject_id"], y_flag["subject_id"]) == (kept["id"], ended["id"])
    assert "暂停" in x_flag["title"] and x_flag["detail"]["status_reason"] == "发生安全事故，暂停整改"
    assert (await world.get("street_x", f"/api/v1/contracts/{kept['id']}")).json()["status"] == "active"

    # A decision needs a reason and an official of the contract's street.
    unexplained = await decide("street_x", kept["id"], "continue", reason=" ")
    assert unexplained.status_code == 422 and unexplained.json()["code"] == "decision.reason_required"
    assert (await decide("street_y", kept["id"], "continue")).status_code == 404
    assert (await decide("tot", kept["id"], "terminate")).status_code == 403

    continued = await decide("street_x", kept["id"], "continue", "社区托育不能中断，继续履行至期满并加强监管")
    assert continued.status_code == 200, continued.text
    assert continued.json()["contract_status"] == "active"
    assert await flags(world, "street_x") == []
    [done] = await flags(world, "street_x", state="resolved")
    assert done["resolution"] == "继续履行至合同期满：社区托育不能中断，继续履行至期满并加强监管"
    again = await decide("street_x", kept["id"], "terminate")
    assert again.status_code == 409 and again.json()["code"] == "contract.no_registry_decision_due"

    terminated = await decide("district", ended["id"], "terminate", "运营商暂停在库，另行选择运营商")
    assert terminated.status_code == 200 and terminated.json()["contract_status"] == "terminated"
    ended_view = (await world.get("street_y", f"/api/v1/contracts/{ended['id']}")).json()
    assert (ended_view["status"], ended_view["termination_reason"]) == ("terminated", "运营商暂停在库，另行选择运营商")
    assert await flags(world, "street_y") == []

    # The next night raises nothing again for decided contracts.
    frozen_clock.advance(days=1)
    assert (await run_registry_job(world))["contract_flags_raised"] == 0

    # A later removal is a new registry decision: the contract that went on is flagged again.
    removed = await world.post(
        "city", f"/api/v1/operators/{tot}/status", json={"status": "removed", "reason": "整改不合格，移出名录"}
    )
    assert removed.status_code == 200
    frozen_clock.advance(days=1)
    assert (await run_registry_job(world))["contract_flags_raised"] == 1
    [again_flag] = await flags(world, "street_x")
    assert again_flag["subject_id"] == kept["id"] and "移出" in again_flag["title"]
