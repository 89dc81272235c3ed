"""积分换服务 and 时间银行 through the real server: earning, redeeming, paying out, hours, statements, expiry."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

from residents import jobs, service
from residents import repository as repo
from tests.market.helpers import community
from tests.residents.helpers import open_poll, sign_up
from tests.residents.points_helpers import activity_body, earn, publish, scene, service_body


async def rows(query: str, *args) -> list[dict]:
    return await engine_finder().run_querystring(QueryString(query, *args))


async def ledger_adds_up() -> None:
    """Double entry: every unit's accounts sum to 0, and each balance equals its postings."""
    assert all(total == 0 for total in (await repo.balance_sums()).values())
    drift = await rows(
        "SELECT a.id FROM points_account a WHERE a.balance <> coalesce((SELECT sum(CASE WHEN p.to_account = a.id "
        "THEN p.amount ELSE -p.amount END) FROM points_posting p WHERE a.id IN (p.from_account, p.to_account)), 0)"
    )
    assert drift == []


async def mine(world, who: str) -> dict:
    response = await world.get(who, "/api/v1/points/me")
    assert response.status_code == 200, response.text
    return response.json()


async def test_volunteering_earns_points_once_and_elderly_care_earns_time_bank_hours(world, frozen_clock):
    s = await scene(world, frozen_clock)
    done = await earn(world, s, frozen_clock, "wang", "2.5")
    assert Decimal(done["awarded"]) == 25 and Decimal(done["hours"]) == Decimal("2.5")
    again = await world.post("street_x", f"/api/v1/points/signups/{done['id']}/confirm", json={"hours": "3"})
    assert again.status_code == 409 and again.json()["code"] == "points.signup_confirmed"
    await earn(world, s, frozen_clock, "wang", "1.75", kind="elderly_care", points_per_hour=None)
    await earn(world, s, frozen_clock, "li", "4", points_per_hour=None, fixed_points=30)
    assert (await mine(world, "wang"))["points"] == 25 and Decimal((await mine(world, "wang"))["hours"]) == Decimal(
        "1.75"
    )
    assert (await mine(world, "li"))["points"] == 30

    # The street sees who signed up (it confirms them); the district sees them masked; residents their own.
    street = (await world.get("street_x", "/api/v1/points/activities")).json()["items"]
    assert street[0]["signups"][0]["resident_phone"] in ("13700000001", "13700000002")
    district = (await world.get("district", "/api/v1/points/activities")).json()["items"]
    assert "****" in district[0]["signups"][0]["resident_phone"]
    seen = (await world.get("wang", "/api/v1/points/activities")).json()["items"]
    assert all(a["signups"] is None for a in seen) and sum(a["my_signup_id"] is not None for a in seen) == 2
    assert (await world.get("street_y", "/api/v1/points/activities")).json()["total"] == 0
    summary = (await world.get("district", f"/api/v1/points/communities/{s['cx']}/summary")).json()
    assert (summary["issued"], summary["outstanding"], Decimal(summary["hours_issued"])) == (55, 55, Decimal("1.75"))
    await ledger_adds_up()


async def test_a_household_earns_points_for_a_poll_once_however_often_it_votes(world, frozen_clock):
    s = await scene(world, frozen_clock)
    partner = await sign_up(world, "wang_partner", s["cx"], phone="13700000003", room="101")
    assert partner["household_id"] == s["wang"]["household_id"]
    poll = await open_poll(world, s, frozen_clock)
    for who, option in (("wang", 0), ("wang", 1), ("wang_partner", 2), ("li", 0)):
        cast = await world.post(
            who, f"/api/v1/polls/{poll['id']}/ballots", json={"option_id": poll["options"][option]["id"]}
        )
        assert cast.status_code == 200, cast.text
    assert (await mine(world, "wang"))["points"] == 5
    assert (await mine(world, "wang_partner"))["points"] == 0
    assert (await mine(world, "li"))["points"] == 5
    # A survey answer (the survey code calls this): once per household and survey.
    assert await service.award_participation(s["li"]["id"], "survey", 7, 10)
    assert not await service.award_participation(s["li"]["id"], "survey", 7, 10)
    assert (await mine(world, "li"))["points"] == 15
    await ledger_adds_up()


