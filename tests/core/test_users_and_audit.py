from __future__ import annotations

import asyncpg
import pytest
from piccolo.engine import engine_finder

from tests.world import login


def _new_user(world, org_key: str, role: str = "street", username: str = "new_clerk"):
    return {
        "username": username,
        "password": "long-enough-pass",
        "email": f"{username}@example.org",
        "display_name": "新文员",
        "grants": [{"role": role, "org_id": world.org_id(org_key)}],
    }


async def test_admin_created_user_is_audited_and_can_log_in(world):
    response = await world.post("city", "/api/v1/users", json=_new_user(world, "street_x"))
    assert response.status_code == 201, response.text
    user_id = response.json()["id"]

    audit = await world.get("city", "/api/v1/audit", params={"entity_type": "user", "entity_id": str(user_id)})
    assert audit.status_code == 200
    [entry] = audit.json()["items"]
    assert entry["action"] == "user.create"
    assert entry["actor_id"] == world.user_ids["city"]
    assert entry["before"] is None
    assert entry["after"]["username"] == "new_clerk"
    assert entry["after"]["grants"][0]["org_name"] == "富春街道"
    assert "password" not in str(entry["after"])

    assert (await login(world.client, "new_clerk", "long-enough-pass")).status_code == 200


async def test_street_official_creates_users_only_in_its_street(world):
    ok = await world.post("street_x", "/api/v1/users", json=_new_user(world, "street_x"))
    assert ok.status_code == 201
    other = await world.post("street_x", "/api/v1/users", json=_new_user(world, "street_y", username="spy"))
    assert other.status_code == 404  # street Y does not exist as far as street X can tell


async def test_only_the_city_grants_city_or_auditor_roles(world):
    response = await world.post(
        "district", "/api/v1/users", json=_new_user(world, "city", role="city", username="usurper")
    )
    assert response.status_code in (403, 404)
    response = await world.post(
        "city", "/api/v1/users", json=_new_user(world, "city", role="auditor", username="new_auditor")
    )
    assert response.status_code == 201


@pytest.mark.parametrize("user", ["operator_a", "auditor", "owner"])
async def test_non_officials_cannot_create_users(world, user):
    response = await world.post(
        user, "/api/v1/users", json=_new_user(world, "operator_a", role="operator", username="colleague")
    )
    assert response.status_code in (403, 404)
    assert (await world.get("city", "/api/v1/users", params={"q": "colleague"})).json()["total"] == 0


@pytest.mark.parametrize("user", ["street_x", "operator_a", "district"])
async def test_audit_log_is_for_city_and_auditors(world, user):
    assert (await world.get(user, "/api/v1/audit")).status_code == 403
    assert (await world.get("auditor", "/api/v1/audit")).status_code == 200


async def test_org_creation_is_scoped_and_audited(world):
    response = await world.post(
        "street_x", "/api/v1/orgs", json={"name": "新社区", "kind": "community", "parent_id": world.org_id("street_x")}
    )
    assert response.status_code == 201, response.text
    assert response.json()["path"].startswith(world.orgs["street_x"].path)
    elsewhere = await world.post(
        "street_x",
        "/api/v1/orgs",
        json={"name": "越界社区", "kind": "community", "parent_id": world.org_id("street_y")},
    )
    assert elsewhere.status_code == 403
    wrong_parent = await world.post(
        "city", "/api/v1/orgs", json={"name": "错层社区", "kind": "community", "parent_id": world.org_id("city")}
    )
    assert wrong_parent.status_code == 422 and wrong_parent.json()["code"] == "org.invalid_parent"
    no_parent = await world.post(
        "city", "/api/v1/orgs", json={"name": "无主社区", "kind": "community", "parent_id": 999_999}
    )
    assert no_parent.status_code == 404 and no_parent.json()["code"] == "org.not_found"
    audit = await world.get(
        "city", "/api/v1/audit", params={"action": "org.create", "entity_id": str(response.json()["id"])}
    )
    assert audit.json()["items"][0]["actor_name"] == "street_x"


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET reason = 'edited'", "DELETE FROM audit_log"])
async def test_audit_rows_cannot_be_changed_even_in_sql(world, statement):
    await world.post("city", "/api/v1/users", json=_new_user(world, "street_x"))
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await engine_finder().run_ddl(statement)
    rows = await engine_finder().run_ddl("SELECT count(*) AS n, min(reason) AS reason FROM audit_log")
    assert rows[0]["n"] > 0 and rows[0]["reason"] != "edited"
