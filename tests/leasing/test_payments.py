"""Paying rent through the real localstripe server: success, decline, lost answers, replayed webhooks."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import httpx
import pytest

from core import clock
from core.payments import PaymentsClient, webhooks
from core.settings import get_settings
from leasing import repository, service
from tests.leasing.helpers import lease, payment_server_unreachable, space
from tests.market.helpers import listed_operators

GOOD_CARD = "pm_card_visa"
DECLINED_CARD = "pm_card_chargeCustomerFail"


async def rented(world, frozen_clock) -> tuple[dict, dict]:
    """An operator, its lease since October and the open invoice for December (2026-12-01 today)."""
    operators = await listed_operators(
        world, frozen_clock, {"tot": {"categories": ("childcare",)}, "other": {"categories": ("childcare",)}}
    )
    room = await space(world)
    signed = await lease(world, room["id"], operators["tot"]["id"], starts_on="2026-12-01", monthly_rent=345_678)
    await service.generate_invoices()
    invoices = (await world.get("tot", "/api/v1/rent-invoices")).json()["items"]
    assert len(invoices) == 1
    return signed, invoices[0]


async def ledger(world, community_id: int) -> list[dict]:
    response = await world.get(
        "street_x", f"/api/v1/communities/{community_id}/ledger", params={"start": "2026-01-01", "end": "2027-12-01"}
    )
    return response.json()["items"]


def signed_event(event_id: str, intent_id: str, event_type: str = "payment_intent.succeeded") -> tuple[bytes, str]:
    payload = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "data": {"object": {"id": intent_id, "object": "payment_intent"}},
        }
    ).encode()
    return payload, webhooks.sign(payload, get_settings().stripe_webhook_secret, int(clock.now().timestamp()))


async def test_rent_paid_marks_the_invoice_and_reaches_the_ledger_once(world, frozen_clock, localstripe):
    signed, invoice = await rented(world, frozen_clock)
    assert (
        await world.post("other", f"/api/v1/rent-invoices/{invoice['id']}/payments", json={"payment_method": GOOD_CARD})
    ).status_code == 404

    paid = await world.post(
        "tot", f"/api/v1/rent-invoices/{invoice['id']}/payments", json={"payment_method": GOOD_CARD}
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "succeeded" and paid.json()["amount"] == 345_678
    assert (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}")).json()["status_label"] == "已缴"
    entries = await ledger(world, signed["community_id"])
    assert [(e["kind"], e["amount"], e["month"]) for e in entries] == [("rent", 345_678, "2026-12-01")]

    again = await world.post(
        "tot", f"/api/v1/rent-invoices/{invoice['id']}/payments", json={"payment_method": GOOD_CARD}
    )
    assert again.status_code == 409 and again.json()["code"] == "invoice.not_payable"

    # The server's own event, replayed three times, changes nothing more.
    payments = (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}/payments")).json()
    intent_ref = (await repository.payments_for_invoice(invoice["id"]))[0].intent_ref
    assert intent_ref
    payload, signature = signed_event(f"evt_{intent_ref}", intent_ref)
    answers = [
        await world.client.post("/api/v1/webhooks/payments", content=payload, headers={"Stripe-Signature": signature})
        for _ in range(3)
    ]
    assert [a.json()["status"] for a in answers] == ["processed", "duplicate", "duplicate"]
    assert len(await ledger(world, signed["community_id"])) == 1
    assert len(payments) == 1


async def test_a_declined_card_leaves_the_invoice_open_with_the_reason(world, frozen_clock, localstripe):
    _, invoice = await rented(world, frozen_clock)
    declined = await world.post(
        "tot", f"/api/v1/rent-invoices/{invoice['id']}/payments", json={"payment_method": DECLINED_CARD}
    )
    assert declined.status_code == 422 and declined.json()["code"] == "payment.declined"
    after = (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}")).json()
    assert after["status"] == "open" and after["last_decline"]
    payments = (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}/payments")).json()
    assert [p["status"] for p in payments] == ["failed"] and payments[0]["decline_code"]

    retried = await world.post(
        "tot", f"/api/v1/rent-invoices/{invoice['id']}/payments", json={"payment_method": GOOD_CARD}
    )
    assert retried.json()["status"] == "succeeded"
    assert (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}")).json()["last_decline"] == ""


async def test_a_webhook_with_a_bad_signature_changes_nothing(world, frozen_clock, localstripe):
    signed, invoice = await rented(world, frozen_clock)
    async with PaymentsClient() as client:
        intent = await client.create_payment_intent(
            invoice["amount"],
            payment_method=GOOD_CARD,
            confirm=True,
            metadata={"invoice_id": invoice["id"]},
            idempotency_key="x-1",
        )
    payload, _ = signed_event("evt_forged", intent.id)
    forged = webhooks.sign(payload, "whsec_wrong", int(clock.now().timestamp()))
    response = await world.client.post(
        "/api/v1/webhooks/payments", content=payload, headers={"Stripe-Signature": forged}
    )
    assert response.status_code == 400 and response.json()["code"] == "webhook.signature_invalid"
    unsigned = await world.client.post("/api/v1/webhooks/payments", content=payload)
    assert unsigned.status_code == 400
    assert (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}")).json()["status"] == "open"
    assert await ledger(world, signed["community_id"]) == []


@pytest.mark.parametrize("event_type", service.PAYMENT_EVENTS)
@pytest.mark.parametrize("whose", ["unknown to the payment server", "another system's", "oddly named"])
async def test_a_signed_event_for_a_payment_intent_we_do_not_know_is_acknowledged_and_ignored(
    world, frozen_clock, localstripe, caplog, event_type, whose
):
    """An error answer would have the sender deliver the event again for days."""
    signed, invoice = await rented(world, frozen_clock)
    if whose == "another system's":
        async with PaymentsClient() as client:
            intent_id = (
                await client.create_payment_intent(
                    invoice["amount"],
                    payment_method=GOOD_CARD,
                    confirm=True,
                    metadata={"order": "elsewhere-1"},
                    idempotency_key="elsewhere-1",
                )
            ).id
    else:
        intent_id = {
            "unknown to the payment server": "pi_3NoSuchIntent00000000000",
            "oddly named": "../v1/customers?x=支付",
        }[whose]
    payload, signature = signed_event("evt_not_ours_1", intent_id, event_type)
    caplog.set_level(logging.WARNING, logger="leasing.service")

    answers = [
        await world.client.post("/api/v1/webhooks/payments", content=payload, headers={"Stripe-Signature": signature})
        for _ in range(2)
    ]

    assert [(a.status_code, a.json()) for a in answers] == [
        (200, {"status": "ignored"}),
        (200, {"status": "duplicate"}),
    ]
    assert [r.getMessage() for r in caplog.records if "evt_not_ours_1" in r.getMessage()] == [
        f"payment event evt_not_ours_1 ({event_type}) ignored: payment intent {intent_id} is "
        + ("not one of our payments" if whose == "another system's" else "unknown to the payment server")
    ]
    assert (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}")).json()["status"] == "open"
    assert await repository.payments_for_invoice(invoice["id"]) == []
    assert await ledger(world, signed["community_id"]) == []


async def test_an_unreachable_payment_server_leaves_a_pending_payment_that_reconcile_settles(
    world, frozen_clock, localstripe
):
    signed, invoice = await rented(world, frozen_clock)
    await service._customer_for(signed["lessee_id"], signed["lessee_name"])
    with payment_server_unreachable():
        pending = await world.post(
            "tot", f"/api/v1/rent-invoices/{invoice['id']}/payments", json={"payment_method": GOOD_CARD}
        )
        assert pending.status_code == 201 and pending.json()["status"] == "pending"
        assert (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}")).json()["status"] == "open"
        second = await world.post(
            "tot", f"/api/v1/rent-invoices/{invoice['id']}/payments", json={"payment_method": GOOD_CARD}
        )
        assert second.status_code == 409 and second.json()["code"] == "payment.in_progress"

    # The server comes back. The call never reached it, so reconcile fails the attempt; pay again.
    frozen_clock.advance(minutes=5)
    assert await service.reconcile_payments() == {"succeeded": 0, "failed": 1, "pending": 0}
    assert (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}")).json()["status"] == "open"

    # This time the server takes the money but the answer is lost: reconcile finds it by our key.
    with payment_server_unreachable():
        lost = await world.post(
            "tot", f"/api/v1/rent-invoices/{invoice['id']}/payments", json={"payment_method": GOOD_CARD}
        )
    key = (await repository.payments_for_invoice(invoice["id"]))[-1].idempotency_key
    async with PaymentsClient() as client:
        await client.create_payment_intent(
            invoice["amount"],
            payment_method=GOOD_CARD,
            confirm=True,
            metadata={"payment_key": key, "invoice_id": invoice["id"]},
            idempotency_key=key,
        )
    assert lost.json()["status"] == "pending"
    frozen_clock.advance(minutes=5)
    assert await service.reconcile_payments(older_than=timedelta(minutes=1)) == {
        "succeeded": 1,
        "failed": 0,
        "pending": 0,
    }
    assert await service.reconcile_payments() == {"succeeded": 0, "failed": 0, "pending": 0}
    assert (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}")).json()["status"] == "paid"
    assert [e["amount"] for e in await ledger(world, signed["community_id"])] == [345_678]


THREE_D_SECURE_CARD = "4000002500003155"  # localstripe asks for authentication before charging it


@pytest.mark.parametrize("authenticated", [True, False], ids=["authenticated", "authentication failed"])
@pytest.mark.parametrize("settled_by", ["webhook", "reconcile"])
async def test_a_payment_needing_3d_secure_gives_the_client_what_it_needs_and_settles_after(
    world, frozen_clock, localstripe, authenticated, settled_by
):
    signed, invoice = await rented(world, frozen_clock)
    async with PaymentsClient() as client:
        card = await client.create_payment_method_card(THREE_D_SECURE_CARD, 12, 2030, "123")
    path = f"/api/v1/rent-invoices/{invoice['id']}/payments"

    pending = await world.post("tot", path, json={"payment_method": card.id})

    assert pending.status_code == 201, pending.text
    answer = pending.json()
    assert answer["status"] == "pending" and answer["next_action"]["type"] == "use_stripe_sdk"
    intent_ref = (await repository.payments_for_invoice(invoice["id"]))[0].intent_ref
    assert answer["client_secret"].startswith(f"{intent_ref}_secret_")
    assert (await world.get("tot", path)).json()[0]["client_secret"] is None  # handed out once, not stored

    # The client authenticates with the secret, as localstripe's Stripe.js stand-in does in a browser.
    async with httpx.AsyncClient(base_url=get_settings().stripe_api_base) as browser:
        done = await browser.post(
            f"/v1/payment_intents/{intent_ref}/_authenticate",
            params={"success": "true" if authenticated else "false"},
            json={"key": "pk_test_browser", "client_secret": answer["client_secret"]},
        )
        assert done.status_code == 200, done.text
    if settled_by == "webhook":
        payload, signature = signed_event(
            f"evt_{intent_ref}",
            intent_ref,
            "payment_intent.succeeded" if authenticated else "payment_intent.payment_failed",
        )
        assert (
            await world.client.post(
                "/api/v1/webhooks/payments", content=payload, headers={"Stripe-Signature": signature}
            )
        ).json()["status"] == "processed"
    else:
        frozen_clock.advance(minutes=5)
        await service.reconcile_payments()

    settled = (await world.get("tot", path)).json()
    now = (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}")).json()
    if authenticated:
        assert [p["status"] for p in settled] == ["succeeded"] and now["status"] == "paid"
        assert [e["amount"] for e in await ledger(world, signed["community_id"])] == [invoice["amount"]]
    else:
        assert [p["status"] for p in settled] == ["failed"] and now["status"] == "open" and now["last_decline"]
        retried = await world.post("tot", path, json={"payment_method": GOOD_CARD})
        assert retried.json()["status"] == "succeeded", retried.text
