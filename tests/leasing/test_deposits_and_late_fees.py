"""Deposits are real money: billed with the first month's rent, paid through the payment server, refunded
through it at the end of the lease or retained in part with a reason, and posted to the ledger. Late
payment on a lease with a daily rate adds interest on the rent, never on interest."""

from __future__ import annotations

import asyncio
from datetime import date

from leasing import rent, service
from scheduler import engine
from scheduler.jobs import job_named
from tests.leasing.helpers import lease, space
from tests.leasing.test_payments import GOOD_CARD, ledger
from tests.market.helpers import listed_operators


def test_late_fees_are_simple_interest_on_the_rent_principal():
    due = date(2026, 12, 10)
    assert rent.late_fee(300_000, 5, due, date(2026, 12, 10)) == 0  # not late yet
    assert rent.late_fee(300_000, 5, due, date(2026, 12, 11)) == 150  # 0.05 % of 3,000 元 for a day
    assert rent.late_fee(300_000, 5, due, date(2026, 12, 31)) == 3_150  # 21 days: recomputed, not compounded
    assert rent.late_fee(300_000, 0, due, date(2026, 12, 31)) == 0
    assert rent.late_fee(333, 3, due, date(2026, 12, 13)) == 0  # 0.2997 fen rounds down


async def invoices(world, user: str, lease_id: int) -> list[dict]:
    response = await world.get(user, "/api/v1/rent-invoices", params={"lease_id": lease_id})
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def pay(world, user: str, invoice_id: int):
    return await world.post(user, f"/api/v1/rent-invoices/{invoice_id}/payments", json={"payment_method": GOOD_CARD})


async def settle(world, lease_id: int, user: str = "street_x", **body):
    return await world.post(user, f"/api/v1/leases/{lease_id}/deposit-settlement", json=body)


async def test_the_overdue_job_charges_late_fees_on_rent_as_separate_invoices(world, frozen_clock, localstripe):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    room = await space(world)
    bad_rate = await world.post(
        "street_x",
        "/api/v1/leases",
        json={
            "space_id": room["id"],
            "lessee_id": operators["tot"]["id"],
            "use": "childcare",
            "starts_on": "2026-11-01",
            "ends_on": "2027-11-01",
            "monthly_rent": 300_000,
            "late_fee_bp_per_day": -1,
        },
    )
    assert bad_rate.status_code in (400, 422) and "late_fee_bp_per_day" in bad_rate.json()["message"]
    signed = await lease(
        world,
        room["id"],
        operators["tot"]["id"],
        starts_on="2026-11-01",
        ends_on="2027-11-01",
        monthly_rent=300_000,
        late_fee_bp_per_day=5,
    )
    assert signed["late_fee_bp_per_day"] == 5
    await service.generate_invoices()  # November, due 10 November; today is 1 December
    job = job_named("overdue_invoices")

    await engine.run_due(job)
    rows = await invoices(world, "tot", signed["id"])
    november = next(i for i in rows if i["kind"] == "rent" and i["month"] == "2026-11-01")
    fees = [i for i in rows if i["kind"] == "late_fee"]
    assert november["status"] == "overdue"
    assert [(f["charge_for"], f["amount"], f["kind_label"]) for f in fees] == [(november["id"], 3_150, "逾期违约金")]

    frozen_clock.advance(days=10)  # 11 December: November 31 days late, December one day
    await service.generate_invoices()
    await engine.run_due(job)
    rows = await invoices(world, "tot", signed["id"])
    december = next(i for i in rows if i["kind"] == "rent" and i["month"] == "2026-12-01")
    fees = {f["charge_for"]: f for f in rows if f["kind"] == "late_fee"}
    assert {k: f["amount"] for k, f in fees.items()} == {november["id"]: 4_650, december["id"]: 150}
    assert all(f["status"] == "open" for f in fees.values())  # interest never falls overdue: no interest on it

    assert (await pay(world, "tot", november["id"])).status_code == 201
    frozen_clock.advance(days=5)
    await engine.run_due(job)
    fees = {f["charge_for"]: f for f in await invoices(world, "tot", signed["id"]) if f["kind"] == "late_fee"}
    assert fees[november["id"]]["amount"] == 4_650  # stops once the rent is paid
    assert fees[december["id"]]["amount"] == 900  # six days
    paid_fee = await pay(world, "tot", fees[november["id"]]["id"])
    assert paid_fee.status_code == 201 and paid_fee.json()["amount"] == 4_650
    entries = await ledger(world, signed["community_id"])
    assert sorted(e["amount"] for e in entries if e["kind"] == "rent") == [4_650, 300_000]


