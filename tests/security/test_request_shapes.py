"""What every operation answers for the shape of a request, whatever its rules: a body over the size limit
(413), a path id no record can have (422), a query parameter of the wrong type (422).

The operations come from our OpenAPI document and each is called by a role the authorisation matrix allows,
so a new operation is covered without a new test. Every answer is our error body with its stable code.
"""

from __future__ import annotations

import itertools
import json
import re

from core.settings import get_settings
from tests.security.test_authorisation_matrix import (
    BUILDERS,
    OK,
    ROLES,
    USERS,
    build_scene,
    default_call,
    expectations,
)

METHODS = ("get", "post", "put", "patch", "delete")
BEYOND_BIGINT = 2**63  # no integer column holds it


def operations(app) -> list[tuple[str, str, dict]]:
    document = app.openapi_schema.to_schema()
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


# Operations served only to a role outside the matrix's columns, and the world's user of that role.
OUTSIDE_THE_MATRIX = {("POST", "/api/v1/surveys/{survey_id}/offline-uploads"): "surveyor"}


def allowed_user(method: str, path: str) -> str:
    """A logged-in user the matrix lets call the operation."""
    if (method, path) in OUTSIDE_THE_MATRIX:
        return OUTSIDE_THE_MATRIX[(method, path)]
    cells = expectations((method, path))
    return next(USERS[role] for role in ROLES if role != "anon" and cells[role] == OK)


def with_value(template: str, url: str, name: str, value: int) -> str:
    """`url`, a path of `template`, with its parameter `name` replaced by `value`."""
    pattern = "".join(
        f"(?P<{part}>[^/]+)" if odd else re.escape(part)
        for odd, part in zip(itertools.cycle((False, True)), re.split(r"\{(\w+)\}", template))
    )
    values = {**re.fullmatch(pattern, url.split("?")[0]).groupdict(), name: value}
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), template)


def declares(operation: dict, status: int) -> bool:
    return str(status) in operation["responses"]


def bad_value(schema: dict) -> str | None:
    """A query value the parameter's type cannot take, or None if it takes any text."""
    schema = next((s for s in schema.get("oneOf", []) if s.get("type") != "null"), schema)
    if "enum" in schema:
        return "不存在的取值"
    return {"integer": "十二", "number": "很多", "boolean": "也许"}.get(schema.get("type")) or (
        "2026-13-45" if schema.get("format") in ("date", "date-time") else None
    )


def error_code(response) -> str:
    body = response.json()
    assert set(body) == {"code", "message", "detail"} and body["message"], body
    return body["code"]


async def answers_to_every_body(app, world, scene, content: bytes) -> dict[str, tuple[int, str]]:
    """Every operation that takes a body, called by a role allowed to, with `content` as its body."""
    answers = {}
    for method, path, operation in operations(app):
        if "requestBody" not in operation:
            continue
        user = allowed_user(method, path)
        call = await BUILDERS.get((method, path), default_call)(scene, path)
        response = await world.client.request(
            method,
            call.path,
            content=content,
            headers={**(world.headers(user) if user else {}), "Content-Type": "application/json"},
        )
        answers[f"{method} {path} as {user}"] = (response.status_code, error_code(response))
    assert len(answers) > 40
    return answers


async def test_every_body_over_the_size_limit_is_refused_before_it_is_read(app, world, frozen_clock):
    oversized = b'{"name": "' + b"x" * get_settings().request_max_body_bytes + b'"}'
    answers = await answers_to_every_body(app, world, await build_scene(world, frozen_clock), oversized)
    assert {where: answer for where, answer in answers.items() if answer != (413, "request.too_large")} == {}


