"""Idempotency-Key on our own POSTs, Stripe's contract: the first answer is kept for 24 hours per user and
replayed for the same request, refused for another one, waited for while it is still being worked out.

Everything goes through the real application and PostgreSQL; the slow and failing requests are real ones,
held up or failed by the payment server in front of localstripe (tests/payment_server.py).
"""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
import pytest
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

from core.idempotency import service as idempotency
from core.settings import get_settings
from tests.leasing.test_payment_faults import CUSTOMERS, INTENTS, customer_ready, pay
from tests.leasing.test_payments import GOOD_CARD, rented
from tests.market.helpers import community
from tests.payment_server import SLOW, failing

CHINESE = re.compile(r"[\u4e00-\u9fff]")
REPLAYED = "Idempotent-Replayed"


def space_body(community_id: int, address: str = "江滨路 8 号一层") -> dict:
    return {
        "community_id": community_id,
        "owner_kind": "state_owned",
        "address": address,
        "area_m2": "120.50",
        "allowed_uses": ["childcare"],
        "floor": "1",
        "condition": "毛坯，水电到位",
    }


async def spaces_total(world, user: str = "street_x") -> int:
    return (await world.get(user, "/api/v1/spaces")).json()["total"]


async def post_space(world, body: dict, key: str | bytes, user: str = "street_x") -> httpx.Response:
    return await world.client.post("/api/v1/spaces", json=body, headers={**world.headers(user), "Idempotency-Key": key})


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and CHINESE.search(body["message"]), body


