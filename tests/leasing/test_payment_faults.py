"""Paying rent while the payment server misbehaves: errors, hangs, garbage, slow answers.

The payment server here is a real HTTP server on its own port in front of localstripe (tests/payment_server.py).
It answers each request in turn with what the test scripted for that method and path, and otherwise carries the
request out at localstripe. Like Stripe (and unlike localstripe) it replays the first answer for a repeated
Idempotency-Key and refuses a key whose first request is still in progress, so the duplicates counted here
are the ones a real account would see.
"""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from core import clock
from core.payments import PaymentsClient, PaymentServerUnavailable, webhooks
from core.settings import get_settings
from leasing import repository, service
from tests.leasing.test_payments import GOOD_CARD, ledger, rented, signed_event
from tests.payment_server import SLOW, cut, failing, garbage, hanging

UNAVAILABLE = {"code": "payment.unavailable", "message": "支付服务暂时不可用，请稍后再试"}
INTENTS = "/v1/payment_intents"
CUSTOMERS = "/v1/customers"


# What the user and the officials see, and what the payment server really holds -------------------


async def pay(world, invoice: dict) -> httpx.Response:
    return await world.post(
        "tot", f"/api/v1/rent-invoices/{invoice['id']}/payments", json={"payment_method": GOOD_CARD}
    )


async def invoice_status(world, invoice: dict) -> str:
    return (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}")).json()["status"]


async def payment_rows(world, invoice: dict) -> list[dict]:
    return (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}/payments")).json()


async def intents_taken(localstripe, signed: dict, invoice: dict) -> list:
    """The succeeded payment intents for the invoice, read straight from localstripe."""
    customer = await repository.customer_ref(signed["lessee_id"])
    async with PaymentsClient(base_url=f"http://127.0.0.1:{localstripe.port}") as direct:
        found = await direct.find_payment_intents(metadata={"invoice_id": invoice["id"]}, customer=customer)
    return [intent for intent in found if intent.succeeded]


