"""A read aimed at a record that does not exist, or that the caller may not see, is 404: never `200 []` for the
children of a parent nobody can find.

The operations come from our OpenAPI document, so a route added later under an id is walked without a new test.
A parent the caller may not see answers the same 404: the authorisation matrix holds that cell for every role.
"""

from __future__ import annotations

from tests.providers.helpers import approve, publish_batch, register_operator, submitted_self_application
from tests.security.test_authorisation_matrix import BUILDERS, build_scene, default_call
from tests.security.test_request_shapes import allowed_user, error_code, operations, with_value

# No row has id 0 (identities start at 1), nor the largest id an integer column holds.
UNKNOWN_IDS = (0, 2**31 - 1)


def id_parameters(operation: dict) -> list[str]:
    return [
        p["name"] for p in operation.get("parameters", []) if p["in"] == "path" and p["schema"].get("type") == "integer"
    ]


async def test_every_read_under_an_unknown_id_is_404(app, world, frozen_clock):
    scene = await build_scene(world, frozen_clock)
    answers, lists = {}, 0
    for method, path, operation in operations(app):
        if method != "GET" or not id_parameters(operation):
            continue
        schema = next(iter(operation["responses"]["200"].get("content", {}).values()), {}).get("schema", {})
        lists += schema.get("type") == "array" or "Page_" in schema.get("$ref", "")
        user = allowed_user(method, path)
        call = await BUILDERS.get((method, path), default_call)(scene, path)
        for name in id_parameters(operation):
            for unknown in UNKNOWN_IDS:
                response = await world.client.get(
                    with_value(path, call.path, name, unknown), headers=world.headers(user) if user else {}
                )
                answers[f"GET {path} ({name}={unknown}) as {user}"] = (
                    response.status_code,
                    error_code(response) if response.is_error else "",
                )
    assert lists >= 6 and len(answers) > 40
    assert {
        where: answer for where, answer in answers.items() if answer[0] != 404 or not answer[1].endswith("not_found")
    } == {}


async def test_the_public_sees_the_listings_of_an_operator_only_once_a_batch_published_it(world, frozen_clock):
    operator = await register_operator(world, "杭州未入库托育有限公司", "not_yet")
    before = await world.client.get(f"/api/v1/public/operators/{operator['id']}/listings")
    assert (before.status_code, error_code(before)) == (404, "operator.not_found")

    application_id = await submitted_self_application(world, "not_yet", operator["id"])
    await approve(world, application_id)
    await publish_batch(world, frozen_clock, [application_id])
    after = await world.client.get(f"/api/v1/public/operators/{operator['id']}/listings")
    assert after.status_code == 200 and [e["category"] for e in after.json()] == ["childcare"]