async def test_every_path_id_beyond_any_record_is_422_not_a_server_error(app, world, frozen_clock):
    scene = await build_scene(world, frozen_clock)
    answers = {}
    for method, path, operation in operations(app):
        ids = [
            p["name"]
            for p in operation.get("parameters", [])
            if p["in"] == "path" and p["schema"].get("type") == "integer"
        ]
        if not ids or not declares(operation, 422):
            continue
        user = allowed_user(method, path)
        # A request the role may send, with a valid body where there is one, aimed at an id out of range.
        call = await BUILDERS.get((method, path), default_call)(scene, path)
        for name in ids:
            response = await world.client.request(
                method,
                with_value(path, call.path, name, BEYOND_BIGINT),
                json=call.json,
                content=call.content,
                headers=world.headers(user),
            )
            answers[f"{method} {path} ({name}) as {user}"] = (response.status_code, error_code(response))
    assert len(answers) > 50
    assert {where: answer for where, answer in answers.items() if answer != (422, "request.value_out_of_range")} == {}


async def test_every_query_parameter_of_the_wrong_type_is_422_with_the_parameter_named(app, world, frozen_clock):
    scene = await build_scene(world, frozen_clock)
    answers = {}
    for method, path, operation in operations(app):
        user = allowed_user(method, path)
        call = await BUILDERS.get((method, path), default_call)(scene, path)
        for parameter in operation.get("parameters", []):
            value = bad_value(parameter["schema"]) if parameter["in"] == "query" else None
            if value is None:
                continue
            response = await world.client.request(
                method,
                call.path.split("?")[0],
                params={parameter["name"]: value},
                json=call.json,
                content=call.content,
                headers=world.headers(user) if user else {},
            )
            answers[f"{method} {path}?{parameter['name']} as {user}"] = (
                response.status_code,
                error_code(response),
                parameter["name"] in response.text,
            )
    assert len(answers) > 30
    assert {
        where: answer for where, answer in answers.items() if answer != (422, "request.validation_failed", True)
    } == {}


async def test_every_body_that_is_not_the_documented_object_is_422(app, world, frozen_clock):
    a_list = json.dumps(["一个", "列表"]).encode()
    answers = await answers_to_every_body(app, world, await build_scene(world, frozen_clock), a_list)
    assert {where: answer for where, answer in answers.items() if answer != (422, "request.validation_failed")} == {}


async def test_every_nul_character_is_refused_with_its_field_named(app, world, frozen_clock):
    """PostgreSQL text cannot hold NUL: a string with one, in a body or a query, is refused before the database."""
    scene = await build_scene(world, frozen_clock)
    answers = {}
    for method, path, operation in operations(app):
        user = allowed_user(method, path)
        call = await BUILDERS.get((method, path), default_call)(scene, path)
        headers = world.headers(user) if user else {}
        texts = [k for k, v in call.json.items() if isinstance(v, str)] if isinstance(call.json, dict) else []
        if texts:
            response = await world.client.request(
                method, call.path, headers=headers, json={**call.json, texts[0]: "甲\x00乙"}
            )
            answers[f"{method} {path} body {texts[0]}"] = (
                response.status_code,
                error_code(response),
                response.json()["detail"]["field"] == f"$.{texts[0]}",
            )
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query" or bad_value(parameter["schema"]) is not None:
                continue
            response = await world.client.request(
                method,
                call.path.split("?")[0],
                headers=headers,
                params={parameter["name"]: "甲\x00乙"},
                json=call.json,
                content=call.content,
            )
            answers[f"{method} {path}?{parameter['name']}"] = (
                response.status_code,
                error_code(response),
                response.json()["detail"]["field"] == parameter["name"],
            )
    assert len(answers) > 30
    assert {
        where: answer for where, answer in answers.items() if answer != (422, "request.invalid_character", True)
    } == {}


def enum_schemas(node, where: str = ""):
    """Every schema in the document that lists allowed values, with where it is."""
    if isinstance(node, dict):
        if "enum" in node:
            yield where, node
        for key, value in node.items():
            yield from enum_schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from enum_schemas(value, f"{where}[{i}]")


