"""Building blocks for registry tests: operator profiles and a whole application → listing path."""

from __future__ import annotations

import random

from providers.credit_code import make_credit_code

_rng = random.Random(20261123)


def operator_payload(world, name: str, *, categories=("childcare",), districts=("district_a",), **extra) -> dict:
    payload = {
        "name": name,
        "credit_code": make_credit_code(_rng),
        "legal_representative": "张三",
        "contact_name": "李四",
        "contact_phone": "0571-88888888",
        "contact_email": f"{abs(hash(name)) % 10**8}@operator.example.org",
        "categories": list(categories),
        "district_ids": [world.org_id(d) for d in districts],
        "capacity": 3,
        "staff_count": 40,
    }
    payload.update(extra)
    return payload


async def register_operator(world, name: str, username: str, **kwargs) -> dict:
    """A company registers itself (public endpoint) and logs in; returns the profile, token kept in world."""
    from tests.world import login

    payload = {**operator_payload(world, name, **kwargs), "username": username, "password": "operator-pass-1"}
    response = await world.client.post("/api/v1/public/operator-registrations", json=payload)
    assert response.status_code == 201, response.text
    token = (await login(world.client, username, "operator-pass-1")).json()["access_token"]
    world.tokens[username] = token
    return response.json()


async def submitted_self_application(world, username: str, operator_id: int, categories=("childcare",)) -> int:
    created = await world.post(
        username,
        "/api/v1/applications",
        json={
            "operator_id": operator_id,
            "channel": "self",
            "categories": list(categories),
            "statement": "我们运营托育机构五年，服务社区二十个。",
        },
    )
    assert created.status_code == 201, created.text
    application_id = created.json()["id"]
    submitted = await world.post(username, f"/api/v1/applications/{application_id}/submit")
    assert submitted.status_code == 200, submitted.text
    return application_id


async def approve(world, application_id: int) -> None:
    response = await world.post(
        "city",
        f"/api/v1/applications/{application_id}/decision",
        json={"decision": "approve", "reason": "材料齐全，业绩符合要求"},
    )
    assert response.status_code == 200, response.text


async def publish_batch(world, frozen_clock, application_ids: list[int], title: str = "2026年第二批") -> dict:
    batch = (await world.post("city", "/api/v1/batches", json={"title": title})).json()
    response = await world.post(
        "city", f"/api/v1/batches/{batch['id']}/entries", json={"application_ids": application_ids}
    )
    assert response.status_code == 200, response.text
    response = await world.post("city", f"/api/v1/batches/{batch['id']}/notice", json={})
    assert response.status_code == 200, response.text
    frozen_clock.advance(days=8)  # five working days
    response = await world.post("city", f"/api/v1/batches/{batch['id']}/publish")
    assert response.status_code == 200, response.text
    return response.json()


async def listed_operator(world, frozen_clock, name: str, username: str, **kwargs) -> dict:
    operator = await register_operator(world, name, username, **kwargs)
    application_id = await submitted_self_application(
        world, username, operator["id"], kwargs.get("categories", ("childcare",))
    )
    await approve(world, application_id)
    await publish_batch(world, frozen_clock, [application_id], title=f"{name}批次")
    return operator


async def directory(world, **params) -> dict:
    response = await world.client.get("/api/v1/public/operators", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return response.json()
