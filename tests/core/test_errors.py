"""Bad input gets a 4xx body of one shape and writes nothing."""

from __future__ import annotations

import re

import pytest
from piccolo.engine import engine_finder


async def _counts() -> tuple[int, int, int]:
    rows = await engine_finder().run_ddl(
        "SELECT (SELECT count(*) FROM account_user) AS users, (SELECT count(*) FROM organisation) AS orgs, "
        "(SELECT count(*) FROM audit_log) AS audits"
    )
    return rows[0]["users"], rows[0]["orgs"], rows[0]["audits"]


def _assert_error_shape(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "detail"}
    assert body["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"]), "message is for people, in Chinese"


def _user_payload(world, **overrides):
    payload = {
        "username": "new_street_clerk",
        "password": "long-enough-pass",
        "email": "clerk@example.org",
        "display_name": "街道办文员",
        "grants": [{"role": "street", "org_id": world.org_id("street_x")}],
    }
    payload.update(overrides)
    return payload


BAD_BODIES = [
    ("malformed json", b'{"username": "x",', 400, "request.malformed"),
    ("not an object", b"[1, 2, 3]", 422, "request.validation_failed"),
    ("empty body", b"", 422, "request.validation_failed"),
]


@pytest.mark.parametrize("label,body,status,code", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
async def test_undecodable_bodies(world, label, body, status, code):
    before = await _counts()
    response = await world.client.post(
        "/api/v1/users", content=body, headers={**world.headers("city"), "content-type": "application/json"}
    )
    _assert_error_shape(response, status, code)
    assert await _counts() == before


async def test_unknown_field_is_400_and_writes_nothing(world):
    before = await _counts()
    response = await world.post("city", "/api/v1/users", json=_user_payload(world, is_superuser=True))
    _assert_error_shape(response, 400, "request.unknown_field")
    assert await _counts() == before


@pytest.mark.parametrize(
    "overrides",
    [
        {"username": 12345},
        {"grants": "street"},
        {"grants": [{"role": "emperor", "org_id": 1}]},
        {"grants": [{"role": "street", "org_id": "one"}]},
        {"email": "not-an-email"},
        {"grants": []},
    ],
    ids=["int-username", "grants-not-list", "unknown-role", "org-id-string", "bad-email", "no-grants"],
)
async def test_wrong_types_are_422_and_write_nothing(world, overrides):
    before = await _counts()
    response = await world.post("city", "/api/v1/users", json=_user_payload(world, **overrides))
    _assert_error_shape(response, 422, "request.validation_failed")
    assert await _counts() == before


async def test_rule_violation_midway_leaves_nothing_half_written(world):
    """The second grant is invalid (a street role on a district): no user, no first grant, no audit row."""
    before = await _counts()
    grants = [
        {"role": "street", "org_id": world.org_id("street_x")},
        {"role": "street", "org_id": world.org_id("district_a")},
    ]
    response = await world.post("city", "/api/v1/users", json=_user_payload(world, grants=grants))
    _assert_error_shape(response, 422, "user.role_org_mismatch")
    assert await _counts() == before


async def test_bad_query_parameters_are_4xx(world):
    response = await world.get("city", "/api/v1/orgs", params={"limit": 100000})
    _assert_error_shape(response, 422, "request.validation_failed")
    response = await world.get("city", "/api/v1/orgs", params={"limit": "lots"})
    _assert_error_shape(response, 422, "request.validation_failed")


async def test_unknown_route_and_method(world):
    _assert_error_shape(await world.get("city", "/api/v1/nothing-here"), 404, "not_found")
    _assert_error_shape(await world.client.delete("/health"), 405, "method_not_allowed")


async def test_duplicate_username_is_409(world):
    first = await world.post("city", "/api/v1/users", json=_user_payload(world))
    assert first.status_code == 201, first.text
    before = await _counts()
    again = await world.post("city", "/api/v1/users", json=_user_payload(world, email="other@example.org"))
    _assert_error_shape(again, 409, "user.username_taken")
    assert await _counts() == before


def _chinese_without_english(message: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in message) and not re.search(r"Expected|Object|Invalid|got", message)


@pytest.mark.parametrize(
    "body,field,says",
    [
        ({"username": 12345}, "$.username", "应为字符串"),
        ({"username": "ab"}, "$.username", "长度"),
        ({"email": "not-an-email"}, "$.email", "格式"),
        ({"grants": "street"}, "$.grants", "应为列表"),
        ({"grants": []}, "$.grants", "长度"),
        ({"grants": [{"role": "street", "org_id": "one"}]}, "$.grants[0].org_id", "应为整数"),
        ({"grants": [{"role": "emperor", "org_id": 1}]}, "$.grants[0].role", "应为以下之一：operator、street"),
        ({"grants": [{"role": "street"}]}, "$.grants[0].org_id", "缺少必填字段 org_id"),
        ({"username": None}, "$.username", "应为字符串"),
    ],
    ids=["type", "length", "pattern", "list", "list-length", "nested-type", "enum", "nested-missing", "null"],
)
async def test_every_validation_error_names_its_field_in_chinese(world, body, field, says):
    response = await world.post("city", "/api/v1/users", json=_user_payload(world, **body))
    _assert_error_shape(response, 422, "request.validation_failed")
    answer = response.json()
    assert answer["detail"]["field"] == field
    assert says in answer["message"] and _chinese_without_english(answer["message"])
    assert all(p["field"] and _chinese_without_english(p["message"]) for p in answer["detail"]["problems"])


async def test_a_missing_field_is_named_not_data(world):
    payload = _user_payload(world)
    del payload["email"]
    response = await world.post("city", "/api/v1/users", json=payload)
    _assert_error_shape(response, 422, "request.validation_failed")
    assert response.json()["detail"]["field"] == "$.email"
    assert response.json()["message"] == "缺少必填字段 email"


async def test_an_empty_body_says_so(world):
    response = await world.client.post(
        "/api/v1/users", content=b"", headers={**world.headers("city"), "content-type": "application/json"}
    )
    _assert_error_shape(response, 422, "request.validation_failed")
    assert response.json()["message"] == "请求体不能为空" and response.json()["detail"]["field"] == "$"


async def test_an_unknown_field_is_named(world):
    response = await world.post("city", "/api/v1/users", json=_user_payload(world, is_superuser=True))
    _assert_error_shape(response, 400, "request.unknown_field")
    assert response.json()["detail"]["field"] == "$.is_superuser"


async def test_query_parameters_are_named_as_the_client_sends_them(world):
    response = await world.get("city", "/api/v1/job-runs", params={"status": "zz"})
    _assert_error_shape(response, 422, "request.validation_failed")
    assert response.json()["detail"]["field"] == "status" and "status_filter" not in response.text
    assert response.json()["message"] == "status：应为以下之一：running、succeeded、failed"
    response = await world.get("city", "/api/v1/orgs", params={"limit": "lots"})
    assert response.json()["detail"]["field"] == "limit" and response.json()["message"] == "limit：应为整数"
    response = await world.get("city", "/api/v1/orgs", params={"limit": 100000})
    assert response.json()["detail"]["field"] == "limit" and "不超过 200" in response.json()["message"]