async def paid_audit_rows(world, invoice: dict) -> list[dict]:
    response = await world.get(
        "auditor",
        "/api/v1/audit",
        params={"entity_type": "rent_invoice", "entity_id": str(invoice["id"]), "action": "invoice.paid"},
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def assert_paid_exactly_once(world, localstripe, server, signed: dict, invoice: dict) -> None:
    assert await invoice_status(world, invoice) == "paid"
    taken = await intents_taken(localstripe, signed, invoice)
    assert [intent.amount for intent in taken] == [invoice["amount"]]
    rows = await payment_rows(world, invoice)
    succeeded = [row for row in rows if row["status"] == "succeeded"]
    assert len(succeeded) == 1 and not [row for row in rows if row["status"] == "pending"]
    entries = await ledger(world, signed["community_id"])
    assert [(e["kind"], e["amount"]) for e in entries] == [("rent", invoice["amount"])]
    assert len(await paid_audit_rows(world, invoice)) == 1
    again = await pay(world, invoice)
    assert again.status_code == 409 and again.json()["code"] == "invoice.not_payable"
    assert len(await intents_taken(localstripe, signed, invoice)) == 1
    assert all(key for method, _, key in server.arrived if method == "POST"), "every POST carries a key"


async def assert_nothing_paid_yet(world, signed: dict, invoice: dict) -> None:
    assert await invoice_status(world, invoice) == "open"
    assert await ledger(world, signed["community_id"]) == []
    assert await paid_audit_rows(world, invoice) == []


async def reconcile_later(frozen_clock) -> dict[str, int]:
    frozen_clock.advance(minutes=5)
    return await service.reconcile_payments()


async def customer_ready(signed: dict) -> None:
    await service._customer_for(signed["lessee_id"], signed["lessee_name"])


# Within one request: the client's own retries ---------------------------------------------------


async def test_server_errors_are_retried_under_one_key_and_the_invoice_is_paid_once(
    world, frozen_clock, localstripe, payment_server
):
    signed, invoice = await rented(world, frozen_clock)
    payment_server.script("POST", INTENTS, failing(500), garbage(b"<html>Bad Gateway</html>", 502))

    paid = await pay(world, invoice)

    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "succeeded"
    key = (await repository.payments_for_invoice(invoice["id"]))[0].idempotency_key
    assert payment_server.keys("POST", INTENTS) == [key, key, key]
    await assert_paid_exactly_once(world, localstripe, payment_server, signed, invoice)


async def test_an_answer_lost_to_a_timeout_is_asked_again_with_the_same_key_and_charged_once(
    world, frozen_clock, localstripe, payment_server
):
    signed, invoice = await rented(world, frozen_clock)
    payment_server.script("POST", INTENTS, hanging(acts=True))

    paid = await pay(world, invoice)

    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "succeeded"
    key = (await repository.payments_for_invoice(invoice["id"]))[0].idempotency_key
    assert payment_server.keys("POST", INTENTS) == [key, key]
    assert payment_server.keys("POST", INTENTS, payment_server.carried_out) == [key]
    await assert_paid_exactly_once(world, localstripe, payment_server, signed, invoice)


async def test_a_lost_customer_answer_is_replayed_and_makes_one_customer(
    world, frozen_clock, localstripe, payment_server
):
    signed, invoice = await rented(world, frozen_clock)
    payment_server.script("POST", CUSTOMERS, cut(acts=True))

    paid = await pay(world, invoice)

    assert paid.status_code == 201 and paid.json()["status"] == "succeeded", paid.text
    customer_key = f"operator-{signed['lessee_id']}-customer"
    assert payment_server.keys("POST", CUSTOMERS) == [customer_key, customer_key]
    assert payment_server.keys("POST", CUSTOMERS, payment_server.carried_out) == [customer_key]
    await assert_paid_exactly_once(world, localstripe, payment_server, signed, invoice)


# The server stays down past the retries: a pending payment, settled once it recovers -------------

DOWN = {
    "server errors": [failing(500), failing(503), failing(500)],
    "hangs": [hanging(), hanging(), hanging()],
    "cut connections": [cut(), cut(), cut()],
    "rate limited": [garbage(b'{"error": {"type": "rate_limit_error", "message": "Too many requests"}}', 429)],
    "charged, then server errors": [failing(500, acts=True), failing(500), failing(500)],
    "charged, then hangs": [hanging(acts=True), hanging(), hanging()],
    "charged, then cut": [cut(acts=True), cut(), cut()],
}


@pytest.mark.parametrize("faults", DOWN.values(), ids=DOWN.keys())
async def test_a_server_down_past_the_retries_leaves_a_pending_payment_that_converges_to_one(
    world, frozen_clock, localstripe, payment_server, faults
):
    signed, invoice = await rented(world, frozen_clock)
    await customer_ready(signed)
    payment_server.script("POST", INTENTS, *faults)
    charged = faults[0].acts

    pending = await pay(world, invoice)

    assert pending.status_code == 201, pending.text
    assert pending.json()["status"] == "pending"
    key = (await repository.payments_for_invoice(invoice["id"]))[0].idempotency_key
    assert payment_server.keys("POST", INTENTS) == [key] * len(faults)
    await assert_nothing_paid_yet(world, signed, invoice)
    retried = await pay(world, invoice)
    assert retried.status_code == 409 and retried.json()["code"] == "payment.in_progress"
    assert retried.json()["message"]

    # The server recovers; the reconcile job asks it what became of our key.
    assert await reconcile_later(frozen_clock) == {"succeeded": int(charged), "failed": int(not charged), "pending": 0}
    if not charged:
        await assert_nothing_paid_yet(world, signed, invoice)
        again = await pay(world, invoice)
        assert again.status_code == 201 and again.json()["status"] == "succeeded", again.text
    await assert_paid_exactly_once(world, localstripe, payment_server, signed, invoice)


GARBAGE = {  # each after the payment server carried the request out
    "not JSON": garbage(b"<html><body>upstream hiccup</body></html>", acts=True),
    "truncated JSON": garbage(b'{"id": "pi_3Nx", "object": "payment_intent", "status": "succ', acts=True),
    "a JSON list": garbage(b'[{"id": "pi_3Nx"}]', acts=True),
    "an empty object": garbage(b"{}", acts=True),
    "no status": garbage(
        b'{"id": "pi_3Nx", "object": "payment_intent", "amount": 345678, "currency": "cny"}', acts=True
    ),
    "amount as text": garbage(
        b'{"id": "pi_3Nx", "object": "payment_intent", "status": "succeeded", "amount": "345678", "currency": "cny"}',
        acts=True,
    ),
    "metadata as a list": garbage(
        b'{"id": "pi_3Nx", "object": "payment_intent", "status": "succeeded", '
        b'"amount": 345678, "currency": "cny", "metadata": ["x"]}',
        acts=True,
    ),
    "404 page": garbage(b"<h1>Not Found</h1>", 404, acts=True),
    "400 without an error object": garbage(b'{"message": "bad"}', 400, acts=True),
}


@pytest.mark.parametrize("answer", GARBAGE.values(), ids=GARBAGE.keys())
async def test_a_garbage_answer_after_the_money_was_taken_leaves_it_pending_then_paid_once(
    world, frozen_clock, localstripe, payment_server, answer
):
    signed, invoice = await rented(world, frozen_clock)
    await customer_ready(signed)
    payment_server.script("POST", INTENTS, answer)

    pending = await pay(world, invoice)

    assert pending.status_code == 201, pending.text
    assert pending.json()["status"] == "pending"
    await assert_nothing_paid_yet(world, signed, invoice)
    assert await reconcile_later(frozen_clock) == {"succeeded": 1, "failed": 0, "pending": 0}
    await assert_paid_exactly_once(world, localstripe, payment_server, signed, invoice)


ANOTHER_PAYMENT = {
    "another payment's intent": garbage(
        b'{"id": "pi_someone_else", "object": "payment_intent", '
        b'"status": "succeeded", "amount": 345678, "currency": "cny", '
        b'"metadata": {"payment_key": "rent-invoice-9-attempt-1-000000000000"}}'
    ),
    "one fen instead of the rent": garbage(
        b'{"id": "pi_one_fen", "object": "payment_intent", "status": "succeeded", "amount": 1, "currency": "cny"}'
    ),
}


@pytest.mark.parametrize("answer", ANOTHER_PAYMENT.values(), ids=ANOTHER_PAYMENT.keys())
async def test_a_success_answer_that_is_not_this_payment_does_not_mark_the_invoice_paid(
    world, frozen_clock, localstripe, payment_server, answer
):
    signed, invoice = await rented(world, frozen_clock)
    await customer_ready(signed)
    payment_server.script("POST", INTENTS, answer)

    pending = await pay(world, invoice)

    assert pending.status_code == 201, pending.text
    assert pending.json()["status"] == "pending"
    await assert_nothing_paid_yet(world, signed, invoice)
    assert await reconcile_later(frozen_clock) == {"succeeded": 0, "failed": 1, "pending": 0}
    again = await pay(world, invoice)
    assert again.status_code == 201 and again.json()["status"] == "succeeded", again.text
    await assert_paid_exactly_once(world, localstripe, payment_server, signed, invoice)


async def test_a_retry_refused_because_the_first_request_is_still_in_progress_is_not_taken_as_a_refusal(
    world, frozen_clock, localstripe, payment_server
):
    signed, invoice = await rented(world, frozen_clock)
    await customer_ready(signed)
    # The first request outlives the client's timeout; the retry under the same key meets it still running.
    payment_server.script("POST", INTENTS, SLOW)

    pending = await pay(world, invoice)

    assert pending.status_code == 201, pending.text
    assert pending.json()["status"] == "pending"
    await assert_nothing_paid_yet(world, signed, invoice)
    await payment_server.release()
    assert await reconcile_later(frozen_clock) == {"succeeded": 1, "failed": 0, "pending": 0}
    await assert_paid_exactly_once(world, localstripe, payment_server, signed, invoice)


# Calls made before any payment row exists: a clean error, nothing written ------------------------


@pytest.mark.parametrize(
    "faults",
    [
        [failing(500), failing(502), failing(500)],
        [hanging(), hanging(), hanging()],
        [garbage(b'{"id": 42}')],
        [garbage(b"not json at all")],
    ],
    ids=["server errors", "hangs", "id not a string", "not JSON"],
)
async def test_a_customer_that_cannot_be_created_is_a_503_that_writes_nothing(
    world, frozen_clock, localstripe, payment_server, faults
):
    signed, invoice = await rented(world, frozen_clock)
    payment_server.script("POST", CUSTOMERS, *faults)

    refused = await pay(world, invoice)

    assert refused.status_code == 503, refused.text
    assert {k: refused.json()[k] for k in UNAVAILABLE} == UNAVAILABLE
    assert await payment_rows(world, invoice) == []
    assert await repository.customer_ref(signed["lessee_id"]) is None
    assert payment_server.keys("POST", INTENTS) == []
    await assert_nothing_paid_yet(world, signed, invoice)

    paid = await pay(world, invoice)
    assert paid.status_code == 201 and paid.json()["status"] == "succeeded", paid.text
    await assert_paid_exactly_once(world, localstripe, payment_server, signed, invoice)


# Webhooks and the reconcile job: what reads the payment server after the fact --------------------


async def pending_and_charged(world, frozen_clock, localstripe, payment_server) -> tuple[dict, dict, str]:
    """An invoice whose payment was taken but whose answer was lost: (lease, invoice, intent id)."""
    signed, invoice = await rented(world, frozen_clock)
    await customer_ready(signed)
    payment_server.script("POST", INTENTS, garbage(b"", 502, acts=True), failing(500), failing(500))
    assert (await pay(world, invoice)).json()["status"] == "pending"
    [intent] = await intents_taken(localstripe, signed, invoice)
    return signed, invoice, intent.id


@pytest.mark.parametrize(
    "faults",
    [
        [failing(500), failing(500), failing(500)],
        [hanging(), hanging(), hanging()],
        [garbage(b'{"id": "pi_x", "status": "succeeded"}')],
    ],
    ids=["server errors", "hangs", "wrong shape"],
)
async def test_a_webhook_that_cannot_be_checked_is_refused_cleanly_and_its_redelivery_settles_once(
    world, frozen_clock, localstripe, payment_server, faults
):
    signed, invoice, intent_id = await pending_and_charged(world, frozen_clock, localstripe, payment_server)
    payload, signature = signed_event(f"evt_{intent_id}", intent_id)
    payment_server.script("GET", f"{INTENTS}/{intent_id}", *faults)

    refused = await world.client.post(
        "/api/v1/webhooks/payments", content=payload, headers={"Stripe-Signature": signature}
    )

    assert refused.status_code in (502, 503), refused.text
    assert refused.json()["code"].startswith("payment.") and refused.json()["message"]
    await assert_nothing_paid_yet(world, signed, invoice)
    # The payment server delivers the event again later, as it does after any non-2xx answer.
    answers = [
        await world.client.post("/api/v1/webhooks/payments", content=payload, headers={"Stripe-Signature": signature})
        for _ in range(2)
    ]
    assert [a.json()["status"] for a in answers] == ["processed", "duplicate"]
    await assert_paid_exactly_once(world, localstripe, payment_server, signed, invoice)


async def test_an_event_the_payment_server_disowns_is_ignored_and_reconcile_still_settles_the_payment(
    world, frozen_clock, localstripe, payment_server
):
    signed, invoice, intent_id = await pending_and_charged(world, frozen_clock, localstripe, payment_server)
    payload, signature = signed_event(f"evt_{intent_id}", intent_id)
    payment_server.script(
        "GET",
        f"{INTENTS}/{intent_id}",
        garbage(b'{"error": {"type": "invalid_request_error", "message": "No such payment_intent"}}', 404),
    )

    answer = await world.client.post(
        "/api/v1/webhooks/payments", content=payload, headers={"Stripe-Signature": signature}
    )

    assert (answer.status_code, answer.json()) == (200, {"status": "ignored"}), answer.text
    await assert_nothing_paid_yet(world, signed, invoice)
    assert await reconcile_later(frozen_clock) == {"succeeded": 1, "failed": 0, "pending": 0}
    await assert_paid_exactly_once(world, localstripe, payment_server, signed, invoice)


@pytest.mark.parametrize(
    "event",
    [
        {"id": "evt_no_object", "object": "event", "type": "payment_intent.succeeded", "data": {}},
        {"id": "evt_list_data", "object": "event", "type": "payment_intent.succeeded", "data": []},
        {"id": "evt_empty_id", "object": "event", "type": "payment_intent.succeeded", "data": {"object": {"id": ""}}},
    ],
    ids=["no object", "data is a list", "empty intent id"],
)
async def test_a_signed_event_without_a_payment_intent_is_not_a_500(
    world, frozen_clock, localstripe, payment_server, event
):
    signed, invoice, _ = await pending_and_charged(world, frozen_clock, localstripe, payment_server)
    payload = json.dumps(event).encode()
    signature = webhooks.sign(payload, get_settings().stripe_webhook_secret, int(clock.now().timestamp()))

    answer = await world.client.post(
        "/api/v1/webhooks/payments", content=payload, headers={"Stripe-Signature": signature}
    )

    assert answer.status_code == 200 and answer.json()["status"] == "processed", answer.text
    await assert_nothing_paid_yet(world, signed, invoice)
    assert await reconcile_later(frozen_clock) == {"succeeded": 1, "failed": 0, "pending": 0}
    await assert_paid_exactly_once(world, localstripe, payment_server, signed, invoice)


@pytest.mark.parametrize(
    "faults",
    [
        [failing(500), failing(500), failing(500)],
        [hanging(), hanging(), hanging()],
        [garbage(b'{"data": [{"id": "pi_x"}], "has_more": false}')],
        [garbage(b'{"object": "list"}')],
    ],
    ids=["server errors", "hangs", "items of the wrong shape", "no data"],
)
async def test_reconcile_against_a_failing_server_settles_nothing_and_settles_once_when_it_recovers(
    world, frozen_clock, localstripe, payment_server, faults
):
    signed, invoice, _ = await pending_and_charged(world, frozen_clock, localstripe, payment_server)
    payment_server.script("GET", INTENTS, *faults)

    with pytest.raises(PaymentServerUnavailable):
        await reconcile_later(frozen_clock)

    assert [row["status"] for row in await payment_rows(world, invoice)] == ["pending"]
    await assert_nothing_paid_yet(world, signed, invoice)
    assert await service.reconcile_payments(older_than=timedelta(minutes=1)) == {
        "succeeded": 1,
        "failed": 0,
        "pending": 0,
    }
    await assert_paid_exactly_once(world, localstripe, payment_server, signed, invoice)
