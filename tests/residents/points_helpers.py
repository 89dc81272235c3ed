"""Building blocks for the points tests: a community with an operator under contract and two residents,
activities whose hours the street confirms, point-priced services."""

from __future__ import annotations

from datetime import timedelta

from tests.market.helpers import contract
from tests.residents.helpers import confirm, poll_scene, sign_up


async def scene(world, frozen_clock) -> dict:
    """Community X with operator A under contract, and two residents of confirmed households."""
    found = await poll_scene(world, frozen_clock)
    cx = found["community"]["id"]
    await contract(world, "street_x", cx, found["operators"]["op_a"]["id"])
    wang = await sign_up(world, "wang", cx, phone="13700000001", room="101")
    li = await sign_up(world, "li", cx, phone="13700000002", room="102")
    for resident in (wang, li):
        await confirm(world, resident["household_id"])
    return {**found, "cx": cx, "wang": wang, "li": li}


def activity_body(s: dict, frozen_clock, **overrides) -> dict:
    now = frozen_clock()
    return {
        "community_id": s["cx"],
        "title": "江滨社区环境整治志愿服务",
        "kind": "ordinary",
        "starts_at": (now - timedelta(hours=2)).isoformat(),
        "ends_at": (now + timedelta(days=1)).isoformat(),
        "points_per_hour": 10,
        **overrides,
    }


async def earn(world, s: dict, frozen_clock, who: str, hours: str, **overrides) -> dict:
    """`who` signs up for a new activity and street X confirms `hours`."""
    activity = await world.post(
        "street_x", "/api/v1/points/activities", json=activity_body(s, frozen_clock, **overrides)
    )
    assert activity.status_code == 201, activity.text
    signup = await world.post(who, f"/api/v1/points/activities/{activity.json()['id']}/signups")
    assert signup.status_code == 201, signup.text
    confirmed = await world.post(
        "street_x", f"/api/v1/points/signups/{signup.json()['id']}/confirm", json={"hours": hours}
    )
    assert confirmed.status_code == 200, confirmed.text
    return confirmed.json()


def service_body(s: dict, frozen_clock, **overrides) -> dict:
    now = frozen_clock()
    return {
        "community_id": s["cx"],
        "title": "上门助浴一次",
        "price_points": 20,
        "capacity": 5,
        "opens_at": now.isoformat(),
        "closes_at": (now + timedelta(days=30)).isoformat(),
        **overrides,
    }


async def publish(world, s: dict, frozen_clock, **overrides) -> dict:
    response = await world.post("op_a", "/api/v1/points/services", json=service_body(s, frozen_clock, **overrides))
    assert response.status_code == 201, response.text
    return response.json()
