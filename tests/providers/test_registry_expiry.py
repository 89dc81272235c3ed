"""A listing that lapses without renewal shows: the operator becomes 'expired' until a renewal is published."""

from __future__ import annotations

from core import clock
from tests.market.helpers import community, contract
from tests.providers.helpers import approve, directory, listed_operator, publish_batch, submitted_self_application


async def run_registry_job(world) -> dict:
    response = await world.post("city", "/api/v1/jobs/registry_rules/run", json={"period": clock.today().isoformat()})
    assert response.status_code == 200, response.text
    [run] = response.json()
    assert run["status"] == "succeeded", run
    return run["result"]


async def operator_view(world, user: str, operator_id: int) -> dict:
    response = await world.get(user, f"/api/v1/operators/{operator_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def test_lapsed_operator_is_expired_everywhere_and_a_published_renewal_lists_it_again(world, frozen_clock):
    lapsing = await listed_operator(world, frozen_clock, "到期未续企业", "lapsing")
    await listed_operator(world, frozen_clock, "仍在库企业", "staying", categories=("health",))
    frozen_clock.advance(days=365 * 2 - 20)
    # Still in force: the nightly job changes nothing.
    assert (await run_registry_job(world))["expired"] == 0
    assert (await operator_view(world, "lapsing", lapsing["id"]))["registry_status"] == "listed"

    frozen_clock.advance(days=25)
    assert (await run_registry_job(world))["expired"] == 2
    for user in ("lapsing", "city", "district"):
        seen = await operator_view(world, user, lapsing["id"])
        assert (seen["registry_status"], seen["registry_status_label"]) == ("expired", "过期"), user
    assert (await directory(world))["total"] == 0
    listed_filter = await world.get("city", "/api/v1/operators", params={"status": "expired", "limit": 50})
    assert sorted(o["name"] for o in listed_filter.json()["items"]) == ["仍在库企业", "到期未续企业"]

    # Nobody sets or undoes 'expired' by hand.
    for status in ("expired", "warned"):
        refused = await world.post(
            "city", f"/api/v1/operators/{lapsing['id']}/status", json={"status": status, "reason": "手工调整"}
        )
        assert refused.status_code == 409 and refused.json()["code"] == "operator.status_change_invalid"

    # An expired operator cannot sign a contract.
    target = await community(world, "street_x", "江滨社区")
    draft = await world.post(
        "street_x",
        "/api/v1/contracts",
        json={
            "community_id": target["id"],
            "operator_id": lapsing["id"],
            "categories": ["childcare"],
            "starts_on": "2029-01-01",
            "ends_on": "2031-01-01",
            "annual_fee": 1_000_000,
        },
    )
    assert draft.status_code == 409 and draft.json()["detail"]["registry_status"] == "expired"

    # The next night changes nothing more.
    frozen_clock.advance(days=1)
    assert (await run_registry_job(world))["expired"] == 0

    renewal = await world.post(
        "lapsing",
        "/api/v1/applications",
        json={"operator_id": lapsing["id"], "channel": "self", "categories": ["childcare"], "statement": "续期申请"},
    )
    assert renewal.status_code == 201, renewal.text
    assert (await world.post("lapsing", f"/api/v1/applications/{renewal.json()['id']}/submit")).status_code == 200
    await approve(world, renewal.json()["id"])
    await publish_batch(world, frozen_clock, [renewal.json()["id"]], title="续期批次")
    back = await operator_view(world, "lapsing", lapsing["id"])
    assert (back["registry_status"], back["registry_status_label"]) == ("listed", "在库")
    assert [o["name"] for o in (await directory(world))["items"]] == ["到期未续企业"]
    signed = await contract(
        world, "street_x", target["id"], lapsing["id"], starts_on="2029-01-01", ends_on="2030-01-01"
    )
    assert signed["status"] == "active"


async def test_an_operator_never_listed_does_not_expire(world, frozen_clock):
    from tests.providers.helpers import register_operator

    waiting = await register_operator(world, "未入库企业", "never")
    await submitted_self_application(world, "never", waiting["id"])
    frozen_clock.advance(days=365 * 3)
    assert (await run_registry_job(world))["expired"] == 0
    assert (await operator_view(world, "never", waiting["id"]))["registry_status"] == "unlisted"