async def test_points_buy_a_service_the_operator_delivers_and_the_community_pays_once(world, frozen_clock):
    s = await scene(world, frozen_clock)
    await earn(world, s, frozen_clock, "wang", "2.5")
    offered = await publish(world, s, frozen_clock)
    assert offered["remaining"] == 5 and offered["operator_name"] == "运营商甲社区服务有限公司"
    listed = (await world.get("wang", "/api/v1/points/services")).json()
    assert [x["id"] for x in listed["items"]] == [offered["id"]]
    redeemed = await world.post("wang", f"/api/v1/points/services/{offered['id']}/redemptions")
    assert redeemed.status_code == 201, redeemed.text
    redemption = redeemed.json()
    assert redemption["state"] == "redeemed" and redemption["payout_fen"] == 200
    assert (await mine(world, "wang"))["points"] == 5

    # The operator sees what it must deliver, the resident masked; operator B sees nothing of it.
    todo = (await world.get("op_a", "/api/v1/points/redemptions", params={"state": "redeemed"})).json()["items"]
    assert [t["id"] for t in todo] == [redemption["id"]] and todo[0]["resident"] == "王* 137****0001"
    assert (await world.get("op_b", "/api/v1/points/redemptions")).json()["total"] == 0
    refused = await world.post("op_b", f"/api/v1/points/redemptions/{redemption['id']}/deliver")
    assert refused.status_code == 404 and refused.json()["code"] == "points.redemption_not_found"

    delivered = await world.post("op_a", f"/api/v1/points/redemptions/{redemption['id']}/deliver")
    assert delivered.status_code == 200 and delivered.json()["state"] == "delivered", delivered.text
    twice = await world.post("op_a", f"/api/v1/points/redemptions/{redemption['id']}/deliver")
    assert twice.status_code == 409 and twice.json()["code"] == "points.redemption_settled"
    late = await world.post("wang", f"/api/v1/points/redemptions/{redemption['id']}/cancel")
    assert late.status_code == 409 and late.json()["code"] == "points.redemption_settled"

    ledger = await world.get("street_x", f"/api/v1/communities/{s['cx']}/ledger", params={"start": "2026-11-01"})
    entries = [{k: e[k] for k in ("direction", "kind", "amount", "source")} for e in ledger.json()["items"]]
    assert entries == [
        {
            "direction": "cost",
            "kind": "service_fee",
            "amount": 200,
            "source": f"points-redemption:{redemption['id']}",
        }
    ]
    # The payout is one function, idempotent by its source, whoever calls it again.
    from market import service as market

    assert not await market.post_points_payout(s["cx"], s["operators"]["op_a"]["id"], 200, redemption["id"], "重复")
    summary = (await world.get("street_x", f"/api/v1/points/communities/{s['cx']}/summary")).json()
    assert {k: summary[k] for k in ("issued", "redeemed", "paid_out_points", "paid_out_fen", "outstanding")} == {
        "issued": 25,
        "redeemed": 20,
        "paid_out_points": 20,
        "paid_out_fen": 200,
        "outstanding": 5,
    }
    assert "balance" not in str(summary)
    await ledger_adds_up()


