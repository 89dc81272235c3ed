"""The payments client against a real localstripe, and its own retry and header logic against a real
misbehaving payment server in front of localstripe.

localstripe decides outcomes by card: pm_card_visa pays; card 4000000000000341 (pm_card_chargeCustomerFail)
is declined when charged. It ignores Idempotency-Key, so what the key does is checked through the server of
tests/payment_server.py: it records every request that reaches it (headers, query, form), replays the first
answer for a repeated key as Stripe does, and answers with the faults a test scripts. The few answers localstripe
never gives (an issuer's decline reason, a 400 naming its parameter, a list that starts over) are scripted there
in Stripe's own shape and still travel over HTTP.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from core.payments import (
    CardDeclined,
    PaymentNotFound,
    PaymentRequestInvalid,
    PaymentsClient,
    PaymentServerUnavailable,
)
from core.payments.client import encode_form
from tests.payment_server import answering, cut, failing, garbage, hanging
from tests.servers import free_port

DECLINED_CARD = "4000000000000341"


def key() -> str:
    return f"test-{uuid.uuid4()}"


@pytest.fixture
async def payments(localstripe):
    async with PaymentsClient(backoff_seconds=0) as client:
        yield client


# Against localstripe.


async def test_customer_pays_in_fen_and_retrieve_returns_the_same_state(payments):
    customer = await payments.create_customer(
        name="杭州未来社区运营有限公司", email="pay@example.org", metadata={"operator_id": 17}, idempotency_key=key()
    )
    assert customer.id.startswith("cus_")
    assert customer.name == "杭州未来社区运营有限公司"
    assert customer.metadata == {"operator_id": "17"}

    payment_key = key()
    intent = await payments.create_payment_intent(
        1_234_567,
        customer=customer.id,
        payment_method="pm_card_visa",
        confirm=True,
        metadata={"invoice_id": 42, "payment_key": payment_key, "month": "2026-11"},
        idempotency_key=payment_key,
    )
    assert intent.succeeded and intent.status == "succeeded"
    assert intent.amount == 1_234_567 and isinstance(intent.amount, int)
    assert intent.currency == "cny"
    assert intent.customer == customer.id
    assert intent.metadata == {"invoice_id": "42", "payment_key": payment_key, "month": "2026-11"}
    assert intent.latest_charge and intent.latest_charge.startswith("ch_")
    assert intent.last_error_code is None and intent.decline_code is None

    again = await payments.retrieve_payment_intent(intent.id)
    assert again == intent


async def test_declined_card_raises_with_its_code_and_the_intent_is_findable_by_metadata(payments):
    customer = await payments.create_customer(name="被拒运营商", idempotency_key=key())
    card = await payments.create_payment_method_card(DECLINED_CARD, 12, 2030, "123")
    assert card.id.startswith("pm_") and card.card_last4 == "0341"

    payment_key = key()
    with pytest.raises(CardDeclined) as declined:
        await payments.create_payment_intent(
            50_000,
            customer=customer.id,
            payment_method=card.id,
            confirm=True,
            metadata={"payment_key": payment_key},
            idempotency_key=payment_key,
        )
    error = declined.value
    assert error.decline_code == "card_declined"
    assert error.error_code == "card_declined"
    assert error.provider_message == "Your card was declined."
    assert error.http_status == 402 and error.charge_id.startswith("ch_")
    assert error.code == "payment.declined" and error.status_code == 422
    assert error.detail == {"decline_code": "card_declined", "provider_message": "Your card was declined."}

    # The answer carried no intent id (localstripe sends none): the intent is found again by our key.
    [found] = await payments.find_payment_intents(metadata={"payment_key": payment_key}, customer=customer.id)
    assert found.status == "requires_payment_method" and found.declined
    assert found.amount == 50_000 and found.latest_charge == error.charge_id
    assert (found.last_error_code, found.decline_code) == ("card_declined", "card_declined")
    assert found.last_error_message == "Your card was declined."
    assert await payments.retrieve_payment_intent(found.id) == found


async def test_canonical_declining_payment_method_id(payments):
    with pytest.raises(CardDeclined) as declined:
        await payments.create_payment_intent(
            8_800, payment_method="pm_card_chargeCustomerFail", confirm=True, idempotency_key=key()
        )
    assert declined.value.decline_code == "card_declined"


async def test_create_then_confirm_with_a_payment_method(payments):
    payment_key = key()
    intent = await payments.create_payment_intent(
        30_000, metadata={"payment_key": payment_key}, idempotency_key=payment_key
    )
    assert intent.status == "requires_payment_method" and not intent.declined

    confirmed = await payments.confirm_payment_intent(intent.id, payment_method="pm_card_visa", idempotency_key=key())
    assert confirmed.id == intent.id and confirmed.succeeded
    assert confirmed.amount == 30_000 and confirmed.metadata == {"payment_key": payment_key}


async def test_cancel_an_unconfirmed_intent(payments):
    intent = await payments.create_payment_intent(1_000, payment_method="pm_card_visa", idempotency_key=key())
    assert intent.status == "requires_confirmation"
    canceled = await payments.cancel_payment_intent(intent.id, idempotency_key=key())
    assert canceled.status == "canceled"


async def test_partial_and_full_refund(payments):
    intent = await payments.create_payment_intent(
        90_000, payment_method="pm_card_visa", confirm=True, idempotency_key=key()
    )
    partial = await payments.create_refund(
        intent.id, amount=25_000, metadata={"reason": "提前退租"}, idempotency_key=key()
    )
    assert partial.id.startswith("re_") and partial.status == "succeeded"
    assert (partial.amount, partial.currency, partial.payment_intent) == (25_000, "cny", intent.id)
    assert partial.charge == intent.latest_charge
    assert partial.metadata == {"reason": "提前退租"}

    full = await payments.create_refund(intent.id, idempotency_key=key())
    assert full.amount == 90_000  # localstripe: always the whole charge, whatever was refunded before


async def test_a_declined_payment_cannot_be_refunded(payments):
    payment_key = key()
    with pytest.raises(CardDeclined):
        await payments.create_payment_intent(
            2_000,
            payment_method="pm_card_chargeCustomerFail",
            confirm=True,
            metadata={"payment_key": payment_key},
            idempotency_key=payment_key,
        )
    [intent] = await payments.find_payment_intents(metadata={"payment_key": payment_key})
    with pytest.raises(PaymentRequestInvalid) as invalid:
        await payments.create_refund(intent.id, idempotency_key=key())
    assert invalid.value.http_status == 400


async def test_find_by_metadata_reads_every_page_and_matches_all_keys(payments):
    batch = key()
    made = [
        await payments.create_payment_intent(100 + n, metadata={"batch": batch, "n": n}, idempotency_key=key())
        for n in range(3)
    ]
    found = await payments.find_payment_intents(metadata={"batch": batch}, page_size=1)
    assert sorted(i.id for i in found) == sorted(i.id for i in made)
    [second] = await payments.find_payment_intents(metadata={"batch": batch, "n": 1}, page_size=2)
    assert second.id == made[1].id and second.amount == 101
    assert await payments.find_payment_intents(metadata={"batch": key()}) == []


async def test_unknown_object_and_bad_key_are_invalid_requests(payments):
    with pytest.raises(PaymentNotFound) as missing:
        await payments.retrieve_payment_intent("pi_doesnotexist")
    assert missing.value.http_status == 404 and isinstance(missing.value, PaymentRequestInvalid)

    async with PaymentsClient(api_key="not-a-secret-key", backoff_seconds=0) as unauthorised:
        with pytest.raises(PaymentRequestInvalid) as refused:
            await unauthorised.retrieve_payment_intent("pi_doesnotexist")
    assert refused.value.http_status == 401 and refused.value.code == "payment.request_invalid"


async def test_amounts_are_positive_integer_fen():
    async with PaymentsClient() as payments:
        for amount in (0, -5, 12.5, True, "100"):
            with pytest.raises(ValueError):
                await payments.create_payment_intent(amount, idempotency_key=key())


async def test_unreachable_server_is_unavailable_not_a_hang():
    async with PaymentsClient(
        base_url=f"http://127.0.0.1:{free_port()}", timeout_seconds=0.5, max_retries=1, backoff_seconds=0
    ) as payments:
        # The guard only turns a hang into a failure; the short client timeout is what is being used.
        async with asyncio.timeout(10):
            with pytest.raises(PaymentServerUnavailable) as unavailable:
                await payments.create_payment_intent(
                    1_000, payment_method="pm_card_visa", confirm=True, idempotency_key=key()
                )
    assert unavailable.value.code == "payment.unavailable" and unavailable.value.status_code == 503
    assert "ConnectError" in unavailable.value.reason


# The client's own retry and header logic, against a real misbehaving server in front of localstripe.

API_KEY = "sk_test_payments_client"
INTENTS = "/v1/payment_intents"
# An intent in Stripe's shape, for the answers localstripe never gives.
INTENT = {
    "id": "pi_made_up",
    "object": "payment_intent",
    "status": "succeeded",
    "amount": 500,
    "currency": "cny",
    "customer": None,
    "payment_method": "pm_card_visa",
    "latest_charge": "ch_made_up",
    "created": 1795400000,
    "metadata": {"payment_key": "k"},
    "last_payment_error": None,
}


def through(server, *, max_retries: int = 2, timeout_seconds: float | None = None) -> PaymentsClient:
    return PaymentsClient(
        base_url=server.url,
        api_key=API_KEY,
        max_retries=max_retries,
        backoff_seconds=0,
        timeout_seconds=timeout_seconds,
    )


def posts(server, path: str = INTENTS) -> list:
    return [request for request in server.requests if (request.method, request.path) == ("POST", path)]


async def test_post_is_form_encoded_stripe_style_with_key_and_bearer(payment_server):
    async with through(payment_server) as payments:
        customer = await payments.create_customer(name="杭州未来社区运营有限公司", idempotency_key=key())
        intent = await payments.create_payment_intent(
            123_456,
            customer=customer.id,
            payment_method="pm_card_visa",
            confirm=True,
            metadata={"invoice_id": 42, "note": "二〇二六年十一月租金"},
            idempotency_key="pay-42-1",
        )
    [request] = posts(payment_server)
    assert request.key == "pay-42-1"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(request.form) == {
        "amount": "123456",
        "currency": "cny",
        "customer": customer.id,
        "payment_method": "pm_card_visa",
        "confirm": "true",
        "metadata[invoice_id]": "42",
        "metadata[note]": "二〇二六年十一月租金",
    }
    assert intent.succeeded and intent.customer == customer.id
    assert intent.metadata == {"invoice_id": "42", "note": "二〇二六年十一月租金"}


def test_encode_form_nesting_lists_and_refusals():
    assert encode_form(
        {
            "a": {"b": {"c": 1}},
            "items": [{"price": "p1"}, {"price": "p2"}],
            "tags": ["x", "y"],
            "flag": False,
            "skipped": None,
        }
    ) == [
        ("a[b][c]", "1"),
        ("items[0][price]", "p1"),
        ("items[1][price]", "p2"),
        ("tags[0]", "x"),
        ("tags[1]", "y"),
        ("flag", "false"),
    ]
    with pytest.raises(TypeError):
        encode_form({"amount": 12.5})


async def test_a_post_without_idempotency_key_is_refused_before_sending(payment_server):
    async with through(payment_server) as payments:
        for missing_or_too_long in ("", "k" * 256):
            with pytest.raises(ValueError):
                await payments.create_payment_intent(500, idempotency_key=missing_or_too_long)
            with pytest.raises(ValueError):
                await payments.create_customer(name="无键", idempotency_key=missing_or_too_long)
    assert payment_server.requests == []


async def test_5xx_on_a_get_is_retried_then_succeeds(payment_server):
    async with through(payment_server, max_retries=2) as payments:
        made = await payments.create_payment_intent(500, metadata={"payment_key": "k"}, idempotency_key=key())
        path = f"{INTENTS}/{made.id}"
        payment_server.script("GET", path, garbage(b"busy", 503), garbage(b"<html>bad gateway</html>", 502))
        intent = await payments.retrieve_payment_intent(made.id)
    assert intent == made and intent.amount == 500 and intent.metadata == {"payment_key": "k"}
    assert payment_server.arrived[1:] == [("GET", path, None)] * 3


async def test_5xx_on_a_keyed_post_is_retried_with_the_same_key_then_gives_up(payment_server):
    payment_server.script("POST", INTENTS, *[failing(500)] * 4)
    async with through(payment_server, max_retries=3) as payments:
        with pytest.raises(PaymentServerUnavailable) as unavailable:
            await payments.create_payment_intent(500, metadata={"invoice_id": 7}, idempotency_key="pay-7-1")
    sent = posts(payment_server)
    assert [request.key for request in sent] == ["pay-7-1"] * 4
    assert [request.form for request in sent] == [sent[0].form] * 4
    assert payment_server.carried_out == []
    assert unavailable.value.http_status == 500
    assert unavailable.value.provider_message == "An unknown error occurred"


async def test_connection_errors_and_timeouts_are_retried_with_the_same_key(payment_server):
    payment_server.script("POST", INTENTS, cut(), hanging())
    async with through(payment_server, max_retries=2, timeout_seconds=1) as payments:
        intent = await payments.create_payment_intent(
            500, payment_method="pm_card_visa", confirm=True, idempotency_key="pay-8-1"
        )
    assert intent.succeeded and intent.id.startswith("pi_")
    assert payment_server.keys("POST", INTENTS) == ["pay-8-1"] * 3
    assert payment_server.keys("POST", INTENTS, payment_server.carried_out) == ["pay-8-1"]


async def test_retries_are_bounded_and_zero_means_one_attempt(payment_server):
    payment_server.script("GET", f"{INTENTS}/pi_anything", cut(), cut())
    async with through(payment_server, max_retries=0) as payments:
        with pytest.raises(PaymentServerUnavailable):
            await payments.retrieve_payment_intent("pi_anything")
    assert payment_server.arrived == [("GET", f"{INTENTS}/pi_anything", None)]


async def test_a_decline_is_never_retried(payment_server):
    async with through(payment_server, max_retries=3) as payments:
        card = await payments.create_payment_method_card(DECLINED_CARD, 12, 2030, "123")
        with pytest.raises(CardDeclined) as declined:
            await payments.create_payment_intent(500, payment_method=card.id, confirm=True, idempotency_key="pay-9-1")
    assert payment_server.keys("POST", INTENTS) == ["pay-9-1"]
    assert declined.value.decline_code == "card_declined" and declined.value.charge_id.startswith("ch_")


async def test_a_decline_keeps_the_issuer_reason_and_the_failed_intent(payment_server):
    # localstripe only ever says card_declined; this is the answer a real Stripe account gives.
    reason = {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
    }
    failed = {**INTENT, "status": "requires_payment_method", "last_payment_error": reason}
    payment_server.script(
        "POST", INTENTS, answering({"error": {**reason, "charge": "ch_9", "payment_intent": failed}}, 402)
    )
    async with through(payment_server, max_retries=3) as payments:
        with pytest.raises(CardDeclined) as declined:
            await payments.create_payment_intent(
                500, payment_method="pm_card_visa", confirm=True, idempotency_key="pay-9-2"
            )
    assert payment_server.keys("POST", INTENTS) == ["pay-9-2"]
    error = declined.value
    assert (error.decline_code, error.error_code) == ("insufficient_funds", "card_declined")
    assert error.error_type == "card_error"
    assert error.charge_id == "ch_9" and error.message == "银行卡余额不足，请更换银行卡或充值后重试"
    assert error.payment_intent.id == "pi_made_up" and error.payment_intent.decline_code == "insufficient_funds"
    assert error.payment_intent.declined


async def test_other_4xx_are_invalid_and_not_retried(payment_server):
    async with through(payment_server, max_retries=3) as payments:
        unpaid = await payments.create_payment_intent(500, idempotency_key=key())
        with pytest.raises(PaymentRequestInvalid) as invalid:
            await payments.create_refund(unpaid.id, idempotency_key="refund-10-1")
        assert invalid.value.http_status == 400
        assert payment_server.keys("POST", "/v1/refunds") == ["refund-10-1"]

        # A real Stripe account also names the parameter at fault.
        payment_server.script(
            "POST",
            INTENTS,
            answering(
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "parameter_missing",
                        "param": "currency",
                        "message": "Missing required param: currency.",
                    }
                },
                400,
            ),
        )
        with pytest.raises(PaymentRequestInvalid) as named:
            await payments.create_payment_intent(500, idempotency_key="pay-10-2")
    assert payment_server.keys("POST", INTENTS)[-1:] == ["pay-10-2"]
    assert (named.value.http_status, named.value.error_code, named.value.param) == (
        400,
        "parameter_missing",
        "currency",
    )


async def test_rate_limit_is_unavailable_without_an_immediate_retry(payment_server):
    payment_server.script(
        "GET",
        f"{INTENTS}/pi_anything",
        answering({"error": {"type": "rate_limit_error", "message": "Too many requests"}}, 429),
    )
    async with through(payment_server, max_retries=3) as payments:
        with pytest.raises(PaymentServerUnavailable) as unavailable:
            await payments.retrieve_payment_intent("pi_anything")
    assert len(payment_server.requests) == 1 and unavailable.value.http_status == 429


@pytest.mark.parametrize(
    "answer",
    [
        garbage(b"<html>not the payment server</html>"),
        answering(["not", "an", "object"]),
        answering({"object": "payment_intent", "status": "succeeded"}),
        answering({**INTENT, "amount": "500"}),
        garbage(b"<html>404</html>", 404),
        answering({"message": "no error object"}, 400),
    ],
    ids=["html", "json-list", "missing-fields", "string-amount", "html-404", "no-error-object"],
)
async def test_garbage_answers_are_unavailable_and_not_retried(payment_server, answer):
    payment_server.script("GET", f"{INTENTS}/pi_anything", answer)
    async with through(payment_server, max_retries=3) as payments:
        with pytest.raises(PaymentServerUnavailable):
            await payments.retrieve_payment_intent("pi_anything")
    assert len(payment_server.requests) == 1


async def test_confirm_with_a_payment_method_sets_it_first_under_a_derived_key(payment_server):
    async with through(payment_server) as payments:
        made = await payments.create_payment_intent(500, idempotency_key=key())
        intent = await payments.confirm_payment_intent(made.id, payment_method="pm_card_visa", idempotency_key="c-1")
    assert intent.id == made.id and intent.succeeded and intent.payment_method == "pm_card_visa"
    update, confirm = payment_server.requests[1:]
    assert (update.method, update.path, update.key) == ("POST", f"{INTENTS}/{made.id}", "c-1:pm")
    assert update.form == [("payment_method", "pm_card_visa")]
    assert (confirm.method, confirm.path, confirm.key) == ("POST", f"{INTENTS}/{made.id}/confirm", "c-1")
    assert confirm.form == []


async def test_listing_follows_the_cursor_and_stops_on_a_repeated_page(payment_server):
    # The second page comes again for the next cursor, as from a server that forgot it and started over.
    first = {"object": "list", "data": [{**INTENT, "id": "pi_1"}], "has_more": True}
    second = {
        "object": "list",
        "data": [{**INTENT, "id": "pi_2", "metadata": {"payment_key": "other"}}],
        "has_more": True,
    }
    payment_server.script("GET", INTENTS, answering(first), answering(second), answering(second))
    async with through(payment_server) as payments:
        found = await payments.find_payment_intents(metadata={"payment_key": "k"}, page_size=1)
    assert [i.id for i in found] == ["pi_1"]
    assert [dict(r.query).get("starting_after") for r in payment_server.requests] == [None, "pi_1", "pi_2"]
    assert all(dict(r.query)["limit"] == "1" for r in payment_server.requests)
