"""Building blocks for market tests: listed operators, community files, needs and contracts."""

from __future__ import annotations

from tests.providers.helpers import approve, publish_batch, register_operator, submitted_self_application


async def listed_operators(world, frozen_clock, specs: dict[str, dict], title: str = "2026年第二批") -> dict[str, dict]:
    """Register, approve and publish several operators in one batch. specs: username → operator fields."""
    operators, application_ids = {}, []
    for username, fields in specs.items():
        fields = dict(fields)
        name = fields.pop("name", f"{username}运营有限公司")
        operator = await register_operator(world, name, username, **fields)
        application_ids.append(
            await submitted_self_application(world, username, operator["id"], fields.get("categories", ("childcare",)))
        )
        await approve(world, application_ids[-1])
        operators[username] = operator
    await publish_batch(world, frozen_clock, application_ids, title=title)
    return operators


def community_payload(world, street: str, name: str, **overrides) -> dict:
    payload = {
        "name": name,
        "street_id": world.org_id(street),
        "community_type": "renovation",
        "tier": "inclusive",
        "pool": "creation",
        "creation_level": "joint",
        "planned_start": "2025-03-01",
        "planned_finish": "2026-06-01",
        "area_hectares": "21.50",
        "households": 3200,
        "elderly_share": "0.2150",
        "children_share": "0.0900",
        "status": "operating",
    }
    payload.update(overrides)
    return payload


async def community(world, street: str, name: str, user: str | None = None, **overrides) -> dict:
    response = await world.post(
        user or street, "/api/v1/communities", json=community_payload(world, street, name, **overrides)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def need(world, user: str, community_id: int, category: str, **extra) -> dict:
    response = await world.post(
        user, f"/api/v1/communities/{community_id}/needs", json={"category": category, "text": "需要专业运营", **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def contract(
    world, user: str, community_id: int, operator_id: int, categories=("childcare",), *, sign: bool = True, **extra
) -> dict:
    payload = {
        "community_id": community_id,
        "operator_id": operator_id,
        "categories": list(categories),
        "starts_on": "2026-01-01",
        "ends_on": "2029-01-01",
        "annual_fee": 60_000_000,
        **extra,
    }
    response = await world.post(user, "/api/v1/contracts", json=payload)
    assert response.status_code == 201, response.text
    if not sign:
        return response.json()
    signed = await world.post(user, f"/api/v1/contracts/{response.json()['id']}/sign")
    assert signed.status_code == 200, signed.text
    return signed.json()