@pytest.fixture
def short_wait():
    """A duplicate waits a fraction of a second for the first request's answer instead of seconds."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IDEMPOTENCY_WAIT_SECONDS", "0.3")
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


async def test_twenty_identical_posts_with_one_key_create_one_space_and_get_one_answer(world):
    body = space_body((await community(world, "street_x", "江滨社区"))["id"])
    key = str(uuid.uuid4())

    answers = await asyncio.gather(*(post_space(world, body, key) for _ in range(20)))

    assert await spaces_total(world) == 1
    assert {(a.status_code, a.content) for a in answers} == {(201, answers[0].content)}
    assert sorted(a.headers.get(REPLAYED, "") for a in answers) == [""] + ["true"] * 19
    # A later retry, long after the storm, is the same answer again.
    later = await post_space(world, body, key)
    assert (later.status_code, later.content, later.headers[REPLAYED]) == (201, answers[0].content, "true")
    assert await spaces_total(world) == 1


async def test_without_a_key_every_post_is_carried_out(world):
    body = space_body((await community(world, "street_x", "江滨社区"))["id"])
    for _ in range(2):
        answer = await world.post("street_x", "/api/v1/spaces", json=body)
        assert answer.status_code == 201 and REPLAYED not in answer.headers
    assert await spaces_total(world) == 2


async def test_a_key_reused_for_another_request_is_refused_and_changes_nothing(world):
    community_id = (await community(world, "street_x", "江滨社区"))["id"]
    first = await post_space(world, space_body(community_id), "key-1")
    assert first.status_code == 201

    other_body = await post_space(world, space_body(community_id, "江滨路 10 号"), "key-1")
    other_path = await world.client.post(
        "/api/v1/communities",
        json={"name": "别的社区"},
        headers={**world.headers("street_x"), "Idempotency-Key": "key-1"},
    )
    other_query = await world.client.post(
        "/api/v1/spaces?x=1",
        json=space_body(community_id),
        headers={**world.headers("street_x"), "Idempotency-Key": "key-1"},
    )

    for refused in (other_body, other_path, other_query):
        assert_error(refused, 422, "idempotency.key_reused")
    assert await spaces_total(world) == 1
    assert [c["name"] for c in (await world.get("street_x", "/api/v1/communities")).json()["items"]] == ["江滨社区"]


async def test_a_key_is_kept_for_24_hours_then_free_again(world, frozen_clock):
    body = space_body((await community(world, "street_x", "江滨社区"))["id"])
    first = await post_space(world, body, "daily")

    frozen_clock.advance(hours=23, minutes=59)
    replayed = await post_space(world, body, "daily")
    assert (replayed.status_code, replayed.content, replayed.headers[REPLAYED]) == (201, first.content, "true")
    assert await spaces_total(world) == 1

    frozen_clock.advance(minutes=1)
    fresh = await post_space(world, body, "daily")
    assert fresh.status_code == 201 and REPLAYED not in fresh.headers
    assert fresh.json()["id"] != first.json()["id"]
    assert await spaces_total(world) == 2
    # The expired row was taken over: the key holds the new answer now.
    again = await post_space(world, body, "daily")
    assert again.content == fresh.content and again.headers[REPLAYED] == "true"


async def test_two_users_may_use_the_same_key(world):
    body_x = space_body((await community(world, "street_x", "江滨社区"))["id"])
    body_y = space_body((await community(world, "street_y", "彩虹社区"))["id"])

    x = await post_space(world, body_x, "shared-key", "street_x")
    y = await post_space(world, body_y, "shared-key", "street_y")
    # Even the very same request by another user is that user's own.
    same = await post_space(world, body_x, "shared-key", "street_x_and_operator_a")

    assert [r.status_code for r in (x, y, same)] == [201, 201, 201]
    assert not any(REPLAYED in r.headers for r in (x, y, same))
    assert await spaces_total(world, "district") == 3


@pytest.mark.parametrize(
    "user, change, status, code",
    [
        ("street_x", {"area_m2": "-5"}, 422, "space.area_invalid"),
        ("operator_a", {}, 403, "auth.forbidden"),
    ],
    ids=["invalid body", "forbidden"],
)
async def test_a_refused_first_request_is_replayed_not_run_again(world, user, change, status, code):
    body = {**space_body((await community(world, "street_x", "江滨社区"))["id"]), **change}
    first = await post_space(world, body, "refused", user)
    assert_error(first, status, code)

    again = await post_space(world, body, "refused", user)

    assert (again.status_code, again.content, again.headers[REPLAYED]) == (status, first.content, "true")
    assert again.headers["content-type"] == first.headers["content-type"]


@pytest.mark.parametrize(
    "key",
    [
        b"",
        b"x" * 256,
        "幂等键".encode(),
        b"caf\xe9",
        b"tab\there",
        b"bell\x07",
        b"del\x7f",
    ],
    ids=["empty", "256 characters", "Chinese", "latin-1", "tab", "control", "DEL"],
)
async def test_a_key_that_is_not_1_to_255_printable_characters_is_refused_before_anything_runs(world, key):
    body = space_body((await community(world, "street_x", "江滨社区"))["id"])

    refused = await post_space(world, body, key)

    assert_error(refused, 422, "idempotency.key_invalid")
    assert await spaces_total(world) == 0


async def test_keys_of_1_and_255_printable_characters_and_two_keys_at_once(world):
    body = space_body((await community(world, "street_x", "江滨社区"))["id"])
    for key in ("a", "~" * 255, "".join(map(chr, range(0x21, 0x7F))) + " with spaces"):
        assert (await post_space(world, body, key)).status_code == 201, key
    two = await world.client.post(
        "/api/v1/spaces",
        json=body,
        headers=[*world.headers("street_x").items(), ("Idempotency-Key", "one"), ("Idempotency-Key", "two")],
    )
    assert_error(two, 422, "idempotency.key_invalid")
    assert await spaces_total(world) == 3


async def test_anonymous_posts_keep_no_key(world):
    """No user to keep the key for: a public POST runs every time, key or not (documented on the header)."""
    body = {"username": "street_x", "password": "wrong password"}
    answers = [
        await world.client.post("/api/v1/auth/login", json=body, headers={"Idempotency-Key": "k"}) for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [401, 401]
    assert not any(REPLAYED in a.headers for a in answers)
    rows = await engine_finder().run_querystring(QueryString("SELECT count(*) AS n FROM idempotency_key"))
    assert rows[0]["n"] == 0


async def test_a_duplicate_of_a_request_still_running_gets_409_then_the_first_answer(
    world, frozen_clock, localstripe, payment_server, short_wait
):
    signed, invoice = await rented(world, frozen_clock)
    await customer_ready(signed)
    payment_server.script("POST", INTENTS, SLOW)  # the first request is held at the payment server
    url = f"/api/v1/rent-invoices/{invoice['id']}/payments"
    headers = {**world.headers("tot"), "Idempotency-Key": "pay-once"}
    first = asyncio.create_task(world.client.post(url, json={"payment_method": GOOD_CARD}, headers=headers))
    while not payment_server.keys("POST", INTENTS):
        await asyncio.sleep(0.02)

    duplicate = await world.client.post(url, json={"payment_method": GOOD_CARD}, headers=headers)

    assert_error(duplicate, 409, "idempotency.in_progress")
    answered = await first
    await payment_server.release()
    assert answered.status_code == 201, answered.text
    retried = await world.client.post(url, json={"payment_method": GOOD_CARD}, headers=headers)
    assert (retried.status_code, retried.content, retried.headers[REPLAYED]) == (201, answered.content, "true")
    assert len((await world.get("tot", url)).json()) == 1


async def test_a_server_error_is_not_kept_and_a_retry_with_the_key_runs_again(
    world, frozen_clock, localstripe, payment_server
):
    signed, invoice = await rented(world, frozen_clock)
    payment_server.script("POST", CUSTOMERS, failing(500), failing(500), failing(500))
    url = f"/api/v1/rent-invoices/{invoice['id']}/payments"
    headers = {**world.headers("tot"), "Idempotency-Key": "retry-me"}

    failed = await world.client.post(url, json={"payment_method": GOOD_CARD}, headers=headers)
    assert_error(failed, 503, "payment.unavailable")
    retried = await world.client.post(url, json={"payment_method": GOOD_CARD}, headers=headers)

    assert retried.status_code == 201 and retried.json()["status"] == "succeeded", retried.text
    assert REPLAYED not in retried.headers
    again = await world.client.post(url, json={"payment_method": GOOD_CARD}, headers=headers)
    assert (again.status_code, again.content, again.headers[REPLAYED]) == (201, retried.content, "true")
    assert (await pay(world, invoice)).json()["code"] == "invoice.not_payable"


def posts(app) -> list[tuple[str, dict]]:
    document = app.openapi_schema.to_schema()
    return [(path, item["post"]) for path, item in document["paths"].items() if "post" in item]


def concrete(path: str) -> str:
    """The path with every parameter filled in: ids 1, other segments a word."""
    return re.sub(r"\{(\w+)\}", lambda m: "1" if m.group(1).endswith("_id") else "2026-10", path)


async def test_every_post_documents_the_key_and_a_logged_in_users_post_answers_reuse_and_in_progress(
    app, world, short_wait
):
    """Walks the document, so a new POST is covered without a new test."""
    answers = {}
    private = [(path, operation) for path, operation in posts(app) if operation.get("security") != [{}]]
    assert len(private) > 40
    for _path, operation in posts(app):
        [header] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert (
            header["in"] == "header" and header["schema"]["maxLength"] == 255 and CHINESE.search(header["description"])
        )
    for number, (path, operation) in enumerate(private):
        assert {"409", "422"} <= set(operation["responses"]), path
        url, key = concrete(path), f"walk-{number}"
        headers = {**world.headers("city"), "Idempotency-Key": key, "Content-Type": "application/json"}
        # Whatever the first request is answered (it is a 4xx mostly: nothing exists yet), it is kept ...
        first = await world.client.post(url, content=b"", headers=headers)
        assert first.status_code < 500, (path, first.text)
        # ... so the same key on another body is refused,
        reused = await world.client.post(url, content=b"{}", headers=headers)
        # and a key whose request is still running (claimed here as a worker running it would) makes a
        # duplicate wait, then 409.
        await idempotency.begin(
            world.user_ids["city"], f"{key}-running", idempotency.fingerprint("POST", url, b"", b"")
        )
        running = await world.client.post(url, content=b"", headers={**headers, "Idempotency-Key": f"{key}-running"})
        answers[path] = (reused.status_code, reused.json()["code"], running.status_code, running.json()["code"])
    assert {
        path: answer
        for path, answer in answers.items()
        if answer != (422, "idempotency.key_reused", 409, "idempotency.in_progress")
    } == {}


async def test_a_key_left_running_by_a_worker_that_died_is_free_again_after_ten_minutes(
    world, frozen_clock, short_wait
):
    body = space_body((await community(world, "street_x", "江滨社区"))["id"])
    # A worker claimed the key for this very request, then died before it answered.
    await idempotency.begin(
        world.user_ids["street_x"],
        "orphan",
        idempotency.fingerprint("POST", "/api/v1/spaces", b"", httpx.Request("POST", "/", json=body).content),
    )

    frozen_clock.advance(minutes=9, seconds=59)
    assert_error(await post_space(world, body, "orphan"), 409, "idempotency.in_progress")
    frozen_clock.advance(seconds=1)
    taken_over = await post_space(world, body, "orphan")

    assert taken_over.status_code == 201 and REPLAYED not in taken_over.headers
    assert (await post_space(world, body, "orphan")).headers[REPLAYED] == "true"
    assert await spaces_total(world) == 1
