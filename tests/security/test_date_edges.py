"""Dates at the calendar's edges, on every date and month of every operation in our OpenAPI document.

Query and path parameters and the dates of request bodies are found in the document, so a new one is covered
without a new test. Each is sent, by a role allowed to call the operation, with edge values: inside
2000-01-01..2100-12-31 the answer is whatever the rules say but never a server error; outside it is
422 request.date_out_of_range naming the field; a start after its end is 422 request.date_range_invalid.
"""

from __future__ import annotations

from core.dates import EARLIEST, LATEST
from providers.schemas import FOUNDED_SINCE
from tests.security.test_authorisation_matrix import BUILDERS, build_scene, default_call
from tests.security.test_request_shapes import allowed_user, error_code, operations, with_value

OUTSIDE_DAYS = ("0001-01-01", "1999-12-31", "2101-01-01", "9999-12-31")
INSIDE_DAYS = ("2000-01-01", "2100-12-01")
OUTSIDE_MONTHS = ("0001-01", "1999-12", "2101-01", "9999-12")
INSIDE_MONTHS = ("2000-01", "2100-12")
MALFORMED = ("2026-02-30", "2026-13")


def _plain(schema: dict) -> dict:
    return next((s for s in schema.get("oneOf", []) if s.get("type") != "null"), schema)


def is_date(schema: dict) -> bool:
    return _plain(schema).get("format") == "date"


def is_month(parameter: dict) -> bool:
    return parameter["name"] == "month" and _plain(parameter["schema"]).get("type") == "string"


def body_date_fields(document: dict, operation: dict) -> list[str]:
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    refs = [s["$ref"] for s in [body, *body.get("oneOf", [])] if "$ref" in s]
    schemas = document["components"]["schemas"]
    return sorted(
        {
            name
            for ref in refs
            for name, schema in schemas[ref.split("/")[-1]].get("properties", {}).items()
            if is_date(schema)
        }
    )


async def call_with(world, scene, method, path, user, *, params=None, path_value=None, body_field=None, value=None):
    call = await BUILDERS.get((method, path), default_call)(scene, path)
    url = call.path.split("?")[0]
    if path_value is not None:
        url = with_value(path, call.path, "month", path_value)
    json = call.json
    if body_field is not None:
        json = {**(call.json or {}), body_field: value}
    return await world.client.request(
        method,
        url,
        params=params,
        json=json,
        content=None if body_field else call.content,
        headers=world.headers(user) if user else {},
    )


async def test_every_date_and_month_at_the_calendar_edges_is_a_422_or_an_answer_never_a_500(app, world, frozen_clock):
    document = app.openapi_schema.to_schema()
    scene = await build_scene(world, frozen_clock)
    answers, seen = {}, set()
    for method, path, operation in operations(app):
        user = allowed_user(method, path)
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query" and is_date(parameter["schema"]):
                values, send = (*OUTSIDE_DAYS, *INSIDE_DAYS, *MALFORMED), "query"
            elif parameter["in"] == "path" and is_month(parameter):
                values, send = (*OUTSIDE_MONTHS, *INSIDE_MONTHS, *MALFORMED), "path"
            else:
                continue
            seen.add((send, parameter["name"]))
            for value in values:
                response = await call_with(
                    world,
                    scene,
                    method,
                    path,
                    user,
                    params={parameter["name"]: value} if send == "query" else None,
                    path_value=value if send == "path" else None,
                )
                answers[f"{method} {path} {parameter['name']}={value}"] = (response, parameter["name"], value)
        for name in body_date_fields(document, operation):
            seen.add(("body", name))
            for value in (*OUTSIDE_DAYS, *INSIDE_DAYS):
                response = await call_with(world, scene, method, path, user, body_field=name, value=value)
                answers[f"{method} {path} body {name}={value}"] = (response, name, value)

    assert {("query", "start"), ("query", "end"), ("path", "month"), ("body", "starts_on")} <= seen
    server_errors = {where: r.text for where, (r, _, _) in answers.items() if r.status_code >= 500}
    assert server_errors == {}
    wrong = {}
    for where, (response, field, value) in answers.items():
        earliest = FOUNDED_SINCE.get(field, EARLIEST).isoformat()
        day = value if len(value) > 7 else f"{value}-01"  # a month is named by its first day
        if value not in MALFORMED and not earliest <= day <= LATEST.isoformat():
            ok = (
                response.status_code == 422
                and error_code(response) == "request.date_out_of_range"
                and response.json()["detail"]["field"] == field
                and response.json()["detail"]["earliest"] == earliest
                and response.json()["detail"]["latest"] == "2100-12-31"
            )
        elif value in MALFORMED:
            ok = response.status_code == 422 and error_code(response) == "request.validation_failed"
        else:
            ok = error_code(response) != "request.date_out_of_range" if not response.is_success else True
        if not ok:
            wrong[where] = (response.status_code, response.text[:200])
    assert wrong == {}


async def test_a_period_whose_start_is_not_before_its_end_is_422_on_every_operation(app, world, frozen_clock):
    scene = await build_scene(world, frozen_clock)
    answers = {}
    for method, path, operation in operations(app):
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query" and is_date(p["schema"])}
        if not names:
            continue
        assert names == {"start", "end"}, (method, path, names)
        user = allowed_user(method, path)
        for start, end in (("2026-10-01", "2026-01-01"), ("2026-05-01", "2026-05-01")):
            response = await call_with(world, scene, method, path, user, params={"start": start, "end": end})
            answers[f"{method} {path} {start}..{end}"] = (
                response.status_code,
                error_code(response) if not response.is_success else "ok",
            )
    assert len(answers) >= 10
    assert {w: a for w, a in answers.items() if a != (422, "request.date_range_invalid")} == {}
