"""Many people acting on one thing at the same moment leave exactly one outcome.

Every other answer is a documented 409 with a stable code and a Chinese message (or, where repeating is
harmless, the same answer again), never a 500, and nothing is half-written. The app runs on a pool of real
PostgreSQL connections, so the requests gathered here really overlap in the database.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta

import httpx
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

from core.accounts import service as accounts
from core.accounts.tables import Role
from core.payments import PaymentsClient
from leasing import repository as leasing_repo
from leasing import service as leasing
from tests.leasing.helpers import listing, payment_server_unreachable, space
from tests.leasing.test_payments import ledger, rented, signed_event
from tests.market.helpers import community, contract, listed_operators, need
from tests.providers.helpers import approve, register_operator, submitted_self_application
from tests.world import PASSWORD, login

CHINESE = re.compile(r"[\u4e00-\u9fff]")
GOOD_CARD = "pm_card_visa"
DECLINED_CARD = "pm_card_chargeCustomerFail"


async def scalar(query: str, *args) -> int:
    rows = await engine_finder().run_querystring(QueryString(query, *args))
    return next(iter(rows[0].values()))


async def audit_count(actions: tuple[str, ...], entity_id: int) -> int:
    return await scalar(
        "SELECT count(*) FROM audit_log WHERE action = ANY({}) AND entity_id = {}", list(actions), str(entity_id)
    )


def one_winner(responses: list[httpx.Response], ok: tuple[int, ...], conflicts: set[str]) -> int:
    """The index of the single successful response; every other one is a 409 with one of `conflicts`."""
    unexpected = [(r.status_code, r.text) for r in responses if r.status_code not in (*ok, 409)]
    assert not unexpected, unexpected
    winners = [i for i, r in enumerate(responses) if r.status_code in ok]
    assert len(winners) == 1, [responses[i].text for i in winners]
    for loser in responses:
        if loser.status_code == 409:
            body = loser.json()
            assert body["code"] in conflicts, body
            assert CHINESE.search(body["message"]), body
    return winners[0]


async def second_reviewer(world) -> str:
    """Another city committee reviewer, so two different officials can decide at once."""
    await accounts.create_user(
        None,
        username="city_2",
        password=PASSWORD,
        email="city_2@example.org",
        display_name="city_2",
        grants=[(Role.city, world.org_id("city"))],
    )
    world.tokens["city_2"] = (await login(world.client, "city_2")).json()["access_token"]
    return "city_2"


# Leasing: awards of one listing ------------------------------------------------------------------


async def applied_listing(world, frozen_clock, applicants: int = 4) -> tuple[dict, dict, list[dict]]:
    await listed_operators(world, frozen_clock, {f"op{i}": {"categories": ("childcare",)} for i in range(applicants)})
    room = await space(world)
    offer = await listing(world, room["id"], closes_on="2026-12-05")
    applications = []
    for i in range(applicants):
        response = await world.post(
            f"op{i}",
            f"/api/v1/space-listings/{offer['id']}/applications",
            json={
                "proposed_use": "childcare",
                "term_months": 36,
                "proposed_rent_per_m2_month": 4_500 + 100 * i,
                "plan": "普惠托育",
            },
        )
        assert response.status_code == 201, response.text
        applications.append(response.json())
    frozen_clock.advance(days=4)  # awards come after the application window closes
    return room, offer, applications


async def test_officials_awarding_one_listing_at_once_sign_exactly_one_lease(world, frozen_clock):
    room, offer, applications = await applied_listing(world, frozen_clock)
    # Several officials over the space, and the same official clicking twice, each picking someone.
    officials = ["street_x", "street_x", "district", "city"] * 4

    responses = await asyncio.gather(
        *(
            world.post(
                user,
                f"/api/v1/space-listings/{offer['id']}/award",
                json={"application_id": applications[i % 4]["id"], "reason": "综合评分第一，普惠托育"},
            )
            for i, user in enumerate(officials)
        )
    )

    won = one_winner(responses, (201,), {"listing.not_open"})
    signed, chosen = responses[won].json(), applications[won % 4]
    assert signed["lessee_id"] == chosen["operator_id"]
    leases = (await world.get("street_x", "/api/v1/leases", params={"space_id": room["id"]})).json()
    assert [item["id"] for item in leases["items"]] == [signed["id"]]
    assert (await world.get("street_x", f"/api/v1/space-listings/{offer['id']}")).json()["status"] == "awarded"
    assert (await world.get("street_x", f"/api/v1/spaces/{room['id']}")).json()["status"] == "leased"
    ranked = (await world.get("street_x", f"/api/v1/space-listings/{offer['id']}/applications")).json()
    assert {a["id"]: a["status"] for a in ranked} == {
        a["id"]: "awarded" if a["id"] == chosen["id"] else "not_awarded" for a in applications
    }

    assert await audit_count(("listing.award",), offer["id"]) == 1
    emails = await scalar("SELECT count(*) FROM outbox_email WHERE dedupe_key LIKE {}", f"lease-award:{offer['id']}:%")
    winners_told = await scalar(
        "SELECT count(*) FROM outbox_email WHERE dedupe_key LIKE {} AND subject LIKE {}",
        f"lease-award:{offer['id']}:%",
        "%：中选",
    )
    assert (emails, winners_told) == (len(applications), 1)


async def test_one_operator_applying_many_times_at_once_applies_once(world, frozen_clock):
    await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    room = await space(world)
    offer = await listing(world, room["id"])

    responses = await asyncio.gather(
        *(
            world.post(
                "tot",
                f"/api/v1/space-listings/{offer['id']}/applications",
                json={"proposed_use": "childcare", "term_months": 36, "proposed_rent_per_m2_month": 4_600 + i},
            )
            for i in range(10)
        )
    )

    won = one_winner(responses, (201,), {"lease_application.duplicate"})
    own = (await world.get("tot", f"/api/v1/space-listings/{offer['id']}/applications")).json()
    assert [(a["id"], a["proposed_rent_per_m2_month"]) for a in own] == [(responses[won].json()["id"], 4_600 + won)]
    assert await scalar("SELECT count(*) FROM audit_log WHERE action = 'lease_application.create'") == 1


async def test_awarding_and_cancelling_one_listing_at_once_leave_one_decision(world, frozen_clock):
    room, offer, applications = await applied_listing(world, frozen_clock, applicants=3)

    def act(i: int):
        user = ("street_x", "district")[i % 2]
        if i % 3 == 0:
            return world.post(user, f"/api/v1/space-listings/{offer['id']}/cancel", json={"reason": "空间另作他用"})
        return world.post(
            user,
            f"/api/v1/space-listings/{offer['id']}/award",
            json={"application_id": applications[i % 3]["id"], "reason": "综合评分第一"},
        )

    responses = await asyncio.gather(*(act(i) for i in range(12)))

    won = one_winner(responses, (200, 201), {"listing.not_open"})
    cancelled = won % 3 == 0
    after = (await world.get("street_x", f"/api/v1/space-listings/{offer['id']}")).json()
    leases = (await world.get("street_x", "/api/v1/leases", params={"space_id": room["id"]})).json()
    statuses = sorted(
        a["status"] for a in (await world.get("street_x", f"/api/v1/space-listings/{offer['id']}/applications")).json()
    )
    space_status = (await world.get("street_x", f"/api/v1/spaces/{room['id']}")).json()["status"]
    if cancelled:
        assert (after["status"], leases["total"], space_status) == ("cancelled", 0, "idle")
        assert statuses == ["not_awarded"] * 3
    else:
        assert (after["status"], leases["total"], space_status) == ("awarded", 1, "leased")
        assert leases["items"][0]["id"] == responses[won].json()["id"]
        assert statuses == ["awarded", "not_awarded", "not_awarded"]
    assert await audit_count(("listing.award",), offer["id"]) == (0 if cancelled else 1)
    assert await audit_count(("listing.cancel",), offer["id"]) == (1 if cancelled else 0)


# Leasing: payments of one invoice ----------------------------------------------------------------


async def intent_ids() -> set[str]:
    async with PaymentsClient() as client:
        return {intent.id async for intent in client.iter_payment_intents()}


async def test_paying_one_invoice_many_times_at_once_charges_and_books_it_once(world, frozen_clock, localstripe):
    signed, invoice = await rented(world, frozen_clock)
    charged_before = await intent_ids()

    responses = await asyncio.gather(
        *(
            world.post("tot", f"/api/v1/rent-invoices/{invoice['id']}/payments", json={"payment_method": GOOD_CARD})
            for _ in range(10)
        )
    )

    won = one_winner(responses, (201,), {"payment.in_progress", "invoice.not_payable"})
    paid = responses[won].json()
    assert (paid["status"], paid["amount"]) == ("succeeded", invoice["amount"])
    payments = (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}/payments")).json()
    assert [p["id"] for p in payments] == [paid["id"]]
    assert (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}")).json()["status"] == "paid"
    entries = await ledger(world, signed["community_id"])
    assert [(e["kind"], e["amount"]) for e in entries] == [("rent", invoice["amount"])]
    assert await audit_count(("invoice.pay",), invoice["id"]) == 1
    assert await audit_count(("invoice.paid",), invoice["id"]) == 1
    assert await scalar("SELECT count(*) FROM leasing_payment_customer") == 1

    # The payment server took the money once, under the key of the one payment we kept.
    async with PaymentsClient() as client:
        new = [await client.retrieve_payment_intent(i) for i in await intent_ids() - charged_before]
    key = (await leasing_repo.payments_for_invoice(invoice["id"]))[0].idempotency_key
    assert [(i.metadata.get("payment_key"), i.succeeded) for i in new] == [(key, True)]


async def test_paying_one_invoice_at_once_with_a_declined_card_first_never_deadlocks(world, frozen_clock, localstripe):
    """Settling the declined attempt and the next attempts' wait on the one-pending-payment index once took
    their locks in opposite orders; PostgreSQL broke the cycle by failing some of them with a 500. The storm
    runs on six invoices in turn, as the cycle needs the requests to meet at one moment."""
    signed, _ = await rented(world, frozen_clock)
    await leasing.generate_invoices(through=date(2027, 5, 1))
    invoices = (await world.get("tot", "/api/v1/rent-invoices", params={"lease_id": signed["id"]})).json()["items"]
    assert len(invoices) == 6

    for invoice in invoices:
        path = f"/api/v1/rent-invoices/{invoice['id']}/payments"
        responses = await asyncio.gather(
            world.post("tot", path, json={"payment_method": DECLINED_CARD}),
            *(world.post("tot", path, json={"payment_method": GOOD_CARD}) for _ in range(19)),
        )

        unexpected = [(r.status_code, r.text) for r in responses if r.status_code not in (201, 409, 422)]
        assert not unexpected, (invoice["month"], unexpected)
        assert {r.json()["code"] for r in responses if r.status_code == 422} <= {"payment.declined"}
        assert {r.json()["code"] for r in responses if r.status_code == 409} <= {
            "payment.in_progress",
            "invoice.not_payable",
        }
        succeeded = [r.json() for r in responses if r.status_code == 201]
        assert [p["status"] for p in succeeded] in ([], ["succeeded"]), succeeded
        if not succeeded:  # every good card came while the declined one was pending: paying now works
            paid = await world.post("tot", path, json={"payment_method": GOOD_CARD})
            assert paid.status_code == 201 and paid.json()["status"] == "succeeded", paid.text
        payments = (await world.get("tot", path)).json()
        assert sorted(p["status"] for p in payments) == ["failed"] * (len(payments) - 1) + ["succeeded"]
        assert (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}")).json()["status"] == "paid"
        assert await audit_count(("invoice.paid",), invoice["id"]) == 1
    entries = await ledger(world, signed["community_id"])
    assert sorted((e["kind"], e["amount"]) for e in entries) == sorted(("rent", i["amount"]) for i in invoices)


async def test_one_payment_event_delivered_many_times_at_once_settles_it_once(world, frozen_clock, localstripe):
    signed, invoice = await rented(world, frozen_clock)
    customer = await leasing._customer_for(signed["lessee_id"], signed["lessee_name"])
    # The answer is lost: the payment is recorded and stays pending ...
    with payment_server_unreachable():
        pending = await world.post(
            "tot", f"/api/v1/rent-invoices/{invoice['id']}/payments", json={"payment_method": GOOD_CARD}
        )
    assert pending.status_code == 201 and pending.json()["status"] == "pending", pending.text
    # ... while the payment server did take the money under our key.
    key = (await leasing_repo.payments_for_invoice(invoice["id"]))[0].idempotency_key
    async with PaymentsClient() as client:
        intent = await client.create_payment_intent(
            invoice["amount"],
            customer=customer,
            payment_method=GOOD_CARD,
            confirm=True,
            metadata={"payment_key": key, "invoice_id": invoice["id"]},
            idempotency_key=key,
        )
    assert intent.succeeded
    payload, signature = signed_event(f"evt_{intent.id}", intent.id)
    frozen_clock.advance(minutes=2)

    async def deliver():
        return await world.client.post(
            "/api/v1/webhooks/payments", content=payload, headers={"Stripe-Signature": signature}
        )

    # The same event replayed at once, with the nightly reconciliation running at the same moment.
    *answers, reconciled = await asyncio.gather(
        *(deliver() for _ in range(12)), leasing.reconcile_payments(older_than=timedelta(minutes=1))
    )

    assert [a.status_code for a in answers] == [200] * 12, [a.text for a in answers]
    assert sorted(a.json()["status"] for a in answers) == ["duplicate"] * 11 + ["processed"]
    assert reconciled["pending"] == 0
    payments = (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}/payments")).json()
    assert [(p["id"], p["status"]) for p in payments] == [(pending.json()["id"], "succeeded")]
    assert (await world.get("tot", f"/api/v1/rent-invoices/{invoice['id']}")).json()["status"] == "paid"
    entries = await ledger(world, signed["community_id"])
    assert [(e["kind"], e["amount"]) for e in entries] == [("rent", invoice["amount"])]
    assert await audit_count(("invoice.paid",), invoice["id"]) == 1
    assert await scalar("SELECT count(*) FROM leasing_webhook_event WHERE event_ref = {}", f"evt_{intent.id}") == 1


# Registry: decisions on one application, publication of one batch ---------------------------------

DECISION_STATES = {"approve": "approved", "reject": "rejected", "return": "returned"}


async def test_approving_rejecting_and_returning_one_application_at_once_leave_one_decision(world):
    other = await second_reviewer(world)
    operator = await register_operator(world, "并发托育有限公司", "racer")
    application_id = await submitted_self_application(world, "racer", operator["id"])
    decisions = ["approve", "reject", "return"] * 4

    responses = await asyncio.gather(
        *(
            world.post(
                ("city", other)[i % 2],
                f"/api/v1/applications/{application_id}/decision",
                json={"decision": decision, "reason": "材料已核，作出决定"},
            )
            for i, decision in enumerate(decisions)
        )
    )

    won = one_winner(responses, (200,), {"application.invalid_state"})
    state = DECISION_STATES[decisions[won]]
    assert responses[won].json()["state"] == state
    assert (await world.get("city", f"/api/v1/applications/{application_id}")).json()["state"] == state
    assert (
        await scalar(
            "SELECT count(*) FROM provider_application_event WHERE application = {} AND to_state = ANY({})",
            application_id,
            list(DECISION_STATES.values()),
        )
        == 1
    )
    assert await audit_count(tuple(f"application.{d}" for d in DECISION_STATES), application_id) == 1
    told = await scalar("SELECT count(*) FROM outbox_email WHERE subject LIKE {}", f"%编号 {application_id}）审核结果%")
    assert told == 1
    # Only a rejection frees the category for a new application.
    again = await world.post(
        "racer",
        "/api/v1/applications",
        json={
            "operator_id": operator["id"],
            "channel": "self",
            "categories": ["childcare"],
            "statement": "再次申请入库。",
        },
    )
    assert again.status_code == (201 if state == "rejected" else 409), again.text


async def test_publishing_one_batch_many_times_at_once_lists_each_operator_once(world, frozen_clock):
    other = await second_reviewer(world)
    application_ids = []
    for i in range(3):
        operator = await register_operator(world, f"并发运营{i}有限公司", f"racer{i}")
        application_ids.append(await submitted_self_application(world, f"racer{i}", operator["id"]))
        await approve(world, application_ids[-1])
    batch = (await world.post("city", "/api/v1/batches", json={"title": "2026年并发批"})).json()
    assert (
        await world.post("city", f"/api/v1/batches/{batch['id']}/entries", json={"application_ids": application_ids})
    ).status_code == 200
    assert (await world.post("city", f"/api/v1/batches/{batch['id']}/notice", json={})).status_code == 200
    frozen_clock.advance(days=8)

    responses = await asyncio.gather(
        *(world.post(("city", other)[i % 2], f"/api/v1/batches/{batch['id']}/publish") for i in range(10))
    )

    one_winner(responses, (200,), {"batch.published"})
    assert (await world.get("city", f"/api/v1/batches/{batch['id']}")).json()["state"] == "published"
    assert await scalar("SELECT count(*) FROM provider_listing WHERE batch = {}", batch["id"]) == 3
    assert await scalar("SELECT count(DISTINCT operator) FROM provider_listing WHERE batch = {}", batch["id"]) == 3
    assert await audit_count(("batch.publish",), batch["id"]) == 1
    assert (
        await scalar(
            "SELECT count(*) FROM outbox_email WHERE dedupe_key LIKE {}", f"batch-{batch['id']}-application-%-published"
        )
        == 3
    )
    listed = (await world.client.get("/api/v1/public/operators", params={"limit": 200})).json()
    assert listed["total"] == 3


# Market: signing one contract, deciding one allocation line --------------------------------------


async def test_signing_one_contract_at_once_signs_it_once(world, frozen_clock):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",), "capacity": 1}})
    target = await community(world, "street_x", "江滨社区")
    wanted = await need(world, "street_x", target["id"], "childcare")
    draft = await contract(world, "street_x", target["id"], operators["tot"]["id"], sign=False, need_ids=[wanted["id"]])

    responses = await asyncio.gather(
        *(world.post(user, f"/api/v1/contracts/{draft['id']}/sign") for user in ["street_x", "district", "city"] * 4)
    )

    won = one_winner(responses, (200,), {"contract.state_invalid"})
    assert responses[won].json()["status"] == "active"
    assert (await world.get("street_x", f"/api/v1/contracts/{draft['id']}")).json()["status"] == "active"
    assert (await world.get("street_x", f"/api/v1/needs/{wanted['id']}")).json()["status"] == "matched"
    assert await audit_count(("contract.sign",), draft["id"]) == 1


async def allocation_plan(world) -> dict:
    response = await world.post(
        "district", "/api/v1/allocation-plans", json={"district_id": world.org_id("district_a")}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_accepting_and_rejecting_one_allocation_line_at_once_leave_one_decision(world, frozen_clock):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",), "capacity": 1}})
    target = await community(world, "street_x", "江滨社区")
    wanted = await need(world, "street_x", target["id"], "childcare")
    plan = await allocation_plan(world)
    [line] = plan["lines"]
    assert line["operator_id"] == operators["tot"]["id"]
    url = f"/api/v1/allocation-plans/{plan['id']}/lines/{line['id']}"

    def act(i: int):
        user = ("district", "city")[i % 2]
        if i % 3 == 0:
            return world.post(user, f"{url}/reject", json={"reason": "另行招募"})
        return world.post(user, f"{url}/accept")

    responses = await asyncio.gather(*(act(i) for i in range(12)))

    won = one_winner(responses, (200,), {"allocation.line_decided"})
    accepted = won % 3 != 0
    decided = (await world.get("district", f"/api/v1/allocation-plans/{plan['id']}")).json()["lines"][0]
    assert decided["state"] == ("accepted" if accepted else "rejected")
    contracts = (await world.get("street_x", "/api/v1/contracts", params={"community_id": target["id"]})).json()
    assert contracts["total"] == (1 if accepted else 0)
    assert (await world.get("street_x", f"/api/v1/needs/{wanted['id']}")).json()["status"] == (
        "matched" if accepted else "open"
    )
    assert await audit_count(("allocation.accept", "allocation.reject"), line["id"]) == 1
    assert await scalar("SELECT count(*) FROM audit_log WHERE action = 'contract.create'") == (1 if accepted else 0)


async def test_lines_for_one_community_and_operator_accepted_at_once_share_one_draft(world, frozen_clock):
    operators = await listed_operators(
        world, frozen_clock, {"two": {"categories": ("childcare", "elderly"), "capacity": 4}}
    )
    target = await community(world, "street_x", "江滨社区")
    needs = [
        await need(world, "street_x", target["id"], category)
        for category in ("childcare", "elderly", "childcare", "elderly")
    ]
    plan = await allocation_plan(world)
    assert {(line["need_id"], line["operator_id"]) for line in plan["lines"]} == {
        (n["id"], operators["two"]["id"]) for n in needs
    }

    # Two officials take every line at the same moment, each clicking twice.
    responses = await asyncio.gather(
        *(
            world.post(user, f"/api/v1/allocation-plans/{plan['id']}/lines/{line['id']}/accept")
            for user in ("district", "city")
            for line in plan["lines"] * 2
        )
    )

    for line in plan["lines"]:
        of_line = [r for r in responses if f"/lines/{line['id']}/" in str(r.request.url)]
        one_winner(of_line, (200,), {"allocation.line_decided"})
    # As if accepted one after the other: one draft with both needs, holding one unit of capacity.
    contracts = (await world.get("street_x", "/api/v1/contracts", params={"community_id": target["id"]})).json()
    assert [(c["status"], sorted(c["need_ids"]), sorted(c["categories"])) for c in contracts["items"]] == [
        ("draft", sorted(n["id"] for n in needs), ["childcare", "elderly"])
    ]
    assert {r.json()["contract_id"] for r in responses if r.status_code == 200} == {contracts["items"][0]["id"]}
    assert await scalar("SELECT count(*) FROM audit_log WHERE action = 'contract.create'") == 1


async def test_signing_a_draft_while_another_line_joins_it_leaves_one_signature_and_every_need_held(
    world, frozen_clock
):
    await listed_operators(world, frozen_clock, {"two": {"categories": ("childcare", "elderly"), "capacity": 2}})
    target = await community(world, "street_x", "江滨社区")
    first_need, second_need = [await need(world, "street_x", target["id"], c) for c in ("childcare", "elderly")]
    plan = await allocation_plan(world)
    first, second = sorted(plan["lines"], key=lambda line: line["need_id"])
    url = f"/api/v1/allocation-plans/{plan['id']}/lines"
    draft_id = (await world.post("district", f"{url}/{first['id']}/accept")).json()["contract_id"]

    responses = await asyncio.gather(
        *(world.post(user, f"/api/v1/contracts/{draft_id}/sign") for user in ("district", "city") * 4),
        *(world.post(user, f"{url}/{second['id']}/accept") for user in ("city", "district") * 4),
    )

    one_winner(responses[:8], (200,), {"contract.state_invalid"})
    one_winner(responses[8:], (200,), {"allocation.line_decided"})
    contracts = (await world.get("street_x", "/api/v1/contracts", params={"community_id": target["id"]})).json()
    held = sorted((c["id"], c["status"], c["need_ids"]) for c in contracts["items"])
    if second_need["id"] in held[0][2]:  # joined the draft before it was signed
        assert held == [(draft_id, "active", [first_need["id"], second_need["id"]])]
    else:  # came after the signature: a new draft of its own
        assert held[0] == (draft_id, "active", [first_need["id"]])
        assert [(status, need_ids) for _, status, need_ids in held[1:]] == [("draft", [second_need["id"]])]
    for wanted in (first_need, second_need):
        assert (await world.get("street_x", f"/api/v1/needs/{wanted['id']}")).json()["status"] == "matched"
    assert await audit_count(("contract.sign",), draft_id) == 1


# Commits that bump data versions -----------------------------------------------------------------


async def test_commits_bumping_data_versions_in_opposite_orders_both_succeed(world):
    """Rent settled writes leasing then market rows; a community file edit bumps market and leasing at once.
    Their commits meet on the version rows (another commit holds one a moment longer), and neither fails."""
    room = await space(world)
    wanted = await need(world, "street_x", room["community_id"], "childcare")
    pool = engine_finder().pool
    for held in ("leasing", "market") * 3:
        async with pool.acquire() as other, pool.acquire() as settling, pool.acquire() as editing:
            await other.execute("BEGIN")
            await other.execute("UPDATE core_data_version SET version = version + 1 WHERE name = $1", held)
            await settling.execute("BEGIN")
            await settling.execute("UPDATE leasing_space SET floor = floor WHERE id = $1", room["id"])
            await settling.execute("UPDATE market_need SET text = text WHERE id = $1", wanted["id"])
            await editing.execute("BEGIN")
            await editing.execute(
                "UPDATE market_community SET households = households WHERE id = $1", room["community_id"]
            )
            commits = [asyncio.create_task(settling.execute("COMMIT"))]
            await asyncio.sleep(0.2)  # both commits queue behind the one in progress
            commits.append(asyncio.create_task(editing.execute("COMMIT")))
            await asyncio.sleep(0.2)
            await other.execute("COMMIT")
            assert await asyncio.gather(*commits, return_exceptions=True) == ["COMMIT", "COMMIT"]
