"""What can go wrong talking to the payment server, as domain errors with stable codes.

A caller has three different reactions, so there are three errors:

- `CardDeclined`: the server answered and refused the money. Final for this attempt; the payer needs another
  card. Mapped to 422 (the request was understood and well formed, but cannot be carried out as given; the
  payer must change what they submitted). Not 402, which HTTP reserves, and not 409, which this service uses
  for "refresh and retry" conflicts that a declined card is not.
- `PaymentServerUnavailable`: no usable answer (connection refused, timeout, 5xx, 429, 409 for a key still in
  progress, or a body that is not the Stripe dialect). For a POST the outcome is unknown, so a pending payment
  row stays pending for the reconcile job. Mapped to 503.
- `PaymentRequestInvalid`: the server understood and rejected the request (any other 4xx): a bug or a
  configuration error on our side, not the payer's, so the gateway status 502. `PaymentNotFound` is the 404
  case, which a reconcile job may want to tell apart.

Each carries what the payment server said (`http_status`, `error_type`, `error_code`, `provider_message`) for
logs and for the payment row; `detail` holds only what is safe to show in an HTTP error body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.errors import DomainError

if TYPE_CHECKING:
    from core.payments.client import PaymentIntent

# The issuer's reason, in words a payer understands. Lost or stolen cards get the generic message on purpose.
DECLINE_MESSAGES = {
    "insufficient_funds": "银行卡余额不足，请更换银行卡或充值后重试",
    "expired_card": "银行卡已过期，请更换银行卡",
    "incorrect_cvc": "银行卡安全码错误，请核对后重试",
    "incorrect_number": "银行卡号错误，请核对后重试",
    "processing_error": "发卡行处理出错，请稍后重试",
}
DEFAULT_DECLINE_MESSAGE = "银行卡被拒绝，请更换银行卡或联系发卡行"


class PaymentError(DomainError):
    """Any failure of a call to the payment server."""

    status_code = 502
    code = "payment.error"
    message = "支付服务出错"

    def __init__(
        self,
        message: str | None = None,
        *,
        http_status: int | None = None,
        error_type: str | None = None,
        error_code: str | None = None,
        provider_message: str | None = None,
        detail: Any = None,
    ) -> None:
        self.http_status = http_status
        self.error_type = error_type
        self.error_code = error_code
        self.provider_message = provider_message
        super().__init__(message, detail=detail)

    def __str__(self) -> str:
        said = ", ".join(
            f"{name}={value}"
            for name, value in (
                ("http", self.http_status),
                ("type", self.error_type),
                ("code", self.error_code),
                ("said", self.provider_message),
            )
            if value is not None
        )
        return f"{self.code}: {self.message}" + (f" ({said})" if said else "")


class CardDeclined(PaymentError):
    status_code = 422
    code = "payment.declined"
    message = DEFAULT_DECLINE_MESSAGE

    def __init__(
        self,
        *,
        decline_code: str,
        http_status: int | None = 402,
        error_type: str | None = None,
        error_code: str | None = None,
        provider_message: str | None = None,
        charge_id: str | None = None,
        payment_intent: PaymentIntent | None = None,
    ) -> None:
        # The issuer's decline_code when the server gives one, else the error code ("card_declined",
        # "expired_card", ...): always something to store on the payment row.
        self.decline_code = decline_code
        self.charge_id = charge_id
        # Stripe returns the failed PaymentIntent inside the error; localstripe does not.
        self.payment_intent = payment_intent
        super().__init__(
            DECLINE_MESSAGES.get(decline_code, DEFAULT_DECLINE_MESSAGE),
            http_status=http_status,
            error_type=error_type,
            error_code=error_code,
            provider_message=provider_message,
            detail={"decline_code": decline_code, "provider_message": provider_message},
        )


class PaymentServerUnavailable(PaymentError):
    status_code = 503
    code = "payment.unavailable"
    message = "支付服务暂时不可用，请稍后再试"

    def __init__(self, reason: str, *, http_status: int | None = None, **kwargs: Any) -> None:
        self.reason = reason
        super().__init__(http_status=http_status, detail={"reason": reason}, **kwargs)

    def __str__(self) -> str:
        return f"{super().__str__()} [{self.reason}]"


class PaymentRequestInvalid(PaymentError):
    status_code = 502
    code = "payment.request_invalid"
    message = "支付服务拒绝了本次请求"

    def __init__(self, *, param: str | None = None, **kwargs: Any) -> None:
        self.param = param
        super().__init__(
            detail={"http_status": kwargs.get("http_status"), "error_code": kwargs.get("error_code"), "param": param},
            **kwargs,
        )


class PaymentNotFound(PaymentRequestInvalid):
    code = "payment.not_found"
    message = "支付服务中不存在该记录"