def test_every_enum_is_documented_with_its_chinese_labels(app):
    document = app.openapi_schema.to_schema()
    unlabelled = {
        where: schema["enum"]
        for where, schema in enum_schemas(document)
        if set(schema.get("x-enum-labels", {})) != {v for v in schema["enum"] if v is not None}
        or not all(re.search("[\u4e00-\u9fff]", label) for label in schema["x-enum-labels"].values())
    }
    assert unlabelled == {}
    schemas = document["components"]["schemas"]
    # Values checked against a fixed set are enums in the document, not strings refused later.
    assert schemas["LedgerPost"]["properties"]["kind"] == {"$ref": "#/components/schemas/LedgerKind"}
    assert schemas["Decision"]["properties"]["decision"] == {"$ref": "#/components/schemas/DecisionKind"}
    assert "rent" in schemas["LedgerKind"]["enum"] and schemas["LedgerKind"]["x-enum-labels"]["staff"] == "人员成本"


WRONG_TYPE = {"string": ["一项"], "integer": "十二", "number": [1], "boolean": "也许", "array": "一项", "object": 7}
WALKED = [
    ("POST", "/api/v1/users"),
    ("POST", "/api/v1/operators"),
    ("POST", "/api/v1/communities"),
    ("POST", "/api/v1/spaces"),
    ("POST", "/api/v1/communities/{community_id}/ledger"),
]


def property_types(document: dict, schema: dict) -> dict[str, str]:
    """The top-level properties of a body schema and the JSON type each must have."""
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    found = {}
    for name, prop in schema.get("properties", {}).items():
        options = [prop, *prop.get("oneOf", [])]
        options = [
            document["components"]["schemas"][o["$ref"].rsplit("/", 1)[1]] if "$ref" in o else o for o in options
        ]
        types = [o["type"] for o in options if isinstance(o.get("type"), str) and o["type"] != "null"]
        if types:
            found[name] = types[0]
    return found


async def test_every_body_field_of_the_wrong_type_is_named_in_chinese(app, world, frozen_clock):
    scene = await build_scene(world, frozen_clock)
    document = app.openapi_schema.to_schema()
    answers, checked = {}, 0
    for method, path in WALKED:
        operation = document["paths"][path][method.lower()]
        user = allowed_user(method, path)
        call = await BUILDERS.get((method, path), default_call)(scene, path)
        body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
        for name, json_type in property_types(document, body_schema).items():
            response = await world.client.request(
                method, call.path, headers=world.headers(user), json={**(call.json or {}), name: WRONG_TYPE[json_type]}
            )
            answer = response.json()
            answers[f"{method} {path} {name}"] = (
                response.status_code,
                answer["detail"]["field"] if isinstance(answer["detail"], dict) else None,
                bool(re.search("[\u4e00-\u9fff]", answer["message"]))
                and not re.search("[A-Z][a-z]+ ", answer["message"]),
            )
            checked += 1
            expected = (422, f"$.{name}", True)
            if answers[f"{method} {path} {name}"] == expected:
                del answers[f"{method} {path} {name}"]
    assert checked > 25 and answers == {}


def dependency_names(app) -> set[str]:
    """The names handlers receive by injection (principal, page, period …), from every layer."""
    return {
        name
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        for name in handler.resolve_dependencies()
    }


async def test_a_body_field_named_like_a_dependency_is_still_the_clients_mistake(app, world, frozen_clock):
    """A body field that shares its name with an injected value (`period` in a job run and the `period`
    query) is answered 422 naming the field when its value is of the wrong type, not 500."""
    scene = await build_scene(world, frozen_clock)
    document = app.openapi_schema.to_schema()
    injected = dependency_names(app)
    answers = {}
    for method, path, operation in operations(app):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is None:
            continue
        schema = next((s for s in body["schema"].get("oneOf", []) if "$ref" in s), body["schema"])
        types = property_types(document, schema)
        shared = set(types) & injected
        if not shared:
            continue
        user = allowed_user(method, path)
        call = await BUILDERS.get((method, path), default_call)(scene, path)
        for name in shared:
            json_type = types[name]
            response = await world.client.request(
                method, call.path, headers=world.headers(user), json={**(call.json or {}), name: WRONG_TYPE[json_type]}
            )
            answers[f"{method} {path} {name}"] = (response.status_code, response.json()["detail"]["field"])
    assert "POST /api/v1/jobs/{name}/run period" in answers
    assert {where: answer for where, answer in answers.items() if answer != (422, "$." + where.rsplit(" ", 1)[1])} == {}
