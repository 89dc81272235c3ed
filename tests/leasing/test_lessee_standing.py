"""A lessee suspended or removed from the registry: each of its active leases is flagged for its street to
decide, once per status, and the flag resolves when the lease ends or the lessee is back in good standing."""

from __future__ import annotations

from scheduler import engine
from scheduler.jobs import job_named
from tests.leasing.helpers import lease, space
from tests.market.helpers import listed_operators


async def flags(world, user: str = "street_x", **params) -> list[dict]:
    response = await world.get(user, "/api/v1/flags", params={"kind": "lessee_standing", **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def set_status(world, operator_id: int, status: str, reason: str) -> None:
    response = await world.post(
        "city", f"/api/v1/operators/{operator_id}/status", json={"status": status, "reason": reason}
    )
    assert response.status_code in (200, 201), response.text


async def test_each_active_lease_of_a_suspended_lessee_is_flagged_for_its_street_to_decide(world, frozen_clock):
    operators = await listed_operators(
        world, frozen_clock, {"tot": {"name": "小橙托育", "categories": ("childcare",)}, "fine": {}}
    )
    room = await space(world)
    other = await space(world, community_id=room["community_id"], address="江滨路 9 号")
    third = await space(world, community_id=room["community_id"], address="江滨路 10 号")
    first = await lease(world, room["id"], operators["tot"]["id"], starts_on="2026-09-01", ends_on="2027-09-01")
    second = await lease(world, other["id"], operators["tot"]["id"], starts_on="2026-10-01", ends_on="2028-10-01")
    await lease(world, third["id"], operators["fine"]["id"], starts_on="2026-10-01", ends_on="2028-10-01")
    job = job_named("lessee_standing")

    await engine.run_due(job)
    assert await flags(world) == []  # everyone in good standing

    await set_status(world, operators["tot"]["id"], "suspended", "发生安全事故，暂停整改")
    frozen_clock.advance(days=1)
    await engine.run_due(job)
    raised = await flags(world)
    assert sorted((f["subject_id"], f["mark"], f["severity"]) for f in raised) == [
        (first["id"], "suspended", "critical"),
        (second["id"], "suspended", "critical"),
    ]
    assert all("小橙托育" in f["title"] and "继续履约至期满或终止租约" in f["title"] for f in raised)
    assert await flags(world, "street_y") == []  # only the street the community belongs to

    frozen_clock.advance(days=1)
    await engine.run_due(job)
    assert len(await flags(world)) == 2  # asked once per lease and status

    # The street decides: one lease is terminated with a reason, the other continues to its term end.
    terminated = await world.post(
        "street_x", f"/api/v1/leases/{first['id']}/terminate", json={"reason": "承租方被暂停，终止租约"}
    )
    assert terminated.status_code == 200, terminated.text
    continued = next(f for f in await flags(world) if f["subject_id"] == second["id"])
    kept = await world.post("street_x", f"/api/v1/flags/{continued['id']}/resolve", json={"reason": "继续履约至期满"})
    assert kept.status_code in (200, 201), kept.text

    frozen_clock.advance(days=1)
    await engine.run_due(job)
    assert await flags(world) == []  # the terminated lease's flag resolved by itself
    resolved = await flags(world, state="resolved")
    assert {f["subject_id"] for f in resolved} == {first["id"], second["id"]}

    # Removed after the suspension: a new question for the lease still running.
    await set_status(world, operators["tot"]["id"], "removed", "整改不到位，移出名录")
    frozen_clock.advance(days=1)
    await engine.run_due(job)
    assert [(f["subject_id"], f["mark"]) for f in await flags(world)] == [(second["id"], "removed")]
