"""A listing's renewal reminder reaches the operator and its recommender, and goes when the renewal is out."""

from __future__ import annotations

from scheduler import engine
from scheduler.jobs import job_named
from tests.providers.helpers import approve, publish_batch, register_operator, submitted_self_application


async def renewal_flags(world, user: str, state: str = "open") -> list[dict]:
    response = await world.get(user, "/api/v1/flags", params={"kind": "listing_renewal", "state": state})
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_listing_renewal_flag_is_seen_by_operator_and_recommender_and_resolves_on_publication(
    world, frozen_clock
):
    operator = await register_operator(world, "推荐入库企业", "recommended_op", categories=("elderly",))
    recommended = await world.post(
        "district",
        "/api/v1/applications",
        json={"operator_id": operator["id"], "channel": "recommended", "categories": ["elderly"], "statement": "推荐"},
    )
    assert recommended.status_code == 201, recommended.text
    assert (await world.post("district", f"/api/v1/applications/{recommended.json()['id']}/submit")).status_code == 200
    await approve(world, recommended.json()["id"])
    await publish_batch(world, frozen_clock, [recommended.json()["id"]])  # listed until 2028-12-01

    frozen_clock.advance(days=684)  # 2028-10-15: 47 days left
    await engine.run_due(job_named("renewal_flags"))
    [flag] = await renewal_flags(world, "city")
    assert flag["mark"] == "60" and "推荐入库企业" in flag["title"]
    # The operator itself and the district that recommended it see it; others do not.
    assert [f["id"] for f in await renewal_flags(world, "recommended_op")] == [flag["id"]]
    assert [f["id"] for f in await renewal_flags(world, "district")] == [flag["id"]]
    for other in ("district_b", "street_x", "operator_a"):
        assert await renewal_flags(world, other) == [], other
    # Seeing is not working on it: the operator cannot resolve its own reminder.
    resolve = await world.post("recommended_op", f"/api/v1/flags/{flag['id']}/resolve", json={"reason": "已办理"})
    assert resolve.status_code == 403

    renewal = await submitted_self_application(world, "recommended_op", operator["id"], ("elderly",))
    await approve(world, renewal)
    # Nothing is renewed until the batch is published.
    assert len(await renewal_flags(world, "recommended_op")) == 1
    await publish_batch(world, frozen_clock, [renewal], title="续期批次")
    assert await renewal_flags(world, "recommended_op") == []
    [resolved] = await renewal_flags(world, "district", state="resolved")
    assert resolved["id"] == flag["id"] and resolved["resolution"] == "续期已发布入库"
