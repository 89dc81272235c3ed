"""The payments client against a real localstripe, and its own retry and header logic on a mock transport.

localstripe decides outcomes by card: pm_card_visa pays; card 4000000000000341 (pm_card_chargeCustomerFail)
is declined when charged. It ignores Idempotency-Key, so what the key does is checked on the mock transport.
"""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import parse_qsl

import httpx
import pytest

from core.payments import (
    CardDeclined,
    PaymentNotFound,
    PaymentRequestInvalid,
    PaymentsClient,
    PaymentServerUnavailable,
)
from core.payments.client import encode_form
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
            50_000, customer=customer.id, payment_method=card.id, confirm=True,
            metadata={"payment_key": payment_key}, idempotency_key=payment_key,
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
            2_000, payment_method="pm_card_chargeCustomerFail", confirm=True,
            metadata={"payment_key": payment_key}, idempotency_key=payment_key,
        )
    [intent] = await payments.find_payment_intents(metadata={"payment_key": payment_key})
    with pytest.raises(PaymentRequestInvalid) as invalid:
        await payments.create_refund(intent.id, idempotency_key=key())
    assert invalid.value.http_status == 400


async def test_find_by_metadata_reads_every_page_and_matches_all_keys(payments):
    batch = key()
    made = [
        await payments.create_payment_intent(
            100 + n, metadata={"batch": batch, "n": n}, idempotency_key=key()
        )
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


# The client's own retry and header logic, on httpx.MockTransport.

INTENT = {
    "id": "pi_mock",
    "object": "payment_intent",
    "status": "succeeded",
    "amount": 500,
    "currency": "cny",
    "customer": None,
    "payment_method": "pm_card_visa",
    "latest_charge": "ch_mock",
    "created": 1795400000,
    "metadata": {"payment_key": "k"},
    "last_payment_error": None,
}


class Script:
    """Answers requests in order from a list (the last answer repeats) and records what was sent."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self, max_retries: int = 2) -> PaymentsClient:
        return PaymentsClient(
            base_url="http://payments.test", api_key="sk_test_mock", max_retries=max_retries, backoff_seconds=0,
            transport=httpx.MockTransport(self),
        )

    def form(self, index: int = 0) -> list[tuple[str, str]]:
        return parse_qsl(self.requests[index].content.decode(), keep_blank_values=True)


def ok(body: dict = INTENT) -> httpx.Response:
    return httpx.Response(200, json=body)


def stripe_error(status: int, **error) -> httpx.Response:
    return httpx.Response(status, json={"error": error})


async def test_post_is_form_encoded_stripe_style_with_key_and_bearer():
    script = Script(ok())
    async with script.client() as payments:
        await payments.create_payment_intent(
            123_456, customer="cus_1", payment_method="pm_card_visa", confirm=True,
            metadata={"invoice_id": 42, "note": "二〇二六年十一月租金"}, description="rent", idempotency_key="pay-42-1",
        )
    [request] = script.requests
    assert (request.method, request.url.path) == ("POST", "/v1/payment_intents")
    assert request.headers["Idempotency-Key"] == "pay-42-1"
    assert request.headers["Authorization"] == "Bearer sk_test_mock"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(script.form()) == {
        "amount": "123456",
        "currency": "cny",
        "customer": "cus_1",
        "payment_method": "pm_card_visa",
        "confirm": "true",
        "metadata[invoice_id]": "42",
        "metadata[note]": "二〇二六年十一月租金",
        "description": "rent",
    }


def test_encode_form_nesting_lists_and_refusals():
    assert encode_form({"a": {"b": {"c": 1}}, "items": [{"price": "p1"}, {"price": "p2"}], "tags": ["x", "y"],
                        "flag": False, "skipped": None}) == [
        ("a[b][c]", "1"),
        ("items[0][price]", "p1"),
        ("items[1][price]", "p2"),
        ("tags[0]", "x"),
        ("tags[1]", "y"),
        ("flag", "false"),
    ]
    with pytest.raises(TypeError):
        encode_form({"amount": 12.5})


async def test_a_post_without_idempotency_key_is_refused_before_sending():
    script = Script(ok())
    async with script.client() as payments:
        with pytest.raises(ValueError):
            await payments._request("POST", "/v1/payment_intents", {"amount": 1, "currency": "cny"}, None)
    assert script.requests == []


async def test_5xx_on_a_get_is_retried_then_succeeds():
    script = Script(httpx.Response(503, text="busy"), httpx.Response(502, text="<html>bad gateway</html>"), ok())
    async with script.client(max_retries=2) as payments:
        intent = await payments.retrieve_payment_intent("pi_mock")
    assert intent.id == "pi_mock" and intent.amount == 500 and intent.metadata == {"payment_key": "k"}
    assert len(script.requests) == 3


async def test_5xx_on_a_keyed_post_is_retried_with_the_same_key_then_gives_up():
    script = Script(stripe_error(500, type="api_error", message="boom"))
    async with script.client(max_retries=3) as payments:
        with pytest.raises(PaymentServerUnavailable) as unavailable:
            await payments.create_payment_intent(500, idempotency_key="pay-7-1")
    assert len(script.requests) == 4
    assert {r.headers["Idempotency-Key"] for r in script.requests} == {"pay-7-1"}
    assert {r.content for r in script.requests} == {script.requests[0].content}
    assert unavailable.value.http_status == 500 and unavailable.value.provider_message == "boom"


async def test_connection_errors_and_timeouts_are_retried_with_the_same_key():
    script = Script(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), ok())
    async with script.client(max_retries=2) as payments:
        intent = await payments.create_payment_intent(500, idempotency_key="pay-8-1")
    assert intent.succeeded
    assert [r.headers["Idempotency-Key"] for r in script.requests] == ["pay-8-1"] * 3


async def test_retries_are_bounded_and_zero_means_one_attempt():
    script = Script(httpx.ConnectError("refused"))
    async with script.client(max_retries=0) as payments:
        with pytest.raises(PaymentServerUnavailable):
            await payments.retrieve_payment_intent("pi_mock")
    assert len(script.requests) == 1


async def test_a_decline_is_never_retried_and_keeps_the_issuer_reason():
    reason = {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
              "message": "Your card has insufficient funds."}
    failed = {**INTENT, "status": "requires_payment_method", "last_payment_error": reason}
    script = Script(stripe_error(
        402, type="card_error", code="card_declined", decline_code="insufficient_funds",
        message="Your card has insufficient funds.", charge="ch_9", payment_intent=failed,
    ))
    async with script.client(max_retries=3) as payments:
        with pytest.raises(CardDeclined) as declined:
            await payments.create_payment_intent(500, payment_method="pm_x", confirm=True, idempotency_key="pay-9-1")
    assert len(script.requests) == 1
    error = declined.value
    assert (error.decline_code, error.error_code) == ("insufficient_funds", "card_declined")
    assert error.error_type == "card_error"
    assert error.charge_id == "ch_9" and error.message == "银行卡余额不足，请更换银行卡或充值后重试"
    assert error.payment_intent.id == "pi_mock" and error.payment_intent.decline_code == "insufficient_funds"
    assert error.payment_intent.declined


async def test_other_4xx_are_invalid_and_not_retried():
    script = Script(stripe_error(400, type="invalid_request_error", code="parameter_missing", param="currency",
                                 message="Missing required param: currency."))
    async with script.client(max_retries=3) as payments:
        with pytest.raises(PaymentRequestInvalid) as invalid:
            await payments.create_payment_intent(500, idempotency_key="pay-10-1")
    assert len(script.requests) == 1
    assert (invalid.value.http_status, invalid.value.error_code, invalid.value.param) == (
        400, "parameter_missing", "currency"
    )


async def test_rate_limit_is_unavailable_without_an_immediate_retry():
    script = Script(stripe_error(429, type="rate_limit_error", message="Too many requests"))
    async with script.client(max_retries=3) as payments:
        with pytest.raises(PaymentServerUnavailable) as unavailable:
            await payments.retrieve_payment_intent("pi_mock")
    assert len(script.requests) == 1 and unavailable.value.http_status == 429


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>not the payment server</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"object": "payment_intent", "status": "succeeded"}),
        httpx.Response(200, json={**INTENT, "amount": "500"}),
        httpx.Response(404, text="<html>404</html>"),
        httpx.Response(400, json={"message": "no error object"}),
    ],
    ids=["html", "json-list", "missing-fields", "string-amount", "html-404", "no-error-object"],
)
async def test_garbage_answers_are_unavailable_and_not_retried(answer):
    script = Script(answer)
    async with script.client(max_retries=3) as payments:
        with pytest.raises(PaymentServerUnavailable):
            await payments.retrieve_payment_intent("pi_mock")
    assert len(script.requests) == 1


async def test_confirm_with_a_payment_method_sets_it_first_under_a_derived_key():
    script = Script(ok({**INTENT, "status": "requires_confirmation"}), ok())
    async with script.client() as payments:
        intent = await payments.confirm_payment_intent("pi_mock", payment_method="pm_card_visa", idempotency_key="c-1")
    assert intent.succeeded
    update, confirm = script.requests
    assert (update.url.path, update.headers["Idempotency-Key"]) == ("/v1/payment_intents/pi_mock", "c-1:pm")
    assert script.form(0) == [("payment_method", "pm_card_visa")]
    assert (confirm.url.path, confirm.headers["Idempotency-Key"]) == ("/v1/payment_intents/pi_mock/confirm", "c-1")
    assert script.form(1) == []


async def test_listing_follows_the_cursor_and_stops_on_a_repeated_page():
    first = {"object": "list", "data": [{**INTENT, "id": "pi_1"}], "has_more": True}
    second = {"object": "list", "data": [{**INTENT, "id": "pi_2", "metadata": {"payment_key": "other"}}],
              "has_more": True}
    script = Script(ok(first), ok(second), ok(second))
    async with script.client() as payments:
        found = await payments.find_payment_intents(metadata={"payment_key": "k"}, page_size=1)
    assert [i.id for i in found] == ["pi_1"]
    assert [r.url.params.get("starting_after") for r in script.requests] == [None, "pi_1", "pi_2"]
    assert all(r.url.params["limit"] == "1" for r in script.requests)