async def test_a_resident_cancels_before_delivery_and_gets_the_points_and_the_place_back(world, frozen_clock):
    s = await scene(world, frozen_clock)
    await earn(world, s, frozen_clock, "wang", "3")
    offered = await publish(world, s, frozen_clock, capacity=1)
    redemption = (await world.post("wang", f"/api/v1/points/services/{offered['id']}/redemptions")).json()
    full = await world.post("li", f"/api/v1/points/services/{offered['id']}/redemptions")
    assert full.status_code == 409 and full.json()["code"] == "points.service_unavailable"
    assert "service_id" in full.json()["message"]
    other = await world.post("li", f"/api/v1/points/redemptions/{redemption['id']}/cancel")
    assert other.status_code == 404 and other.json()["code"] == "points.redemption_not_found"
    cancelled = await world.post("wang", f"/api/v1/points/redemptions/{redemption['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert (await mine(world, "wang"))["points"] == 30
    assert (await world.get("wang", "/api/v1/points/services")).json()["items"][0]["remaining"] == 1
    assert (await rows("SELECT count(*) AS n FROM market_ledger_entry"))[0]["n"] == 0
    await ledger_adds_up()


async def test_twenty_simultaneous_redemptions_against_a_balance_for_one(world, frozen_clock):
    s = await scene(world, frozen_clock)
    await earn(world, s, frozen_clock, "wang", "2")  # 20 points: one redemption's worth
    offered = await publish(world, s, frozen_clock, capacity=50)
    answers = await asyncio.gather(
        *(world.post("wang", f"/api/v1/points/services/{offered['id']}/redemptions") for _ in range(20))
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [409] * 19, [r.text for r in answers]
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"points.insufficient"}
    assert (await mine(world, "wang"))["points"] == 0
    assert (await rows("SELECT count(*) AS n FROM points_redemption"))[0]["n"] == 1
    assert (await world.get("wang", "/api/v1/points/services")).json()["items"][0]["remaining"] == 49
    await ledger_adds_up()


async def test_the_database_refuses_an_overdraft_whatever_the_code_does(world, frozen_clock):
    import asyncpg
    import pytest

    from core.db import transaction

    s = await scene(world, frozen_clock)
    await earn(world, s, frozen_clock, "wang", "1")
    account = await repo.resident_account(s["wang"]["id"], "resident")
    pool = (await rows("SELECT id FROM points_account WHERE kind = 'pool'"))[0]["id"]
    with pytest.raises(asyncpg.CheckViolationError):
        async with transaction():
            await repo.post(
                from_account=account,
                to_account=pool,
                unit="points",
                amount=11,
                source_kind="test",
                source_id=1,
                key="test:overdraft",
                memo="",
                now=frozen_clock(),
            )
    with pytest.raises(asyncpg.CheckViolationError):  # a third of an hour is not a quarter-hour step
        async with transaction():
            hours = await repo.account_id("time", s["cx"], frozen_clock(), resident_id=s["wang"]["id"])
            issuer = await repo.account_id("time_pool", s["cx"], frozen_clock())
            await repo.post(
                from_account=issuer,
                to_account=hours,
                unit="hours",
                amount=Decimal("0.33"),
                source_kind="test",
                source_id=1,
                key="test:third",
                memo="",
                now=frozen_clock(),
            )
    assert (await mine(world, "wang"))["points"] == 10
    await ledger_adds_up()


async def test_time_bank_hours_are_withdrawn_as_care_and_given_to_family_in_the_city(world, frozen_clock):
    s = await scene(world, frozen_clock)
    cy = await community(world, "street_y", "彩虹社区")
    mother = await sign_up(world, "mother", cy["id"], phone="13700000009", room="501")
    await earn(world, s, frozen_clock, "wang", "3", kind="elderly_care", points_per_hour=None)

    asked = await world.post("wang", "/api/v1/time-bank/withdrawals", json={"hours": "1", "note": "需要上门助餐"})
    assert asked.status_code == 201, asked.text
    withdrawal = asked.json()
    assert Decimal((await mine(world, "wang"))["hours"]) == 3  # held until the care is given
    seen = (await world.get("street_x", "/api/v1/time-bank/withdrawals")).json()["items"]
    assert [w["id"] for w in seen] == [withdrawal["id"]] and seen[0]["resident_phone"] == "13700000001"
    assert "****" in (await world.get("district", "/api/v1/time-bank/withdrawals")).json()["items"][0]["resident_phone"]
    assert (await world.get("street_y", "/api/v1/time-bank/withdrawals")).json()["total"] == 0
    other = await world.post("street_y", f"/api/v1/time-bank/withdrawals/{withdrawal['id']}/confirm", json={})
    assert other.status_code == 404 and other.json()["code"] == "timebank.withdrawal_not_found"
    district = await world.post("district", f"/api/v1/time-bank/withdrawals/{withdrawal['id']}/confirm", json={})
    assert district.status_code == 403
    confirmed = await world.post(
        "street_x", f"/api/v1/time-bank/withdrawals/{withdrawal['id']}/confirm", json={"note": "已上门助餐"}
    )
    assert confirmed.status_code == 200 and confirmed.json()["state"] == "confirmed", confirmed.text
    twice = await world.post("street_x", f"/api/v1/time-bank/withdrawals/{withdrawal['id']}/confirm", json={})
    assert twice.status_code == 409 and twice.json()["code"] == "timebank.withdrawal_confirmed"
    assert Decimal((await mine(world, "wang"))["hours"]) == 2

    gift = {"recipient_phone": "13700000009", "hours": "1.5", "request_id": "gift-2026-12-a"}
    for _ in range(2):  # the same request twice moves the hours once
        sent = await world.post("wang", "/api/v1/time-bank/transfers", json=gift)
        assert sent.status_code == 200, sent.text
        assert Decimal(sent.json()["balance"]) == Decimal("0.5") and sent.json()["recipient"] == "137****0009"
    assert Decimal((await mine(world, "mother"))["hours"]) == Decimal("1.5")
    assert mother["community_id"] != s["cx"]
    too_much = await world.post("wang", "/api/v1/time-bank/transfers", json={**gift, "request_id": "gift-2026-12-b"})
    assert too_much.status_code == 409 and too_much.json()["code"] == "timebank.insufficient"
    statement = (
        await world.get("wang", "/api/v1/points/me/statement", params={"month": "2026-12", "unit": "hours"})
    ).json()
    assert [Decimal(line["amount"]) for line in statement["lines"]] == [Decimal(3), Decimal(-1), Decimal("-1.5")]
    assert Decimal(statement["closing"]) == Decimal("0.5")
    await ledger_adds_up()


async def test_bad_input_is_refused_with_a_code_and_the_field_named(world, frozen_clock):
    s = await scene(world, frozen_clock)
    await earn(world, s, frozen_clock, "wang", "1")
    cases = [
        ({"fixed_points": 5}, "points.activity_invalid", "points_per_hour"),
        ({"points_per_hour": None}, "points.activity_invalid", "points_per_hour"),
        ({"kind": "elderly_care"}, "points.activity_invalid", "points_per_hour"),
        (
            {"ends_at": frozen_clock().isoformat(), "starts_at": frozen_clock().isoformat()},
            "points.activity_window_invalid",
            "ends_at",
        ),
        ({"community_id": 999_999}, "resident.community_unknown", "community_id"),
        ({"points_per_hour": 0}, "request.validation_failed", "points_per_hour"),
    ]
    for overrides, code, field in cases:
        response = await world.post(
            "street_x", "/api/v1/points/activities", json=activity_body(s, frozen_clock, **overrides)
        )
        assert response.status_code == 422 and response.json()["code"] == code, (overrides, response.text)
        assert field in response.json()["message"], response.text
    elsewhere = await world.post("street_y", "/api/v1/points/activities", json=activity_body(s, frozen_clock))
    assert elsewhere.status_code == 422 and elsewhere.json()["code"] == "resident.community_unknown"
    district = await world.post("district", "/api/v1/points/activities", json=activity_body(s, frozen_clock))
    assert district.status_code == 403 and district.json()["code"] == "auth.forbidden"

    activity = (await world.post("street_x", "/api/v1/points/activities", json=activity_body(s, frozen_clock))).json()
    signup = (await world.post("li", f"/api/v1/points/activities/{activity['id']}/signups")).json()
    twice = await world.post("li", f"/api/v1/points/activities/{activity['id']}/signups")
    assert twice.status_code == 409 and twice.json()["code"] == "points.already_signed_up"
    for hours in ("1.1", "0", "25"):
        bad = await world.post("street_x", f"/api/v1/points/signups/{signup['id']}/confirm", json={"hours": hours})
        assert (
            bad.status_code == 422 and bad.json()["code"] == "points.hours_invalid" and "hours" in bad.json()["message"]
        )
    unknown = await world.post("street_x", "/api/v1/points/signups/999999/confirm", json={"hours": "1"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "points.signup_not_found"
    assert (await world.post("li", "/api/v1/points/activities/999999/signups")).json()[
        "code"
    ] == "points.activity_not_found"
    frozen_clock.advance(days=2)
    over = await world.post("wang", f"/api/v1/points/activities/{activity['id']}/signups")
    assert over.status_code == 409 and over.json()["code"] == "points.activity_over"

    no_contract = await world.post("op_b", "/api/v1/points/services", json=service_body(s, frozen_clock))
    assert no_contract.status_code == 403 and no_contract.json()["code"] == "points.no_contract"
    assert "community_id" in no_contract.json()["message"]
    window = await world.post(
        "op_a", "/api/v1/points/services", json=service_body(s, frozen_clock, closes_at=frozen_clock().isoformat())
    )
    assert window.status_code == 422 and window.json()["code"] == "points.service_window_invalid"
    assert "closes_at" in window.json()["message"]
    nowhere = await world.post(
        "op_a", "/api/v1/points/services", json=service_body(s, frozen_clock, community_id=999_999)
    )
    assert nowhere.status_code == 422 and nowhere.json()["code"] == "resident.community_unknown"
    priced = await world.post("op_a", "/api/v1/points/services", json=service_body(s, frozen_clock, price_points=0))
    assert priced.status_code == 422 and "price_points" in priced.json()["message"]

    offered = await publish(world, s, frozen_clock)
    poor = await world.post("wang", f"/api/v1/points/services/{offered['id']}/redemptions")
    assert poor.status_code == 409 and poor.json()["code"] == "points.insufficient"
    assert "service_id" in poor.json()["message"]
    missing = await world.post("wang", "/api/v1/points/services/999999/redemptions")
    assert missing.status_code == 404 and missing.json()["code"] == "points.service_not_found"
    gone = await world.post("op_a", "/api/v1/points/redemptions/999999/deliver")
    assert gone.status_code == 404 and gone.json()["code"] == "points.redemption_not_found"

    for month in ("2026-13", "2027-02"):
        bad = await world.get("wang", "/api/v1/points/me/statement", params={"month": month})
        assert (
            bad.status_code == 422 and bad.json()["code"] == "points.month_invalid" and "month" in bad.json()["message"]
        )
    for hours, code in (("0.3", "points.hours_invalid"), ("5", "timebank.insufficient")):
        bad = await world.post("wang", "/api/v1/time-bank/withdrawals", json={"hours": hours})
        assert bad.json()["code"] == code and "hours" in bad.json()["message"], bad.text
    for phone in ("13700000001", "13799999999"):
        bad = await world.post(
            "wang",
            "/api/v1/time-bank/transfers",
            json={"recipient_phone": phone, "hours": "1", "request_id": "abcdefgh"},
        )
        assert bad.status_code == 422 and bad.json()["code"] == "timebank.recipient_unknown"
        assert "recipient_phone" in bad.json()["message"]
    bad_quarter = await world.post(
        "wang",
        "/api/v1/time-bank/transfers",
        json={"recipient_phone": "13700000002", "hours": "0.1", "request_id": "abcdefgh"},
    )
    assert bad_quarter.status_code == 422 and bad_quarter.json()["code"] == "points.hours_invalid"
    assert (await world.post("street_x", "/api/v1/time-bank/withdrawals/999999/confirm", json={})).status_code == 404
    summary = await world.get("street_y", f"/api/v1/points/communities/{s['cx']}/summary")
    assert summary.status_code == 404
    await ledger_adds_up()


async def test_a_resident_login_without_a_resident_record_gets_404_on_every_points_route(world, frozen_clock):
    s = await scene(world, frozen_clock)
    offered = await publish(world, s, frozen_clock)
    for method, url, body in (
        ("GET", "/api/v1/points/me", None),
        ("GET", "/api/v1/points/me/statement?month=2026-12", None),
        ("POST", "/api/v1/points/activities/1/signups", None),
        ("POST", f"/api/v1/points/services/{offered['id']}/redemptions", None),
        ("POST", "/api/v1/points/redemptions/1/cancel", None),
        ("POST", "/api/v1/time-bank/withdrawals", {"hours": "1"}),
        (
            "POST",
            "/api/v1/time-bank/transfers",
            {"recipient_phone": "13700000001", "hours": "1", "request_id": "abcdefgh"},
        ),
    ):
        response = await world.client.request(method, url, json=body, headers=world.headers("resident"))
        assert response.status_code == 404 and response.json()["code"] == "resident.not_found", (url, response.text)


async def test_the_monthly_statement_opens_where_the_last_month_closed(world, frozen_clock):
    s = await scene(world, frozen_clock)
    await earn(world, s, frozen_clock, "wang", "3")  # 2026-12-01 (the scene took a week): 30 points
    frozen_clock.advance(days=31)  # 2027-01-01
    offered = await publish(world, s, frozen_clock)
    await world.post("wang", f"/api/v1/points/services/{offered['id']}/redemptions")
    await earn(world, s, frozen_clock, "wang", "0.5")
    november = (await world.get("wang", "/api/v1/points/me/statement", params={"month": "2026-12"})).json()
    december = (await world.get("wang", "/api/v1/points/me/statement", params={"month": "2027-01"})).json()
    assert (Decimal(november["opening"]), Decimal(november["closing"])) == (0, 30)
    assert Decimal(december["opening"]) == 30
    assert [(Decimal(x["amount"]), Decimal(x["balance"])) for x in december["lines"]] == [(-20, 10), (5, 15)]
    assert Decimal(december["closing"]) == 15 == (await mine(world, "wang"))["points"]
    assert december["lines"][0]["memo"].startswith("兑换服务")
    empty = (await world.get("li", "/api/v1/points/me/statement", params={"month": "2027-01"})).json()
    assert empty["lines"] == [] and Decimal(empty["closing"]) == 0


async def test_points_expire_first_in_first_out_once_per_month(world, frozen_clock):
    s = await scene(world, frozen_clock)
    await earn(world, s, frozen_clock, "wang", "3")  # 30 points on 2026-12-01 (the scene took a week)
    await earn(world, s, frozen_clock, "li", "1")  # 10 points
    frozen_clock.advance(days=400)  # 2028-01
    await earn(world, s, frozen_clock, "wang", "1")  # 10 more, later
    offered = await publish(world, s, frozen_clock)
    await world.post("wang", f"/api/v1/points/services/{offered['id']}/redemptions")  # 20: from the oldest
    frozen_clock.advance(days=340)  # 2028-12
    # The run for 2028-11 expires what was earned before 2026-12-01; the run for 2028-12, before 2027-01-01.
    assert await jobs.expire_points(date(2028, 11, 1)) == {"accounts": 0, "expired_points": 0}
    assert await jobs.expire_points(date(2028, 12, 1)) == {"accounts": 2, "expired_points": 20}
    assert await jobs.expire_points(date(2028, 12, 1)) == {"accounts": 0, "expired_points": 0}
    assert (await mine(world, "wang"))["points"] == 10 and (await mine(world, "li"))["points"] == 0
    summary = (await world.get("street_x", f"/api/v1/points/communities/{s['cx']}/summary")).json()
    assert (summary["expired"], summary["outstanding"]) == (20, 30)  # 10 with wang, 20 awaiting delivery
    await ledger_adds_up()


async def test_a_community_with_a_fund_pays_redeemed_points_out_of_it(world, frozen_clock):
    """社区基金 pays operators for redeemed points; a fund that cannot cover the payout refuses the delivery
    and nothing moves."""
    from tests.market.test_fund import contribute

    s = await scene(world, frozen_clock)
    opened = await world.post("street_x", f"/api/v1/communities/{s['cx']}/fund", json={"name": "江滨社区基金"})
    assert opened.status_code == 201, opened.text
    assert (await contribute(world, s["cx"], 300, "JZ-1")).status_code == 201
    await earn(world, s, frozen_clock, "wang", "5")
    offered = await publish(world, s, frozen_clock)
    first, second = [
        (await world.post("wang", f"/api/v1/points/services/{offered['id']}/redemptions")).json() for _ in range(2)
    ]

    delivered = await world.post("op_a", f"/api/v1/points/redemptions/{first['id']}/deliver")
    assert delivered.status_code == 200, delivered.text
    fund = (await world.get("street_x", f"/api/v1/communities/{s['cx']}/fund")).json()
    assert fund["balance"] == 100
    movements = (await world.get("street_x", f"/api/v1/communities/{s['cx']}/fund/movements")).json()["items"]
    assert [(m["amount"], m["source"]) for m in movements if m["source"].startswith("points-redemption")] == [
        (200, f"points-redemption:{first['id']}")
    ]

    short = await world.post("op_a", f"/api/v1/points/redemptions/{second['id']}/deliver")
    assert short.status_code == 409 and short.json()["code"] == "fund.insufficient"
    still = (await world.get("op_a", "/api/v1/points/redemptions", params={"state": "redeemed"})).json()["items"]
    assert [r["id"] for r in still] == [second["id"]]
    ledger = await world.get("street_x", f"/api/v1/communities/{s['cx']}/ledger", params={"start": "2026-11-01"})
    paid = [e["source"] for e in ledger.json()["items"] if e["source"].startswith("points-redemption")]
    assert paid == [f"points-redemption:{first['id']}"]
    await ledger_adds_up()
