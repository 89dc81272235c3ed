"""What a new user sees first: health, the API document, the admin, the demo data."""

from __future__ import annotations

import re

import httpx
from piccolo.engine import engine_finder

from core.demo import DEMO_ACCOUNTS, load_demo
from core.settings import get_settings


async def test_health_reports_the_database(client):
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_openapi_document_is_served_with_an_operation_id_on_every_route(client):
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    for path, operations in response.json()["paths"].items():
        for method, operation in operations.items():
            assert operation.get("operationId"), f"{method} {path} has no operationId"


async def test_every_route_in_the_api_document_has_a_chinese_summary_and_a_tag(client):
    document = (await client.get("/schema/openapi.json")).json()
    lacking = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in ("get", "post", "put", "patch", "delete")
        and not (re.search(r"[\u4e00-\u9fff]", operation.get("summary") or "") and operation.get("tags"))
    ]
    assert lacking == [], f"routes without a Chinese summary or a tag: {lacking}"


async def test_admin_login_page_is_served(client):
    response = await client.get("/admin/", follow_redirects=True)
    assert response.status_code == 200
    assert "<html" in response.text.lower()


async def _admin_login(client: httpx.AsyncClient, username: str, password: str) -> int:
    csrf = (await client.get("/admin/", follow_redirects=True)).cookies.get("csrftoken", "")
    response = await client.post(
        "/admin/public/login/",
        json={"username": username, "password": password},
        headers={"X-CSRFToken": csrf, "Origin": "http://testserver"},
        cookies={"csrftoken": csrf},
    )
    return response.status_code


async def test_admin_opens_only_for_city_staff(world):
    assert await _admin_login(world.client, "city", "correct-horse-battery") == 200
    assert await _admin_login(world.client, "street_x", "correct-horse-battery") in (401, 403)
    assert await _admin_login(world.client, "operator_a", "correct-horse-battery") in (401, 403)


async def _count(table: str) -> int:
    return (await engine_finder().run_ddl(f"SELECT count(*) AS n FROM {table}"))[0]["n"]


async def test_demo_data_loads_once(client):
    await load_demo()
    counts = {t: await _count(t) for t in ("organisation", "account_user", "role_grant", "audit_log")}
    await load_demo()
    assert {t: await _count(t) for t in counts} == counts

    communities = await engine_finder().run_ddl(
        "SELECT c.name FROM organisation c JOIN organisation s ON s.id = c.parent "
        "JOIN organisation d ON d.id = s.parent WHERE c.kind = 'community' AND d.name = '富阳区'"
    )
    assert len(communities) == 17
    assert {"杭黄社区", "东吴社区", "梓树花苑"} <= {c["name"] for c in communities}
    assert await _count("organisation WHERE kind = 'district'") == 13

    for account in DEMO_ACCOUNTS:
        response = await client.post(
            "/api/v1/auth/login", json={"username": account.username, "password": get_settings().demo_password}
        )
        assert response.status_code == 200, account.username


async def test_demo_registry_has_every_state_two_batches_and_a_suspension(client):
    await load_demo()
    states = {r["state"] for r in await engine_finder().run_ddl("SELECT DISTINCT state FROM provider_application")}
    assert states == {"draft", "submitted", "under_review", "approved", "rejected", "returned"}
    batches = await engine_finder().run_ddl("SELECT title FROM provider_batch WHERE state = 'published'")
    assert len(batches) == 2
    assert await _count("provider_operator") >= 60
    assert await _count("provider_operator WHERE registry_status = 'suspended'") == 1
    assert await _count("provider_evaluation") > 0
    # Each contract in force last quarter has its computed evaluation, with the parts behind its score.
    assert await _count("provider_evaluation WHERE kind = 'computed' AND parts ? 'reports_on_time'") > 0
    directory = (await client.get("/api/v1/public/operators", params={"limit": 200})).json()
    assert directory["total"] >= 40
    categories = {c for o in directory["items"] for c in o["categories"]}
    assert len(categories) == 9