async def paid_deposit_lease(world, frozen_clock, operator_id: int, address: str, community_id=None) -> tuple:
    room = await space(world, address=address, community_id=community_id)
    signed = await lease(world, room["id"], operator_id, starts_on="2026-12-01", ends_on="2027-12-01", deposit=600_000)
    await service.generate_invoices()
    rows = await invoices(world, "tot", signed["id"])
    deposit = next(i for i in rows if i["kind"] == "deposit")
    paid = await pay(world, "tot", deposit["id"])
    assert paid.status_code == 201 and paid.json()["status"] == "succeeded", paid.text
    return room, signed, deposit


async def test_a_deposit_is_billed_paid_and_refunded_or_retained_through_the_payment_server(
    world, frozen_clock, localstripe
):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    room = await space(world)
    signed = await lease(
        world, room["id"], operators["tot"]["id"], starts_on="2026-12-01", ends_on="2027-12-01", deposit=600_000
    )
    unpaid = await settle(world, signed["id"])
    assert unpaid.status_code == 409 and unpaid.json()["code"] == "deposit.lease_in_force"

    await service.generate_invoices()
    rows = await invoices(world, "tot", signed["id"])
    assert sorted((i["kind"], i["month"], i["amount"], i["due_on"]) for i in rows) == [
        ("deposit", "2026-12-01", 600_000, "2026-12-10"),
        ("rent", "2026-12-01", 300_000, "2026-12-10"),
    ]
    assert await service.generate_invoices() == 0  # billed once
    deposit = next(i for i in rows if i["kind"] == "deposit")
    assert deposit["kind_label"] == "押金"

    terminated = await world.post(
        "street_x", f"/api/v1/leases/{signed['id']}/terminate", json={"reason": "双方协商提前解除"}
    )
    assert terminated.status_code == 200, terminated.text
    not_paid = await settle(world, signed["id"])
    assert not_paid.status_code == 409 and not_paid.json()["code"] == "deposit.not_paid"
    # Paid late, after the end: the deposit is still owed back.
    assert (await pay(world, "tot", deposit["id"])).status_code == 201
    entries = await ledger(world, signed["community_id"])
    assert [(e["kind"], e["amount"]) for e in entries] == [("other_income", 600_000)]

    too_much = await settle(world, signed["id"], retained_amount=700_000, reason="损坏")
    assert too_much.status_code == 422 and too_much.json()["code"] == "deposit.amount_invalid"
    assert "retained_amount" in too_much.json()["message"]
    no_reason = await settle(world, signed["id"], retained_amount=100_000)
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "decision.reason_required"
    not_theirs = await settle(world, signed["id"], user="street_y")
    assert not_theirs.status_code == 404

    settled = await settle(world, signed["id"], retained_amount=100_000, reason="墙面损坏修复费用")
    assert settled.status_code == 201, settled.text
    body = settled.json()
    assert (body["refund_amount"], body["retained_amount"], body["status"]) == (500_000, 100_000, "refunded")
    assert body["status_label"] == "已退还" and body["reason"] == "墙面损坏修复费用"
    entries = await ledger(world, signed["community_id"])
    assert sorted((e["kind"], e["amount"]) for e in entries) == [("other_cost", 500_000), ("other_income", 600_000)]

    again = await settle(world, signed["id"])
    assert again.status_code == 409 and again.json()["code"] == "deposit.already_settled"
    audit = (await world.get("city", "/api/v1/audit", params={"action": "deposit.settle"})).json()["items"]
    assert audit[0]["reason"] == "墙面损坏修复费用" and audit[0]["after"]["refund"] == 500_000


async def test_two_refunds_of_one_deposit_at_once_pay_once(world, frozen_clock, localstripe):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    room, signed, _ = await paid_deposit_lease(world, frozen_clock, operators["tot"]["id"], "江滨路 8 号一层")
    assert (
        await world.post("street_x", f"/api/v1/leases/{signed['id']}/terminate", json={"reason": "提前解除"})
    ).status_code == 200

    answers = await asyncio.gather(settle(world, signed["id"]), settle(world, signed["id"], user="district"))
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    assert [a.json()["code"] for a in answers if a.status_code == 409] == ["deposit.already_settled"]
    entries = await ledger(world, signed["community_id"])
    assert [e["amount"] for e in entries if e["kind"] == "other_cost"] == [600_000]  # refunded once
