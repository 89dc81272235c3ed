"""A small async client for a payment server speaking the Stripe REST dialect (localstripe in development).

Our own client rather than the stripe SDK: a handful of calls, on the same `httpx.AsyncClient` stack as the rest
of the service, with errors that are already domain errors (see `core.payments.errors`) and results that are small
frozen dataclasses instead of raw dicts.

The dialect: form-encoded bodies with Stripe's nested keys (`metadata[invoice_id]=42`, `items[0][price]=...`),
a Bearer secret key, JSON answers, errors as `{"error": {"type", "code", "decline_code", "message", ...}}`,
money as an integer in the currency's minor unit (fen for CNY).

Every POST carries an `Idempotency-Key` given by the caller; a real Stripe server replays the first answer for a
repeated key. That is what makes the retries here safe: connection failures, timeouts and 5xx answers are
retried (a bounded number of times, with backoff) for GETs and keyed POSTs, always with the same key; a POST
without a key is refused before it is sent. 4xx answers are never retried.

localstripe ignores `Idempotency-Key`: a POST retried after its response was lost can be carried out twice
there. Callers therefore keep their own idempotency (a pending row with a unique key written before the call,
the key also stored in the object's metadata) and settle leftovers with `find_payment_intents`, which finds
objects by metadata because localstripe can neither search nor filter lists.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypedDict
from urllib.parse import quote, urlencode

import httpx

from core.payments.errors import (
    CardDeclined,
    PaymentNotFound,
    PaymentRequestInvalid,
    PaymentServerUnavailable,
)
from core.settings import get_settings

log = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_PAGE_SIZE = 100
MAX_BACKOFF_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Customer:
    id: str
    name: str | None
    email: str | None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentMethod:
    id: str
    type: str
    card_brand: str | None
    card_last4: str | None
    card_exp_month: int | None
    card_exp_year: int | None
    customer: str | None


@dataclass(frozen=True)
class PaymentIntent:
    """A payment of `amount` (minor units: fen for CNY) and where it stands.

    `status` is Stripe's: requires_payment_method (also after a decline), requires_confirmation,
    requires_action, processing, requires_capture, canceled, succeeded. After a failed attempt,
    `last_error_code` is the error code (e.g. card_declined) and `decline_code` the issuer's reason when the
    server gives one, else the same code.
    """

    id: str
    status: str
    amount: int
    currency: str
    customer: str | None
    payment_method: str | None
    latest_charge: str | None
    created: datetime | None
    metadata: dict[str, str] = field(default_factory=dict)
    last_error_code: str | None = None
    last_error_message: str | None = None
    decline_code: str | None = None
    client_secret: str | None = None
    next_action: dict[str, Any] | None = None  # what the payer must do (3-D Secure), as the server gives it

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def declined(self) -> bool:
        """The last confirmation failed and no new payment method was confirmed since."""
        return self.status == "requires_payment_method" and self.last_error_code is not None


@dataclass(frozen=True)
class PaymentIntentPage:
    items: tuple[PaymentIntent, ...]
    has_more: bool


@dataclass(frozen=True)
class Refund:
    id: str
    status: str
    amount: int
    currency: str
    payment_intent: str | None
    charge: str | None
    metadata: dict[str, str] = field(default_factory=dict)


def encode_form(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested params the way Stripe reads them: `metadata[invoice_id]=42`, `items[0][price]=p`.

    None values are left out; booleans become true/false. Floats are refused: amounts are integer minor units.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            pairs.extend(encode_form(value, name))
        elif isinstance(value, (list, tuple)):
            pairs.extend(encode_form({str(index): item for index, item in enumerate(value)}, name))
        else:
            pairs.append((name, _form_scalar(name, value)))
    return pairs


def _form_scalar(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return str(value)
    raise TypeError(f"{name}: cannot send {type(value).__name__} to the payment server (amounts are integer fen)")


class PaymentsClient:
    """Calls to the payment server. Use as `async with PaymentsClient() as payments: ...`.

    Base URL, secret key, timeout and retry count come from the settings unless given.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_seconds: float | None = None,
        max_retries: int | None = None,
        backoff_seconds: float = 0.2,
    ) -> None:
        settings = get_settings()
        timeout = settings.stripe_timeout_seconds if timeout_seconds is None else timeout_seconds
        self.max_retries = settings.stripe_max_retries if max_retries is None else max_retries
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.backoff_seconds = backoff_seconds
        self._http = httpx.AsyncClient(
            base_url=(base_url or settings.stripe_api_base).rstrip("/"),
            headers={
                "Authorization": f"Bearer {api_key or settings.stripe_api_key}",
                "Accept": "application/json",
                "User-Agent": "future-community-market/payments",
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS)),
            follow_redirects=False,
        )

    async def __aenter__(self) -> PaymentsClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # Customers and payment methods.

    async def create_customer(
        self,
        *,
        name: str | None = None,
        email: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str,
    ) -> Customer:
        body = await self._request(
            "POST", "/v1/customers", {"name": name, "email": email, "metadata": _metadata(metadata)}, idempotency_key
        )
        return _parse(_customer, body)

    async def create_payment_method_card(
        self, number: str, exp_month: int, exp_year: int, cvc: str, *, idempotency_key: str | None = None
    ) -> PaymentMethod:
        """A card payment method from a test card number.

        For tests and demos: localstripe decides the outcome by card number (4000000000000341 is declined when
        charged). A real Stripe account refuses raw card numbers from a server.
        """
        params = {"type": "card", "card": {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc}}
        key = idempotency_key or f"pm-{uuid.uuid4()}"
        return _parse(_payment_method, await self._request("POST", "/v1/payment_methods", params, key))

    # Payment intents.

    async def create_payment_intent(
        self,
        amount_fen: int,
        currency: str = "cny",
        *,
        customer: str | None = None,
        payment_method: str | None = None,
        confirm: bool = False,
        metadata: Mapping[str, Any] | None = None,
        description: str | None = None,
        idempotency_key: str,
    ) -> PaymentIntent:
        """Create a payment intent; with `confirm` and a payment method, also try to take the money.

        A declined card raises `CardDeclined`; the intent still exists on the server (status
        requires_payment_method) and `find_payment_intents` finds it by its metadata. localstripe rejects
        `description` (400), so leave it out there.
        """
        _check_amount(amount_fen)
        params = {
            "amount": amount_fen,
            "currency": currency.lower(),
            "customer": customer,
            "payment_method": payment_method,
            "confirm": True if confirm else None,
            "metadata": _metadata(metadata),
            "description": description,
        }
        return _parse(_payment_intent, await self._request("POST", "/v1/payment_intents", params, idempotency_key))

    async def confirm_payment_intent(
        self, payment_intent_id: str, *, payment_method: str | None = None, idempotency_key: str
    ) -> PaymentIntent:
        """Confirm an intent, first setting its payment method if one is given.

        The payment method is set by an update, then the confirm is sent on its own: localstripe answers
        `confirm` with a payment_method parameter by a 500. The update is keyed `<idempotency_key>:pm`.
        """
        path = f"/v1/payment_intents/{_path_id(payment_intent_id)}"
        if payment_method is not None:
            await self._request("POST", path, {"payment_method": payment_method}, f"{idempotency_key}:pm")
        return _parse(_payment_intent, await self._request("POST", f"{path}/confirm", {}, idempotency_key))

    async def cancel_payment_intent(self, payment_intent_id: str, *, idempotency_key: str) -> PaymentIntent:
        path = f"/v1/payment_intents/{_path_id(payment_intent_id)}/cancel"
        return _parse(_payment_intent, await self._request("POST", path, {}, idempotency_key))

    async def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntent:
        body = await self._request("GET", f"/v1/payment_intents/{_path_id(payment_intent_id)}")
        return _parse(_payment_intent, body)

    async def list_payment_intents(
        self, *, limit: int = MAX_PAGE_SIZE, starting_after: str | None = None
    ) -> PaymentIntentPage:
        """One page of all payment intents. localstripe accepts no filter here (customer, created, metadata
        are all a 400) and returns the oldest first; Stripe returns the newest first."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}")
        body = await self._request("GET", "/v1/payment_intents", {"limit": limit, "starting_after": starting_after})
        return _parse(_payment_intent_page, body)

    async def iter_payment_intents(self, *, page_size: int = MAX_PAGE_SIZE) -> AsyncIterator[PaymentIntent]:
        seen: set[str] = set()
        starting_after = None
        while True:
            page = await self.list_payment_intents(limit=page_size, starting_after=starting_after)
            fresh = [intent for intent in page.items if intent.id not in seen]
            for intent in fresh:
                seen.add(intent.id)
                yield intent
            # A cursor the server no longer knows restarts the list; stop rather than loop.
            if not page.has_more or not fresh:
                return
            starting_after = page.items[-1].id

    async def find_payment_intents(
        self, *, metadata: Mapping[str, Any], customer: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> list[PaymentIntent]:
        """Every payment intent whose metadata contains all of `metadata` (and of `customer`, if given).

        For settling a payment whose answer was lost: create intents with our own key in their metadata, then
        look for that key here. The whole list is read and filtered on our side, because localstripe has no
        search endpoint and no list filters; on a real Stripe account the search API would be the faster way.
        """
        wanted = _metadata(metadata) or {}
        if not wanted:
            raise ValueError("give at least one metadata key to look for")
        found = []
        async for intent in self.iter_payment_intents(page_size=page_size):
            if customer is not None and intent.customer != customer:
                continue
            if all(intent.metadata.get(key) == value for key, value in wanted.items()):
                found.append(intent)
        return found

    # Refunds.

    async def create_refund(
        self,
        payment_intent: str,
        *,
        amount: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str,
    ) -> Refund:
        """Refund `amount` fen of a succeeded payment intent (all of it when None).

        localstripe does not track what is left to refund: it accepts refunds beyond the amount paid, and a
        refund without `amount` is always the full amount. The caller keeps the running total.
        """
        if amount is not None:
            _check_amount(amount)
        params = {"payment_intent": payment_intent, "amount": amount, "metadata": _metadata(metadata)}
        return _parse(_refund, await self._request("POST", "/v1/refunds", params, idempotency_key))

    # Transport: one request, its retries, and the mapping of answers to results or errors.

    async def _request(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        pairs = encode_form(params or {})
        headers: dict[str, str] = {}
        if method == "POST":
            if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH:
                raise ValueError(f"every POST needs an Idempotency-Key of 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
            headers["Idempotency-Key"] = idempotency_key
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            request = self._http.build_request(method, path, content=urlencode(pairs).encode(), headers=headers)
        else:
            request = self._http.build_request(method, path, params=tuple(pairs))
        # GETs change nothing, and keyed POSTs are deduplicated by the server: both may be sent again.
        repeatable = method == "GET" or bool(idempotency_key)

        attempt = 0
        while True:
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                failure = PaymentServerUnavailable(f"{type(exc).__name__}: {exc}".rstrip(": "))
                if attempt < self.max_retries and repeatable:
                    attempt += 1
                    await self._wait_before_retry(method, path, attempt, failure.reason)
                    continue
                raise failure from exc
            if response.status_code >= 500 and attempt < self.max_retries and repeatable:
                attempt += 1
                await self._wait_before_retry(method, path, attempt, f"HTTP {response.status_code}")
                continue
            return _answer(response)

    async def _wait_before_retry(self, method: str, path: str, attempt: int, reason: str) -> None:
        delay = min(self.backoff_seconds * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
        delay *= 1 + random.random() / 2
        log.warning(
            "payment server: %s %s failed (%s); retry %d of %d", method, path, reason, attempt, self.max_retries
        )
        if delay > 0:
            await asyncio.sleep(delay)


class _ProviderSaid(TypedDict):
    """What a Stripe error object says, as the payment errors take it."""

    http_status: int
    error_type: str | None
    error_code: str | None
    provider_message: str | None


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 2xx answer, or the error it means."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if status >= 500:
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        raise PaymentServerUnavailable(f"HTTP {status}", http_status=status, provider_message=message)
    if not isinstance(body, dict):
        raise PaymentServerUnavailable(f"HTTP {status} with a body that is not a JSON object", http_status=status)
    if 200 <= status < 300:
        return body
    error = body.get("error")
    if not isinstance(error, dict):
        raise PaymentServerUnavailable(f"HTTP {status} without a Stripe error object", http_status=status)
    said = _ProviderSaid(
        http_status=status,
        error_type=_text(error.get("type")),
        error_code=_text(error.get("code")),
        provider_message=_text(error.get("message")),
    )
    if status == 402:
        failed_intent = None
        if isinstance(error.get("payment_intent"), Mapping):
            try:
                failed_intent = _payment_intent(error["payment_intent"])
            except (KeyError, TypeError, ValueError):
                failed_intent = None
        decline_code = _text(error.get("decline_code")) or said["error_code"] or "card_declined"
        raise CardDeclined(
            decline_code=decline_code, charge_id=_ref(error.get("charge")), payment_intent=failed_intent, **said
        )
    if status == 429:
        raise PaymentServerUnavailable("rate limited", **said)
    if status == 409:
        # Stripe's answer to a key whose first request is still being carried out: the outcome is unknown,
        # not refused. A retry after a timeout meets it when the first request outlived the timeout.
        raise PaymentServerUnavailable("a request with the same Idempotency-Key is still in progress", **said)
    if status == 404:
        raise PaymentNotFound(param=_text(error.get("param")), **said)
    raise PaymentRequestInvalid(param=_text(error.get("param")), **said)


def _parse(build, body: dict[str, Any]):
    """Build a result from a 2xx body; a body missing what every such object has is "garbage", not a crash."""
    try:
        return build(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise PaymentServerUnavailable(f"unexpected answer: {type(exc).__name__}: {exc}") from exc


def _customer(body: Mapping[str, Any]) -> Customer:
    return Customer(id=_id(body), name=_text(body.get("name")), email=_text(body.get("email")), metadata=_meta(body))


def _payment_method(body: Mapping[str, Any]) -> PaymentMethod:
    card = body.get("card") or {}
    return PaymentMethod(
        id=_id(body),
        type=str(body["type"]),
        card_brand=_text(card.get("brand")),
        card_last4=_text(card.get("last4")),
        card_exp_month=_int_or_none(card.get("exp_month")),
        card_exp_year=_int_or_none(card.get("exp_year")),
        customer=_ref(body.get("customer")),
    )


def _payment_intent(body: Mapping[str, Any]) -> PaymentIntent:
    error = body.get("last_payment_error") or {}
    error_code = _text(error.get("code"))
    return PaymentIntent(
        id=_id(body),
        status=str(body["status"]),
        amount=_int(body["amount"]),
        currency=str(body["currency"]),
        customer=_ref(body.get("customer")),
        payment_method=_ref(body.get("payment_method")),
        latest_charge=_ref(body.get("latest_charge")),
        created=_timestamp(body.get("created")),
        metadata=_meta(body),
        last_error_code=error_code,
        last_error_message=_text(error.get("message")),
        decline_code=_text(error.get("decline_code")) or error_code,
        client_secret=_text(body.get("client_secret")),
        next_action=body["next_action"] if isinstance(body.get("next_action"), Mapping) else None,
    )


def _payment_intent_page(body: Mapping[str, Any]) -> PaymentIntentPage:
    return PaymentIntentPage(
        items=tuple(_payment_intent(item) for item in body["data"]), has_more=bool(body.get("has_more"))
    )


def _refund(body: Mapping[str, Any]) -> Refund:
    return Refund(
        id=_id(body),
        status=str(body["status"]),
        amount=_int(body["amount"]),
        currency=str(body["currency"]),
        payment_intent=_ref(body.get("payment_intent")),
        charge=_ref(body.get("charge")),
        metadata=_meta(body),
    )


def _id(body: Mapping[str, Any]) -> str:
    value = body["id"]
    if not isinstance(value, str) or not value:
        raise ValueError("id is not a string")
    return value


def _ref(value: Any) -> str | None:
    """An id, whether the server sent it bare or expanded into its object (localstripe expands latest_charge)."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer amount")
    return value


def _int_or_none(value: Any) -> int | None:
    return None if value is None else _int(value)


def _timestamp(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(_int(value), tz=UTC)


def _meta(body: Mapping[str, Any]) -> dict[str, str]:
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise ValueError("metadata is not an object")
    return {str(key): str(value) for key, value in metadata.items()}


def _metadata(metadata: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Stripe metadata values are strings; ints (ids) are accepted and sent as their decimal text."""
    if metadata is None:
        return None
    return {str(key): str(value) for key, value in metadata.items() if value is not None}


def _check_amount(amount: Any) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"amount must be a positive integer number of fen, not {amount!r}")


def _path_id(object_id: str) -> str:
    if not object_id:
        raise ValueError("empty object id")
    return quote(object_id, safe="")


__all__ = [
    "Customer",
    "PaymentIntent",
    "PaymentIntentPage",
    "PaymentMethod",
    "PaymentsClient",
    "Refund",
    "encode_form",
]
