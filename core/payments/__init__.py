"""Payments through a Stripe-compatible server: an async client (`client`), its errors (`errors`) and the
webhook signature helpers (`webhooks`). No tables: what was paid is recorded by the domain that asked."""

from core.payments.client import Customer, PaymentIntent, PaymentIntentPage, PaymentMethod, PaymentsClient, Refund
from core.payments.errors import (
    CardDeclined,
    PaymentError,
    PaymentNotFound,
    PaymentRequestInvalid,
    PaymentServerUnavailable,
)
from core.payments.webhooks import SignatureInvalid

__all__ = [
    "CardDeclined",
    "Customer",
    "PaymentError",
    "PaymentIntent",
    "PaymentIntentPage",
    "PaymentMethod",
    "PaymentNotFound",
    "PaymentRequestInvalid",
    "PaymentServerUnavailable",
    "PaymentsClient",
    "Refund",
    "SignatureInvalid",
]
